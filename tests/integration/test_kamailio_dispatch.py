"""Calls through the Kamailio edge: trunk and agent calls to media workers (sipp UASs
standing in for them), failover, all lines busy, worker calls to agents and trunks."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import pytest

from tests.integration.kamailio_harness import (
    Edge,
    SippRun,
    describe,
    free_ports,
    needs_kamailio_and_sipp,
    running_edge,
)

pytestmark = [pytest.mark.integration, needs_kamailio_and_sipp]

DID = "+85523900100"


async def trunk_call(edge: Edge, scenario: str = "uac_call", calls: int = 1) -> SippRun:
    return await edge.sipp(scenario, edge.trunk_port, remote=edge.target, service=DID, calls=calls)


def logged(run: SippRun, key: str) -> list[str]:
    return [
        part.split("=", 1)[1]
        for line in run.log().splitlines()
        for part in line.split(" ")
        if part.startswith(key + "=")
    ]


async def test_trunk_call_reaches_a_worker_with_the_trunk_origin_header() -> None:
    async with running_edge(workers=1) as edge:
        worker = await edge.sipp("uas_answer", edge.worker_ports[0])
        caller = await trunk_call(edge)
        assert await caller.wait() == 0, describe(caller, worker)
        assert await worker.wait() == 0, describe(caller, worker)
        # the caller's spoofed "X-Switch-Origin: agent;user=spoofed" was dropped
        assert logged(worker, "origin") == ["trunk;id=p1"]
        assert logged(worker, "ruri")[0].startswith(f"sip:{DID}@127.0.0.1")


async def test_a_busy_worker_fails_over_to_the_next_one() -> None:
    async with running_edge(workers=2) as edge:
        busy = await edge.sipp("uas_reject_486", edge.worker_ports[0])
        free = await edge.sipp("uas_answer", edge.worker_ports[1], calls=2)
        # Round robin starts the two calls on different workers: one of them meets the
        # busy worker first and must fail over.
        for _ in range(2):
            caller = await trunk_call(edge)
            assert await caller.wait() == 0, describe(caller, busy, free)
        assert await busy.wait() == 0, describe(busy)
        assert await free.wait() == 0, describe(free)
        assert logged(busy, "origin") == ["trunk;id=p1"]
        assert logged(free, "origin") == ["trunk;id=p1", "trunk;id=p1"]


async def test_all_workers_busy_gives_the_caller_503_at_once() -> None:
    async with running_edge(workers=2) as edge:
        busy = [
            await edge.sipp("uas_reject_486", edge.worker_ports[0]),
            await edge.sipp("uas_reject_503", edge.worker_ports[1]),
        ]
        started = time.monotonic()
        caller = await trunk_call(edge, "uac_refused_503")
        assert await caller.wait() == 0, describe(caller, *busy)
        assert time.monotonic() - started < 1.5
        assert "All lines busy" in caller.messages()
        for run in busy:
            assert await run.wait() == 0, describe(run)


async def test_a_dead_worker_is_skipped_after_2s_and_marked_inactive() -> None:
    async with running_edge(workers=2) as edge:
        # worker 0 is not running at all: no 100 Trying within 2 s
        alive = await edge.sipp("uas_answer", edge.worker_ports[1], calls=2)
        started = time.monotonic()
        for _ in range(2):
            caller = await trunk_call(edge)
            assert await caller.wait() == 0, describe(caller, alive)
        elapsed = time.monotonic() - started
        assert await alive.wait() == 0, describe(alive)
        assert elapsed < 4.5  # at most one 2 s wait: the dead worker is then skipped
        state = {d["uri"]: d for d in await edge.sup.dispatcher_state()}
        assert not state[f"sip:127.0.0.1:{edge.worker_ports[0]}"]["active"]
        assert state[f"sip:127.0.0.1:{edge.worker_ports[1]}"]["active"]


async def test_no_worker_at_all_gives_503_not_a_hang() -> None:
    async with running_edge(workers=1) as edge:
        started = time.monotonic()
        caller = await trunk_call(edge, "uac_refused_503")
        assert await caller.wait() == 0, describe(caller)
        assert time.monotonic() - started < 3.5


async def test_agent_phone_call_is_authenticated_and_reaches_a_worker() -> None:
    async with running_edge(workers=1) as edge:
        worker = await edge.sipp("uas_answer", edge.worker_ports[0])
        phone = await edge.sipp(
            "agent_uac_call",
            free_ports(1),
            remote=edge.target,
            service="012345678",
            auth=("1001", "s3cret-1001"),
            keys={"agent": "1001"},
        )
        assert await phone.wait() == 0, describe(phone, worker)
        assert await worker.wait() == 0, describe(phone, worker)
        assert logged(worker, "origin") == ["agent;user=1001"]
        assert "Proxy-Authorization" not in worker.messages()  # consumed at the edge


async def test_agent_phone_with_a_wrong_password_cannot_call() -> None:
    async with running_edge(workers=1) as edge:
        phone = await edge.sipp(
            "agent_uac_call",
            free_ports(1),
            remote=edge.target,
            service="012345678",
            auth=("1001", "wrong"),
            keys={"agent": "1001"},
            timeout=3,
        )
        assert await phone.wait() != 0
        assert "403 Forbidden" in phone.messages()


async def test_worker_call_to_a_registered_agent_reaches_the_phone_without_switch_headers() -> None:
    async with running_edge(workers=1) as edge:
        phone_port = free_ports(1)
        reg = await edge.register("1001", "s3cret-1001", phone_port)
        assert await reg.wait() == 0, describe(reg)
        phone = await edge.sipp("uas_answer", phone_port)
        worker = await edge.sipp(
            "uac_call", edge.worker_ports[0], remote=edge.target, service="1001"
        )
        assert await worker.wait() == 0, describe(worker, phone)
        assert await phone.wait() == 0, describe(worker, phone)
        assert logged(phone, "origin") == ["none"]  # X-Switch-* never leave the switch
        assert logged(phone, "ruri") == [f"sip:1001@127.0.0.1:{phone_port}"]


async def test_worker_call_to_an_unregistered_agent_is_480_and_to_a_stranger_404() -> None:
    async with running_edge(workers=1) as edge:
        offline = await edge.sipp(
            "uac_refused_480", edge.worker_ports[0], remote=edge.target, service="1001"
        )
        assert await offline.wait() == 0, describe(offline)
        stranger = await edge.sipp(
            "uac_refused_404", edge.worker_ports[0], remote=edge.target, service="4242"
        )
        assert await stranger.wait() == 0, describe(stranger)


async def test_worker_call_to_a_trunk_is_relayed_as_given() -> None:
    async with running_edge(workers=1) as edge:
        provider = await edge.sipp("uas_answer", edge.trunk_port)
        worker = await edge.sipp(
            "uac_call",
            edge.worker_ports[0],
            remote=f"127.0.0.1:{edge.trunk_port}",
            service="+85512345678",
            extra=["-rsa", edge.target],
        )
        assert await worker.wait() == 0, describe(worker, provider)
        assert await provider.wait() == 0, describe(worker, provider)
        assert logged(provider, "origin") == ["none"]
        assert logged(provider, "ruri") == [f"sip:+85512345678@127.0.0.1:{edge.trunk_port}"]
        # the provider saw the edge, not the worker
        assert f"Record-Route: <sip:{edge.target};lr>" in provider.messages()


async def test_calls_run_concurrently_one_per_worker() -> None:
    async with running_edge(workers=3) as edge:
        workers = [
            await edge.sipp("uas_answer", port, calls=24, timeout=30) for port in edge.worker_ports
        ]
        caller = await edge.sipp(
            "uac_call",
            edge.trunk_port,
            remote=edge.target,
            service=DID,
            calls=24,
            extra=["-r", "20", "-l", "3"],
        )
        assert await caller.wait(timeout=30) == 0, describe(caller, *workers)
        for w in workers:
            await w.stop()
        # every worker had calls: call-load dispatching spread them over the free ones
        answered = [answered_by(w) for w in workers]
        assert sum(answered) == 24 and all(answered), answered


async def test_a_worker_in_a_call_gets_no_second_one_and_all_busy_is_503() -> None:
    async with running_edge(workers=2) as edge:
        workers = [
            await edge.sipp("uas_answer", port, calls=5, timeout=30) for port in edge.worker_ports
        ]
        # three 3 s calls, 0.1 s apart: two take the two workers, the third finds none
        calls = await edge.sipp(
            "uac_call_long",
            edge.trunk_port,
            remote=edge.target,
            service=DID,
            calls=3,
            extra=["-r", "10", "-l", "3"],
        )
        assert await calls.wait(timeout=30) == 1, describe(calls, *workers)  # 1 call failed
        for w in workers:
            await w.stop()
        assert "SIP/2.0 503 All lines busy" in calls.messages(), describe(calls)
        # no worker was offered a second call while it had one (the UAS would have
        # answered it): each took exactly one
        assert sorted(answered_by(w) for w in workers) == [1, 1]


def answered_by(uas: SippRun) -> int:
    """INVITEs a uas_answer sipp took (it logs one "origin=" line per INVITE)."""
    return uas.log().count("origin=")


class _OptionsResponder(asyncio.DatagramProtocol):
    """A media worker as the dispatcher's probe sees it: 200 to every OPTIONS."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.pings = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        text = data.decode("latin-1")
        if not text.startswith("OPTIONS ") or self.transport is None:
            return
        self.pings += 1
        head = text.split("\r\n\r\n", 1)[0].split("\r\n")
        keep = [h for h in head[1:] if h.split(":", 1)[0].lower() in _ECHOED]
        to = [h + ";tag=w" if h.lower().startswith("to:") else h for h in keep]
        reply = "SIP/2.0 200 OK\r\n" + "\r\n".join(to) + "\r\nContent-Length: 0\r\n\r\n"
        self.transport.sendto(reply.encode(), addr)


