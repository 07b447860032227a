"""The edge faces the network: strangers are refused, malformed SIP is dropped or
answered 400, floods are cut by pike while trunks (trusted by ip:port) still get in."""

from __future__ import annotations

import asyncio
import secrets
import socket
import time

import pytest

from drivers.sip.edge.probe import sip_options
from tests.integration.kamailio_harness import (
    Edge,
    describe,
    free_ports,
    needs_kamailio_and_sipp,
    running_edge,
)

pytestmark = [pytest.mark.integration, needs_kamailio_and_sipp]


def request(
    edge: Edge, method: str, *, cseq_method: str | None = None, via: str | None = None
) -> bytes:
    tag = secrets.token_hex(4)
    host = edge.target
    via = via or f"SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{secrets.token_hex(6)};rport"
    return (
        f"{method} sip:{host} SIP/2.0\r\n"
        f"Via: {via}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@127.0.0.1>;tag={tag}\r\n"
        f"To: <sip:{host}>\r\n"
        f"Call-ID: {secrets.token_hex(10)}\r\n"
        f"CSeq: 7 {cseq_method or method}\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def exchange(edge: Edge, payload: bytes, wait: float = 0.5) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(wait)
        s.sendto(payload, (edge.sip.host, edge.sip.port))
        try:
            return s.recv(65535)
        except TimeoutError:
            return None


async def test_an_invite_from_an_unknown_source_is_refused_with_403() -> None:
    async with running_edge(workers=1) as edge:
        stranger = await edge.sipp(
            "uac_refused_403", free_ports(1), remote=edge.target, service="+85523900100"
        )
        assert await stranger.wait() == 0, describe(stranger)


async def test_malformed_sip_is_dropped_or_answered_400_and_kamailio_survives() -> None:
    async with running_edge(workers=1) as edge:
        garbage = await asyncio.to_thread(exchange, edge, b"\x00\xff\x13 not SIP at all \r\n\r\n")
        assert garbage is None
        bad_via = await asyncio.to_thread(
            exchange, edge, request(edge, "OPTIONS", via="SIP/2.0/UDP @@@;;;branch")
        )
        assert bad_via is None or bad_via.startswith(b"SIP/2.0 400")
        mismatch = await asyncio.to_thread(
            exchange, edge, request(edge, "INVITE", cseq_method="BYE")
        )
        assert mismatch is not None and mismatch.startswith(b"SIP/2.0 400"), mismatch
        truncated = await asyncio.to_thread(exchange, edge, request(edge, "OPTIONS")[:60])
        assert truncated is None or truncated.startswith(b"SIP/2.0 400")
        # still alive and answering, never restarted
        assert await sip_options(edge.sip.host, edge.sip.port) == 200
        assert edge.sup.running and edge.sup.restarts == 0


async def test_a_flood_from_one_source_is_blocked_while_the_trunk_still_gets_through() -> None:
    async with running_edge(workers=1) as edge:
        flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        flood.bind(("127.0.0.1", 0))
        flood.setblocking(False)
        sent = answered = 0
        stop = time.monotonic() + 2.5

        async def blast() -> None:
            nonlocal sent, answered
            while time.monotonic() < stop:
                for _ in range(25):
                    flood.sendto(request(edge, "OPTIONS"), (edge.sip.host, edge.sip.port))
                    sent += 1
                await asyncio.sleep(0.01)
                while True:
                    try:
                        flood.recv(65535)
                    except BlockingIOError:
                        break
                    answered += 1

        flooding = asyncio.create_task(blast())
        await asyncio.sleep(0.5)  # pike has seen the burst by now
        worker = await edge.sipp("uas_answer", edge.worker_ports[0])
        caller = await edge.sipp(
            "uac_call", edge.trunk_port, remote=edge.target, service="+85523900100"
        )
        assert await caller.wait() == 0, describe(caller, worker)
        assert await worker.wait() == 0, describe(caller, worker)
        await flooding
        flood.close()
        assert sent > 1000
        assert answered < sent / 4, (answered, sent)
        assert edge.sup.running
