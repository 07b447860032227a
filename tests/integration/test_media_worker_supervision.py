"""Media workers, supervision: a worker that dies loses one conversation, never the rest."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from base.errors import ChannelUnavailable, Rejected
from drivers.sip.media.pool import WorkerPool
from drivers.sip.media.protocol import Decoder, Event
from tests.sipphone import EventLog, Phone, free_udp_block

pytestmark = pytest.mark.integration
pytest.importorskip("pjsua2")

ROOT = Path(__file__).resolve().parents[2]
SOUNDS = ROOT / "drivers" / "sip" / "sounds"


def make_pool(
    tmp_path: Path,
    size: int,
    *,
    health_interval: float = 5.0,
    start_timeout: float = 20.0,
    command_timeout: float = 5.0,
    worker_args: Sequence[str] = (),
) -> WorkerPool:
    return WorkerPool(
        size,
        socket_dir=tmp_path / "sock",
        proxy=f"127.0.0.1:{free_udp_block(1)}",
        sip_port_base=free_udp_block(size),
        rtp_port_base=free_udp_block(50 * size),
        log_level="warning",
        health_interval=health_interval,
        start_timeout=start_timeout,
        command_timeout=command_timeout,
        worker_args=worker_args,
    )


async def call_in(pool: WorkerPool, log: EventLog, worker: int) -> tuple[Phone, str]:
    caller = await asyncio.to_thread(
        Phone,
        "--port",
        str(free_udp_block(1)),
        "--rtp-port",
        str(free_udp_block(20)),
        "--call",
        f"sip:2000@127.0.0.1:{pool.sip_port(worker)}",
    )
    leg = (await log.wait("incoming", worker=worker)).call
    assert leg is not None
    await pool.command(worker, "answer", call=leg)
    await log.wait("answered", call=leg)
    return caller, leg


@pytest.mark.faults
async def test_a_worker_killed_mid_call_ends_only_its_legs_and_is_restarted(
    tmp_path: Path,
) -> None:
    pool = make_pool(tmp_path, 2)
    await pool.start()
    log = EventLog(pool)
    phones: list[Phone] = []
    try:
        caller0, leg0 = await call_in(pool, log, 0)
        caller1, leg1 = await call_in(pool, log, 1)
        phones += [caller0, caller1]
        assert (leg0, leg1) == ("w0-1", "w1-1")
        await pool.command(1, "play", call=leg1, file=str(SOUNDS / "hold.wav"), loop=True)
        before = await pool.command(1, "stats", call=leg1)
        old_pid = pool.health()[0]["pid"]

        os.kill(old_pid, signal.SIGKILL)

        ended = await log.wait("ended", call=leg0)
        assert ended.args == {"call": leg0, "code": 500, "reason": "worker_died"}
        hello = await log.wait("hello", worker=0, timeout=15)
        assert hello.args["pid"] != old_pid
        assert pool.restarts == [1, 0]
        assert pool.worker_of(leg0) is None
        assert pool.health()[0]["state"] == "up"

        # the other conversation never noticed
        await asyncio.sleep(1.0)
        after = await pool.command(1, "stats", call=leg1)
        assert after["rx_packets"] > before["rx_packets"] + 30
        assert after["tx_packets"] > before["tx_packets"] + 30
        assert "ended" not in log.names(leg1)
        assert (await asyncio.to_thread(caller1.stats))["active"]
        assert await asyncio.to_thread(caller1.heard) > 5  # still hears the hold music

        # the new worker 0 takes calls again, with a fresh leg id
        caller2, leg2 = await call_in(pool, log, 0)
        phones.append(caller2)
        assert leg2 == "w0-2"
        await pool.command(0, "hangup", call=leg2)
        await log.wait("ended", call=leg2)
        await pool.command(1, "hangup", call=leg1)
        await log.wait("ended", call=leg1)
    finally:
        for p in phones:
            p.close()
        await pool.stop()


async def test_a_worker_whose_control_socket_closes_is_replaced(tmp_path: Path) -> None:
    pool = make_pool(tmp_path, 1)
    await pool.start()
    log = EventLog(pool)
    try:
        await log.wait("hello", worker=0)
        old_pid = pool.health()[0]["pid"]
        writer = pool._slots[0].writer
        assert writer is not None
        writer.close()
        hello = await log.wait("hello", worker=0, timeout=15)
        assert hello.args["pid"] != old_pid
        assert pool.restarts == [1]
        with pytest.raises(Rejected, match="no such call"):  # the new worker answers
            await pool.command(0, "stats", call="nope")
    finally:
        await pool.stop()


async def test_health_is_reported_periodically_and_by_the_pool(tmp_path: Path) -> None:
    pool = make_pool(tmp_path, 2, health_interval=0.3)
    await pool.start()
    try:
        log = EventLog(pool)
        health = await log.wait("worker_health", worker=1, timeout=5)
        assert health.args["worker"] == 1 and health.args["calls"] == 0
        assert health.args["uptime"] > 0
        rows = pool.health()
        assert [r["worker"] for r in rows] == [0, 1]
        assert all(r["state"] == "up" and r["legs"] == [] and r["restarts"] == 0 for r in rows)
        assert {pool.free_worker(), pool.free_worker()} == {0, 1}  # round robin
    finally:
        await pool.stop()


async def test_start_fails_with_the_workers_own_words_when_its_sip_port_is_taken(
    tmp_path: Path,
) -> None:
    pool = make_pool(tmp_path, 1, start_timeout=10.0)
    squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    squatter.bind(("127.0.0.1", pool.sip_port(0)))
    try:
        with pytest.raises(ChannelUnavailable) as err:
            await pool.start()
        message = str(err.value)
        assert "media worker 0 did not start" in message
        assert "worker_start_failed" in message  # the worker's own log line, from stderr
    finally:
        squatter.close()
    assert not (tmp_path / "sock" / "w0.sock").exists()


async def test_start_fails_clearly_on_bad_worker_arguments(tmp_path: Path) -> None:
    pool = make_pool(tmp_path, 1, worker_args=["--no-such-flag"])
    with pytest.raises(ChannelUnavailable, match="unrecognized arguments: --no-such-flag"):
        await pool.start()


async def test_stop_hangs_up_live_calls_and_the_workers_exit_cleanly(tmp_path: Path) -> None:
    pool = make_pool(tmp_path, 1)
    await pool.start()
    log = EventLog(pool)
    caller, leg = await call_in(pool, log, 0)
    try:
        proc = pool._slots[0].proc
        assert proc is not None
        await pool.stop()
        assert proc.returncode == 0  # shutdown: hung up, dropped its calls, libDestroy
        await asyncio.to_thread(caller.wait_for, "ended", 5.0)
        with pytest.raises(ChannelUnavailable):
            await pool.command(0, "hangup", call=leg)
    finally:
        caller.close()


async def test_a_stalled_worker_times_out_commands_instead_of_hanging_the_core(
    tmp_path: Path,
) -> None:
    pool = make_pool(tmp_path, 1, command_timeout=0.5)
    await pool.start()
    pid = pool.health()[0]["pid"]
    try:
        os.kill(pid, signal.SIGSTOP)
        with pytest.raises(ChannelUnavailable, match=r"did not answer stats within 0\.5s"):
            await pool.command(0, "stats", call="w0-1")
        os.kill(pid, signal.SIGCONT)
        with pytest.raises(Rejected, match="no such call"):  # it serves again
            await pool.command(0, "stats", call="w0-1")
    finally:
        os.kill(pid, signal.SIGCONT)
        await pool.stop()


async def test_a_worker_exits_cleanly_when_its_control_socket_reaches_eof(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ctl.sock"
    connected: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def on_connect(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await connected.put((r, w))

    server = await asyncio.start_unix_server(on_connect, path=str(path))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "drivers.sip.media.worker",
        "--index",
        "3",
        "--socket",
        str(path),
        "--sip-port",
        str(free_udp_block(1)),
        "--rtp-port",
        str(free_udp_block(50)),
        "--proxy",
        "127.0.0.1:9",
        cwd=str(ROOT),
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        reader, writer = await asyncio.wait_for(connected.get(), 10)
        hello = Decoder().feed(await asyncio.wait_for(reader.readline(), 10))
        assert hello and isinstance(hello[0], Event) and hello[0].name == "hello"
        assert hello[0].args["worker"] == 3 and hello[0].args["pid"] == proc.pid
        writer.close()
        assert await asyncio.wait_for(proc.wait(), 10) == 0
        assert proc.stderr is not None
        logs = (await proc.stderr.read()).decode()
        assert "control_socket_closed" in logs and "worker_stopped" in logs
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        server.close()


@pytest.mark.faults
async def test_a_hung_worker_is_killed_by_the_watchdog_and_restarted(tmp_path: Path) -> None:
    pool = make_pool(tmp_path, 1, health_interval=0.3)
    await pool.start()
    log = EventLog(pool)
    await log.wait("hello", worker=0)
    old_pid = pool.health()[0]["pid"]
    try:
        os.kill(old_pid, signal.SIGSTOP)  # alive, but its loop no longer runs
        hello = await log.wait("hello", worker=0, timeout=10)
        assert hello.args["pid"] != old_pid
        assert pool.restarts == [1]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(old_pid, signal.SIGCONT)
        await pool.stop()
