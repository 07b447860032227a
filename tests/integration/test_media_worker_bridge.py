"""Media workers, audio: bridge, play, record, DTMF both ways, transfer.

Far ends are pjsua2 test phones (``tests/sipphone.py``) that play a pure tone and record
what they hear, so the tests can tell *whose* audio crossed the bridge (Goertzel power
at each phone's frequency), not only that packets moved. The worker dials out through
its outbound proxy, which here is the "agent" phone itself.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.sip.media.pool import WorkerPool
from tests.sipphone import (
    SIPP_DIR,
    EventLog,
    Phone,
    free_udp_block,
    read_wav,
    sipp_result,
    tone_power,
)

pytestmark = pytest.mark.integration
pytest.importorskip("pjsua2")

SOUNDS = Path(__file__).resolve().parents[2] / "drivers" / "sip" / "sounds"
CALLER_HZ, AGENT_HZ = 440.0, 1000.0


async def phone(*args: str) -> Phone:
    return await asyncio.to_thread(Phone, *args)


def phone_args(port: int, *extra: str) -> list[str]:
    return ["--port", str(port), "--rtp-port", str(free_udp_block(20)), *extra]


@pytest.fixture
async def agent_port() -> int:
    return free_udp_block(1)


@pytest.fixture
async def pool(tmp_path: Path, agent_port: int) -> AsyncIterator[WorkerPool]:
    p = WorkerPool(
        1,
        socket_dir=tmp_path / "sock",
        proxy=f"127.0.0.1:{agent_port}",
        sip_port_base=free_udp_block(1),
        rtp_port_base=free_udp_block(50),
        log_level="warning",
    )
    await p.start()
    yield p
    await p.stop()


async def answered_caller(pool: WorkerPool, log: EventLog, tmp_path: Path) -> tuple[Phone, str]:
    """A caller phone (440 Hz, recording) calls worker 0; the core answers it."""
    caller = await phone(
        *phone_args(free_udp_block(1)),
        "--tone",
        str(CALLER_HZ),
        "--record",
        str(tmp_path / "caller.wav"),
        "--call",
        f"sip:2000@127.0.0.1:{pool.sip_port(0)}",
        "--header",
        "X-Switch-Origin: trunk;id=provider1",
    )
    leg = (await log.wait("incoming")).call
    assert leg is not None
    await pool.command(0, "answer", call=leg)
    await log.wait("answered", call=leg)
    await asyncio.to_thread(caller.wait_for, "state", state="CONFIRMED")
    return caller, leg


def power(path: Path, hz: float) -> float:
    samples, rate = read_wav(path)
    return tone_power(samples, rate, hz)


async def test_bridged_legs_carry_audio_both_ways_and_the_recording_holds_both_sides(
    pool: WorkerPool, agent_port: int, tmp_path: Path
) -> None:
    log = EventLog(pool)
    agent = await phone(
        *phone_args(agent_port), "--tone", str(AGENT_HZ), "--record", str(tmp_path / "agent.wav")
    )
    caller, leg = await answered_caller(pool, log, tmp_path)
    try:
        await pool.command(
            0,
            "dial",
            call="agent-1",
            uri=f"sip:1001@127.0.0.1:{agent_port}",
            from_user="+85512345678",
            headers={"X-Switch-Call": "c-1"},
        )
        ringing = await log.wait("ringing", call="agent-1")
        assert ringing.args["code"] == 180
        incoming = await asyncio.to_thread(agent.wait_for, "incoming")
        assert "X-Switch-Call: c-1" in incoming["headers"]
        assert any("+85512345678" in h for h in incoming["headers"] if h.startswith("From"))
        agent.send("answer")
        await log.wait("answered", call="agent-1")
        assert "early_media" not in log.names("agent-1")  # the 200's SDP is not early media

        await pool.command(0, "bridge", a=leg, b="agent-1")
        rec = tmp_path / "recordings" / "call.wav"
        await pool.command(0, "record_start", call=leg, path=str(rec))
        await asyncio.sleep(2.0)

        caller_stats = await asyncio.to_thread(caller.stats)
        agent_stats = await asyncio.to_thread(agent.stats)
        assert caller_stats["rx"] > 60 and caller_stats["tx"] > 60
        assert agent_stats["rx"] > 60 and agent_stats["tx"] > 60
        assert agent_stats["heard_level"] > 5  # the caller's tone reaches the agent

        # unbridge: the agent hears nothing from the caller any more; bridge again: it does
        await pool.command(0, "unbridge", a=leg, b="agent-1")
        await asyncio.sleep(0.5)
        assert await asyncio.to_thread(agent.heard) <= 1
        await pool.command(0, "bridge", a=leg, b="agent-1")
        await asyncio.sleep(0.5)
        assert await asyncio.to_thread(agent.heard) > 5

        assert (await pool.command(0, "record_stop", call=leg))["path"] == str(rec)
        done = await log.wait("record_done", call=leg)
        assert done.args["path"] == str(rec)
        assert done.args["duration"] >= 2.5

        caller.send("hangup")  # the caller hangs up first
        ended = await log.wait("ended", call=leg)
        assert ended.args["by"] == "remote"
        await pool.command(0, "hangup", call="agent-1")
        await log.wait("ended", call="agent-1")
        await asyncio.to_thread(agent.wait_for, "ended")
    finally:
        caller.close()
        agent.close()

    # whose audio went where: each phone heard the other's tone, not its own
    assert power(tmp_path / "caller.wav", AGENT_HZ) > 1e5
    assert power(tmp_path / "caller.wav", AGENT_HZ) > 100 * power(
        tmp_path / "caller.wav", CALLER_HZ
    )
    assert power(tmp_path / "agent.wav", CALLER_HZ) > 1e5
    assert power(tmp_path / "agent.wav", CALLER_HZ) > 100 * power(tmp_path / "agent.wav", AGENT_HZ)
    # the recording is the conversation: both sides
    assert power(rec, CALLER_HZ) > 1e5 and power(rec, AGENT_HZ) > 1e5


@pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp (sip-tester) not installed")
async def test_a_dial_answered_after_183_reports_ringing_then_early_media_then_answered(
    pool: WorkerPool, agent_port: int
) -> None:
    log = EventLog(pool)
    uas = await asyncio.create_subprocess_exec(
        "sipp",
        "-sf",
        str(SIPP_DIR / "worker_uas_early.xml"),
        "-i",
        "127.0.0.1",
        "-p",
        str(agent_port),
        "-mp",
        str(free_udp_block(4)),
        "-m",
        "1",
        "-nostdin",
        "-timeout",
        "30s",
        "-timeout_error",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    await asyncio.sleep(0.3)  # let sipp bind its port
    await pool.command(0, "dial", call="e1", uri=f"sip:1001@127.0.0.1:{agent_port}")
    ringing = await log.wait("ringing", call="e1")
    assert ringing.args["code"] == 183
    await log.wait("early_media", call="e1")
    await asyncio.sleep(0.5)
    early = await pool.command(0, "stats", call="e1")
    assert not early["answered"] and early["rx_packets"] > 5  # the announcement flows
    await log.wait("answered", call="e1")
    assert log.names("e1") == ["ringing", "early_media", "answered"]
    await pool.command(0, "hangup", call="e1")
    await log.wait("ended", call="e1")
    assert await sipp_result(uas) == 0


async def test_a_dial_to_a_busy_phone_ends_with_its_code(
    pool: WorkerPool, agent_port: int, tmp_path: Path
) -> None:
    log = EventLog(pool)
    agent = await phone(*phone_args(agent_port), "--auto-answer")
    try:
        await pool.command(0, "dial", call="a1", uri=f"sip:1001@127.0.0.1:{agent_port}")
        await log.wait("answered", call="a1")
        await pool.command(0, "dial", call="a2", uri=f"sip:1001@127.0.0.1:{agent_port}")
        ended = await log.wait("ended", call="a2")
        assert ended.args["code"] == 486 and ended.args["by"] == "remote"
        await pool.command(0, "hangup", call="a1")
        await log.wait("ended", call="a1")
    finally:
        agent.close()


async def test_play_once_ends_with_play_done_and_a_loop_plays_until_stopped(
    pool: WorkerPool, tmp_path: Path
) -> None:
    log = EventLog(pool)
    caller, leg = await answered_caller(pool, log, tmp_path)
    try:
        await pool.command(0, "play", call=leg, file=str(SOUNDS / "greeting.wav"))
        await asyncio.sleep(0.5)
        assert await asyncio.to_thread(caller.heard) > 5
        await log.wait("play_done", call=leg, timeout=3)

        await pool.command(0, "play", call=leg, file=str(SOUNDS / "hold.wav"), loop=True)
        with pytest.raises(TimeoutError):
            await log.wait("play_done", call=leg, timeout=3)  # hold.wav is 2 s: it loops
        await pool.command(0, "stop_play", call=leg)
        await asyncio.sleep(0.3)
        assert await asyncio.to_thread(caller.heard) <= 1
        with pytest.raises(Exception, match="no such file"):
            await pool.command(0, "play", call=leg, file=str(tmp_path / "missing.wav"))
        caller.send("hangup")
        await log.wait("ended", call=leg)
    finally:
        caller.close()
    # the caller heard the greeting's chime (660 and 880 Hz) and the hold arpeggio (523 Hz)
    rec = tmp_path / "caller.wav"
    assert power(rec, 660.0) > 1e4 and power(rec, 880.0) > 1e4 and power(rec, 523.25) > 1e4


async def test_dtmf_goes_out_as_rfc4733_and_sip_info_digits_come_in(
    pool: WorkerPool, tmp_path: Path
) -> None:
    log = EventLog(pool)
    caller, leg = await answered_caller(pool, log, tmp_path)
    try:
        await pool.command(0, "send_dtmf", call=leg, digits="42#")
        got = [await asyncio.to_thread(caller.wait_for, "dtmf") for _ in range(3)]
        assert [(d["digit"], d["method"]) for d in got] == [
            ("4", "rfc4733"),
            ("2", "rfc4733"),
            ("#", "rfc4733"),
        ]
        caller.send("info 7")
        dtmf = await log.wait("dtmf", call=leg)
        assert (dtmf.args["digit"], dtmf.args["method"]) == ("7", "info")
        caller.send("dtmf 9")
        dtmf = await log.wait("dtmf", call=leg)
        assert (dtmf.args["digit"], dtmf.args["method"]) == ("9", "rfc4733")
    finally:
        caller.close()


async def test_blind_transfer_sends_refer_and_reports_its_progress(
    pool: WorkerPool, agent_port: int, tmp_path: Path
) -> None:
    log = EventLog(pool)
    target_port = free_udp_block(1)
    agent = await phone(*phone_args(agent_port), "--auto-answer")
    target = await phone(*phone_args(target_port), "--auto-answer")
    try:
        await pool.command(0, "dial", call="agent-1", uri=f"sip:1001@127.0.0.1:{agent_port}")
        await log.wait("answered", call="agent-1")
        await pool.command(0, "transfer", call="agent-1", uri=f"sip:3000@127.0.0.1:{target_port}")
        refer = await asyncio.to_thread(agent.wait_for, "refer")
        assert refer["target"] == f"<sip:3000@127.0.0.1:{target_port}>" or refer["target"].endswith(
            f"sip:3000@127.0.0.1:{target_port}"
        )
        await asyncio.to_thread(target.wait_for, "incoming")
        codes = []
        while True:
            status = await log.wait("transfer_status", call="agent-1")
            codes.append(status.args["code"])
            if status.args.get("final"):
                break
        assert codes[-1] == 200
        await pool.command(0, "hangup", call="agent-1")
        await log.wait("ended", call="agent-1")
    finally:
        agent.close()
        target.close()
