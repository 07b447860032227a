"""Media workers holding several calls: a caller on one worker bridged with an agent dialled
from another (a link), dials placed near their peer or where there is room, one looping
hold-music player shared by the callers of a worker.

pjsua2 test phones (``tests/sipphone.py``) play a tone and record what they hear, so the
tests tell whose audio crossed (Goertzel power at each phone's frequency).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.sip.media import ops
from drivers.sip.media.pool import WorkerPool
from tests.sipphone import EventLog, Phone, free_udp_block, read_wav, tone_power

pytestmark = pytest.mark.integration
pytest.importorskip("pjsua2")

SOUNDS = Path(__file__).resolve().parents[2] / "drivers" / "sip" / "sounds"
CALLER_HZ, AGENT_HZ = 440.0, 1000.0


async def phone(*args: str) -> Phone:
    return await asyncio.to_thread(Phone, *args)


def phone_args(port: int, *extra: str) -> list[str]:
    return ["--port", str(port), "--rtp-port", str(free_udp_block(20)), *extra]


def power(path: Path, hz: float) -> float:
    samples, rate = read_wav(path)
    return tone_power(samples, rate, hz)


@pytest.fixture
async def agent_port() -> int:
    return free_udp_block(1)


@pytest.fixture
async def pool(tmp_path: Path, agent_port: int) -> AsyncIterator[WorkerPool]:
    p = WorkerPool(
        2,
        socket_dir=tmp_path / "sock",
        proxy=f"127.0.0.1:{agent_port}",
        sip_port_base=free_udp_block(2),
        rtp_port_base=free_udp_block(100),
        log_level="warning",
        max_inbound=3,
    )
    await p.start()
    yield p
    await p.stop()


async def caller_on(
    pool: WorkerPool, worker: int, log: EventLog, rec: Path, hz: float = CALLER_HZ
) -> tuple[Phone, str]:
    """A caller phone (tone ``hz``, recording to ``rec``) calls ``worker``; answered."""
    caller = await phone(
        *phone_args(free_udp_block(1)),
        "--tone",
        str(hz),
        "--record",
        str(rec),
        "--call",
        f"sip:2000@127.0.0.1:{pool.sip_port(worker)}",
    )
    leg = (await log.wait("incoming", worker=worker)).call
    assert leg is not None
    await pool.command(worker, "answer", call=leg)
    await log.wait("answered", call=leg)
    await asyncio.to_thread(caller.wait_for, "state", state="CONFIRMED")
    return caller, leg


async def test_legs_on_two_workers_are_linked_both_ways_and_the_link_goes_with_a_leg(
    pool: WorkerPool, agent_port: int, tmp_path: Path
) -> None:
    log = EventLog(pool)
    agent = await phone(
        *phone_args(agent_port), "--tone", str(AGENT_HZ), "--record", str(tmp_path / "agent.wav")
    )
    caller, leg = await caller_on(pool, 0, log, tmp_path / "caller.wav")
    try:
        # the agent's leg on the other worker (as when the caller's worker is full)
        await pool.command(1, "dial", call="agent-1", uri=f"sip:1001@127.0.0.1:{agent_port}")
        await asyncio.to_thread(agent.wait_for, "incoming")
        agent.send("answer")
        await log.wait("answered", call="agent-1")
        linked = await pool.run(ops.Bridge(leg, "agent-1"))
        assert linked["link"]
        rec = tmp_path / "recordings" / "call.wav"
        await pool.run(ops.RecordStart(leg, str(rec)))
        await asyncio.sleep(2.0)
        assert await asyncio.to_thread(agent.heard) > 5  # the caller's tone reaches the agent
        assert await asyncio.to_thread(caller.heard) > 5  # and the agent's the caller
        stats = await pool.run(ops.RecordStop(leg))
        assert stats["path"] == str(rec)
        link = (await pool.command(0, "stats", call=leg))["links"][linked["link"]]
        assert link["frames_sent"] > 50 and link["frames_received"] > 50

        # unbridge closes both sides: the agent hears nothing any more
        await pool.run(ops.Unbridge(leg, "agent-1"))
        await asyncio.sleep(0.5)
        assert await asyncio.to_thread(agent.heard) <= 1
        assert "links" not in await pool.command(1, "stats", call="agent-1")

        # linked again, then the caller hangs up: the agent's side is closed too
        await pool.run(ops.Bridge(leg, "agent-1"))
        caller.send("hangup")
        await log.wait("ended", call=leg)
        for _ in range(50):
            if "links" not in await pool.command(1, "stats", call="agent-1"):
                break
            await asyncio.sleep(0.1)
        assert "links" not in await pool.command(1, "stats", call="agent-1")
        await pool.command(1, "hangup", call="agent-1")
        await log.wait("ended", call="agent-1")
    finally:
        caller.close()
        agent.close()
    # whose audio went where: each phone heard the other's tone, not its own
    caller_wav, agent_wav = tmp_path / "caller.wav", tmp_path / "agent.wav"
    assert power(caller_wav, AGENT_HZ) > 1e5
    assert power(caller_wav, AGENT_HZ) > 100 * power(caller_wav, CALLER_HZ)
    assert power(agent_wav, CALLER_HZ) > 1e5
    assert power(agent_wav, CALLER_HZ) > 100 * power(agent_wav, AGENT_HZ)
    assert power(rec, CALLER_HZ) > 1e5 and power(rec, AGENT_HZ) > 1e5  # the whole conversation


async def test_callers_of_one_worker_share_the_hold_music_and_a_dial_goes_near_its_peer(
    pool: WorkerPool, agent_port: int, tmp_path: Path
) -> None:
    log = EventLog(pool)
    agent = await phone(*phone_args(agent_port), "--auto-answer", "--tone", str(AGENT_HZ))
    callers: list[Phone] = []
    try:
        legs = []
        for n in range(3):
            caller, leg = await caller_on(pool, 0, log, tmp_path / f"c{n}.wav", 300.0 + 100 * n)
            callers.append(caller)
            legs.append(leg)
            await pool.run(ops.Play(leg, str(SOUNDS / "hold.wav"), loop=True))
        # a fourth caller is refused by worker 0: three inbound calls is its limit
        extra = await phone(
            *phone_args(free_udp_block(1)), "--call", f"sip:2000@127.0.0.1:{pool.sip_port(0)}"
        )
        try:
            ended = await asyncio.to_thread(extra.wait_for, "ended", timeout=10)
            assert ended["code"] == 486
        finally:
            extra.close()
        await asyncio.sleep(1.5)
        for caller in callers:
            assert await asyncio.to_thread(caller.heard) > 5  # each hears the music
        # the agent for the first caller is dialled on the caller's own worker
        await pool.run(ops.Dial("agent-1", f"sip:1001@127.0.0.1:{agent_port}"), near=0)
        assert pool.worker_of("agent-1") == 0
        await log.wait("answered", call="agent-1")
        await pool.run(ops.StopPlay(legs[0]))
        assert (await pool.run(ops.Bridge(legs[0], "agent-1"))) == {}  # local: no link
        await asyncio.sleep(1.0)
        assert await asyncio.to_thread(callers[0].heard) > 5  # now the agent's tone
        for caller in callers[1:]:  # the others still hear the shared player
            assert await asyncio.to_thread(caller.heard) > 5
        # worker 0 is full now (4 legs): the next dial near it goes to worker 1
        await pool.run(ops.Dial("agent-2", f"sip:1002@127.0.0.1:{agent_port}"), near=0)
        # (the agent's phone is busy: that leg soon ends with 486, on worker 1)
        await log.wait("ended", call="agent-2", worker=1)
        await pool.run(ops.Hangup("agent-1"))
        await log.wait("ended", call="agent-1")
        for caller in callers:
            caller.send("hangup")
        for leg in legs:
            if "ended" not in log.names(leg):  # (one may have come while waiting for another)
                await log.wait("ended", call=leg)
    finally:
        for caller in callers:
            caller.close()
        agent.close()
    # the first caller heard the hold arpeggio (523 Hz), then the agent
    first = tmp_path / "c0.wav"
    assert power(first, 523.25) > 1e4 and power(first, AGENT_HZ) > 1e5


async def test_a_worker_dying_ends_its_own_legs_and_closes_the_other_ends_of_their_links(
    pool: WorkerPool, agent_port: int, tmp_path: Path
) -> None:
    log = EventLog(pool)
    agent = await phone(*phone_args(agent_port), "--auto-answer", "--tone", str(AGENT_HZ))
    caller, leg = await caller_on(pool, 0, log, tmp_path / "caller.wav")
    try:
        await pool.run(ops.Dial("agent-1", f"sip:1001@127.0.0.1:{agent_port}"), near=1)
        assert pool.worker_of("agent-1") == 1
        await log.wait("answered", call="agent-1")
        await pool.run(ops.Bridge(leg, "agent-1"))
        assert "links" in await pool.command(0, "stats", call=leg)
        pid = pool.health()[1]["pid"]
        os.kill(pid, signal.SIGKILL)
        ended = await log.wait("ended", call="agent-1")
        assert ended.args["reason"] == "worker_died"
        for _ in range(50):  # the pool closes the caller's end of the link
            if "links" not in await pool.command(0, "stats", call=leg):
                break
            await asyncio.sleep(0.1)
        stats = await pool.command(0, "stats", call=leg)
        assert "links" not in stats and stats["answered"]  # the caller's leg lives on
        await asyncio.sleep(0.5)
        assert (await asyncio.to_thread(caller.stats))["active"]
        await pool.command(0, "hangup", call=leg)
        await log.wait("ended", call=leg)
    finally:
        caller.close()
        agent.close()
