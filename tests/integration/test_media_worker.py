"""Media workers, inbound side: a sipp "trunk" calls a real pjsua2 worker directly.

No edge here: sipp sends its INVITE straight to the worker's UDP port, as Kamailio would.
The test plays the core: it reads the pool's events and sends commands.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from base.errors import Rejected
from drivers.sip.media.pool import WorkerPool
from tests.sipphone import EventLog, free_udp_block, sipp_result, start_sipp

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp (sip-tester) not installed"),
]
pytest.importorskip("pjsua2")


async def make_pool(tmp_path: Path, size: int = 1, answer_timeout: float = 10.0) -> WorkerPool:
    sip_base = free_udp_block(size)
    rtp_base = free_udp_block(50 * size)
    pool = WorkerPool(
        size,
        socket_dir=tmp_path / "sock",
        proxy=f"127.0.0.1:{free_udp_block(1)}",
        sip_port_base=sip_base,
        rtp_port_base=rtp_base,
        log_level="warning",
        answer_timeout=answer_timeout,
    )
    await pool.start()
    return pool


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[WorkerPool]:
    p = await make_pool(tmp_path)
    yield p
    await p.stop()


def target(pool: WorkerPool, worker: int = 0) -> str:
    return f"127.0.0.1:{pool.sip_port(worker)}"


async def test_inbound_call_is_announced_answered_reports_rfc4733_dtmf_and_hangs_up(
    pool: WorkerPool,
) -> None:
    log = EventLog(pool)
    await log.wait("hello", worker=0)
    sipp = await start_sipp("worker_uac_dtmf.xml", target(pool))

    incoming = await log.wait("incoming")
    leg = incoming.call
    assert leg is not None and leg.startswith("w0-")
    assert incoming.args["headers"] == {"X-Switch-Origin": "trunk;id=provider1"}
    assert incoming.args["from_user"] == "+85512345678"
    assert incoming.args["ruri"] == f"sip:2000@{target(pool)}"
    assert incoming.args["call_id"]
    assert "tag=" in incoming.args["from"]
    assert pool.worker_of(leg) == 0
    assert pool.free_worker() is None  # its only worker has a conversation now

    assert await pool.command(0, "answer", call=leg) == {}
    await log.wait("answered", call=leg)
    dtmf = await log.wait("dtmf", call=leg)
    assert (dtmf.args["digit"], dtmf.args["method"]) == ("1", "rfc4733")

    await asyncio.sleep(1.0)  # g711a.pcap is flowing now
    stats = await pool.command(0, "stats", call=leg)
    assert stats["rx_packets"] > 20 and stats["tx_packets"] > 20

    await pool.command(0, "hangup", call=leg)
    ended = await log.wait("ended", call=leg)
    assert ended.args["by"] == "local"
    assert await sipp_result(sipp) == 0  # sipp got our BYE and answered it
    assert pool.worker_of(leg) is None
    assert pool.free_worker() == 0
    assert "ringing" not in log.names(leg)  # nobody asked it to ring


async def test_worker_answers_options_pings_with_200(pool: WorkerPool) -> None:
    assert await sipp_result(await start_sipp("worker_options.xml", target(pool))) == 0


async def test_a_second_inbound_call_into_a_busy_worker_gets_486(pool: WorkerPool) -> None:
    log = EventLog(pool)
    first = await start_sipp("worker_uac_dtmf.xml", target(pool))
    leg = (await log.wait("incoming")).call
    await pool.command(0, "answer", call=leg)
    await log.wait("answered", call=leg)

    assert await sipp_result(await start_sipp("worker_uac_busy.xml", target(pool))) == 0
    assert [e.call for _, e in log.seen if e.name == "incoming"] == [leg]  # never announced

    await log.wait("dtmf", call=leg)
    await asyncio.sleep(0.6)  # sipp waits for our BYE only once its pauses are over
    await pool.command(0, "hangup", call=leg)
    await log.wait("ended", call=leg)
    assert await sipp_result(first) == 0


async def test_the_core_can_ring_then_reject_with_its_own_code(pool: WorkerPool) -> None:
    log = EventLog(pool)
    sipp = await start_sipp("worker_uac_busy.xml", target(pool))  # expects 486
    leg = (await log.wait("incoming")).call
    await pool.command(0, "ring", call=leg)
    await pool.command(0, "reject", call=leg, code=486)
    ended = await log.wait("ended", call=leg)
    assert ended.args["code"] == 486
    assert await sipp_result(sipp) == 0


async def test_an_incoming_call_the_core_ignores_is_refused_with_480(tmp_path: Path) -> None:
    pool = await make_pool(tmp_path, answer_timeout=1.0)
    try:
        log = EventLog(pool)
        sipp = await start_sipp("worker_uac_unanswered.xml", target(pool))
        leg = (await log.wait("incoming")).call
        ended = await log.wait("ended", call=leg, timeout=5)
        assert ended.args["code"] == 480
        assert await sipp_result(sipp) == 0
    finally:
        await pool.stop()


async def test_bad_commands_are_refused_and_the_worker_carries_on(pool: WorkerPool) -> None:
    with pytest.raises(Rejected, match="no such call"):
        await pool.command(0, "answer", call="w0-99")
    with pytest.raises(Rejected, match="missing 'call'"):
        await pool.command(0, "answer")
    with pytest.raises(Rejected, match="unknown op"):
        await pool.command(0, "teleport", call="w0-1")
    with pytest.raises(Rejected, match="no media worker"):
        await pool.command(5, "answer", call="w0-1")
    # Junk on the control socket is logged by the worker, which keeps serving.
    writer = pool._slots[0].writer
    assert writer is not None
    writer.write(b'{"v": 1, "kind": "cmd", "id": "x"}\nnot json at all\n')
    log = EventLog(pool)
    await pool.command(0, "dial", call="x1", uri="sip:nobody@127.0.0.1:9")
    assert pool.worker_of("x1") == 0
    with pytest.raises(Rejected, match="not playing"):
        await pool.command(0, "stop_play", call="x1")
    with pytest.raises(Rejected, match="in use"):
        await pool.command(0, "dial", call="x1", uri="sip:nobody@127.0.0.1:9")
    await pool.command(0, "hangup", call="x1")
    await log.wait("ended", call="x1")
    assert pool.worker_of("x1") is None
    assert pool.health()[0]["state"] == "up"


async def test_a_reserved_worker_refuses_inbound_calls_until_its_first_dial(
    pool: WorkerPool,
) -> None:
    """The core picked this idle worker for a call it is about to dial (click-to-call):
    an inbound INVITE meanwhile gets 486 (the edge tries another worker), never a second
    conversation in the same worker."""
    log = EventLog(pool)
    assert await pool.reserve(seconds=10) == 0
    assert pool.free_worker() is None and pool.health()[0]["reserved"]
    assert await pool.reserve() is None  # nobody else gets it meanwhile
    assert await sipp_result(await start_sipp("worker_uac_busy.xml", target(pool))) == 0
    await pool.command(0, "dial", call="c1", uri="sip:nobody@127.0.0.1:9")  # ends it
    assert not pool.health()[0]["reserved"]
    await pool.command(0, "hangup", call="c1")
    await log.wait("ended", call="c1")
    assert not [e for _, e in log.seen if e.name == "incoming"]

    # Released, or expired: inbound calls are taken again.
    assert await pool.reserve() == 0
    await pool.release(0)
    assert pool.free_worker() == 0
    assert await pool.reserve(seconds=0.3) == 0
    await asyncio.sleep(0.4)
    sipp = await start_sipp("worker_uac_busy.xml", target(pool))  # expects 486
    leg = (await log.wait("incoming")).call
    assert leg is not None
    # A worker that took an inbound call the pool has not yet heard of refuses.
    with pytest.raises(Rejected, match="busy: 1 leg"):
        await pool.command(0, "reserve", seconds=5.0)
    await pool.command(0, "reject", call=leg, code=486)
    assert await sipp_result(sipp) == 0