_ECHOED = {"via", "from", "to", "call-id", "cseq"}


async def test_workers_are_probed_and_a_revived_worker_is_used_again() -> None:
    async with running_edge(workers=2, ping_interval=1) as edge:
        loop = asyncio.get_running_loop()
        responders = []
        for port in edge.worker_ports:
            _, proto = await loop.create_datagram_endpoint(
                _OptionsResponder, local_addr=("127.0.0.1", port)
            )
            responders.append(proto)
        await asyncio.sleep(1.5)
        assert all(r.pings >= 1 for r in responders)
        assert all(d["active"] for d in await edge.sup.dispatcher_state())
        # worker 0 goes silent: after two failed probes it is inactive
        assert responders[0].transport is not None
        responders[0].transport.close()
        for _ in range(50):
            await asyncio.sleep(0.2)
            state = {d["uri"]: d["active"] for d in await edge.sup.dispatcher_state()}
            if not state[f"sip:127.0.0.1:{edge.worker_ports[0]}"]:
                break
        assert state == {
            f"sip:127.0.0.1:{edge.worker_ports[0]}": False,
            f"sip:127.0.0.1:{edge.worker_ports[1]}": True,
        }
        # and answering again brings it back
        await loop.create_datagram_endpoint(
            _OptionsResponder, local_addr=("127.0.0.1", edge.worker_ports[0])
        )
        for _ in range(50):
            await asyncio.sleep(0.2)
            if all(d["active"] for d in await edge.sup.dispatcher_state()):
                break
        assert all(d["active"] for d in await edge.sup.dispatcher_state())
        for r in responders[1:]:
            assert r.transport is not None
            r.transport.close()


async def test_a_caller_hanging_up_while_it_rings_cancels_the_workers_leg() -> None:
    async with running_edge(workers=1) as edge:
        worker = await edge.sipp("uas_ring_cancelled", edge.worker_ports[0])
        caller = await trunk_call(edge, "uac_cancel")
        assert await caller.wait() == 0, describe(caller, worker)
        assert await worker.wait() == 0, describe(caller, worker)
