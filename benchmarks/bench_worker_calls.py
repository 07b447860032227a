"""Media workers: CPU and memory per bridged call with RTP, and call churn per worker.

    .venv/bin/python benchmarks/bench_worker_calls.py [--calls 10,20,30] [--seconds 10]
        [--churn 300]

No edge (Kamailio) here: this measures the workers and the core side of the pool.

Bridged calls: a pool of N workers (one conversation each, as in production) dials two
legs per worker to a sipp UAS (``tests/integration/sipp/worker_uas_audio.xml``: it
answers and plays sip-tester's g711a.pcap in a loop) and bridges them, so every worker
receives RTP on two legs and sends 50 packets/s on each. Over ``--seconds`` it reads the
workers' CPU time from /proc (user + system) and their RSS. The same-run baseline is the
same N workers idle, just before the calls. Loss is what pjmedia counted on the
workers' receive side (sequence gaps), over the packets received.

Churn: one worker, a sipp UAC making short calls one after another (``-l 1``: one
conversation at a time, as the edge would send them) for ``--churn`` calls; the core
side answers each ``incoming``. Reports calls/s, failures and the INVITE -> 200 time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drivers.sip.media.pool import WorkerPool  # noqa: E402
from tests.sipphone import SIPP_DIR, free_udp_block  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def pids(pool: WorkerPool) -> list[int]:
    return [int(row["pid"]) for row in pool.health()]


async def cpu_percent(pool: WorkerPool, seconds: float) -> list[float]:
    procs = pids(pool)
    before = [cpu_seconds(p) for p in procs]
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - t0
    return [100 * (cpu_seconds(p) - b) / elapsed for p, b in zip(procs, before, strict=True)]


async def core_loop(pool: WorkerPool, counts: dict[str, int]) -> None:
    """The core's part: answer every incoming call, count events."""
    answering: set[asyncio.Task[Any]] = set()
    while True:
        worker, event = await pool.events.get()
        counts[event.name] = counts.get(event.name, 0) + 1
        if event.name == "incoming":
            task = asyncio.ensure_future(pool.command(worker, "answer", call=event.call))
            answering.add(task)
            task.add_done_callback(answering.discard)


async def bridged(n: int, seconds: float, tmp: Path) -> dict[str, float]:
    uas_port = free_udp_block(1)
    media = free_udp_block(4)
    uas = await asyncio.create_subprocess_exec(
        "sipp",
        "-sf",
        str(SIPP_DIR / "worker_uas_audio.xml"),
        "-i",
        "127.0.0.1",
        "-p",
        str(uas_port),
        "-mp",
        str(media),
        "-nostdin",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    pool = WorkerPool(
        n,
        socket_dir=tmp / f"sock{n}",
        proxy=f"127.0.0.1:{uas_port}",
        sip_port_base=free_udp_block(n),
        rtp_port_base=free_udp_block(50 * n),
        log_level="warning",
        start_timeout=60,
    )
    counts: dict[str, int] = {}
    await pool.start()
    core = asyncio.ensure_future(core_loop(pool, counts))
    try:
        await asyncio.sleep(1.0)
        idle = await cpu_percent(pool, 3.0)
        idle_rss = [rss_mb(p) for p in pids(pool)]
        uri = f"sip:uas@127.0.0.1:{uas_port}"
        for i in range(n):
            await pool.command(i, "dial", call=f"b{i}a", uri=uri)
            await pool.command(i, "dial", call=f"b{i}b", uri=uri)
        deadline = time.monotonic() + 20
        while counts.get("answered", 0) < 2 * n and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        answered = counts.get("answered", 0)
        for i in range(n):
            await pool.command(i, "bridge", a=f"b{i}a", b=f"b{i}b")
        await asyncio.sleep(1.0)
        legs = [(i, f"b{i}{x}") for i in range(n) for x in "ab"]
        start = [await pool.command(i, "stats", call=leg) for i, leg in legs]
        uas_cpu0 = cpu_seconds(uas.pid)
        busy = await cpu_percent(pool, seconds)
        uas_cpu = 100 * (cpu_seconds(uas.pid) - uas_cpu0) / seconds
        end = [await pool.command(i, "stats", call=leg) for i, leg in legs]
        busy_rss = [rss_mb(p) for p in pids(pool)]
        rx = sum(e["rx_packets"] - s["rx_packets"] for s, e in zip(start, end, strict=True))
        lost = sum(e["rx_lost"] - s["rx_lost"] for s, e in zip(start, end, strict=True))
        tx = sum(e["tx_packets"] - s["tx_packets"] for s, e in zip(start, end, strict=True))
        for i, leg in legs:
            await pool.command(i, "hangup", call=leg)
        await asyncio.sleep(1.0)
        return {
            "calls": n,
            "answered_legs": answered,
            "idle_cpu_per_worker": statistics.mean(idle),
            "cpu_per_call": statistics.mean(busy),
            "cpu_total": sum(busy),
            "cpu_max_worker": max(busy),
            "added_cpu_per_call": statistics.mean(b - i for b, i in zip(busy, idle, strict=True)),
            "rss_idle_mb": statistics.mean(idle_rss),
            "rss_busy_mb": statistics.mean(busy_rss),
            "rx_pps_per_leg": rx / seconds / len(legs),
            "tx_pps_per_leg": tx / seconds / len(legs),
            "loss_pct": 100 * lost / max(1, rx + lost),
            "sipp_uas_cpu": uas_cpu,
            "ended": counts.get("ended", 0),
        }
    finally:
        core.cancel()
        await pool.stop()
        uas.terminate()
        await uas.wait()


async def churn(calls: int, tmp: Path) -> dict[str, float]:
    pool = WorkerPool(
        1,
        socket_dir=tmp / "churn",
        proxy="127.0.0.1:9",
        sip_port_base=free_udp_block(1),
        rtp_port_base=free_udp_block(50),
        log_level="warning",
    )
    counts: dict[str, int] = {}
    await pool.start()
    core = asyncio.ensure_future(core_loop(pool, counts))
    stat = tmp / "churn_stat.csv"
    base = free_udp_block(4)
    try:
        t0 = time.monotonic()
        sipp = await asyncio.create_subprocess_exec(
            "sipp",
            "-sf",
            str(SIPP_DIR / "worker_uac_short.xml"),
            "-m",
            str(calls),
            "-l",
            "1",
            "-r",
            "1000",
            "-d",
            "0",
            "-i",
            "127.0.0.1",
            "-p",
            str(base),
            "-mp",
            str(base + 2),
            "-nostdin",
            "-timeout",
            "600s",
            "-trace_stat",
            "-stf",
            str(stat),
            "-fd",
            "3600",
            f"127.0.0.1:{pool.sip_port(0)}",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await sipp.wait()
        elapsed = time.monotonic() - t0
        rows = stat.read_text().splitlines()
        head, last = rows[0].split(";"), rows[-1].split(";")
        col = dict(zip(head, last, strict=False))
        await asyncio.sleep(1.0)
        return {
            "calls": calls,
            "seconds": elapsed,
            "calls_per_s": calls / elapsed,
            "successful": int(col.get("SuccessfulCall(C)", 0)),
            "failed": int(col.get("FailedCall(C)", 0)),
            "invite_to_200_ms": _ms(col.get("ResponseTime1(C)", "")),
            "restarts": pool.restarts[0],
            "sipp_rc": sipp.returncode or 0,
        }
    finally:
        core.cancel()
        await pool.stop()


def _ms(hms: str) -> float:
    """sipp's "HH:MM:SS:mmmmmm" (or with a 6-digit microsecond part) in milliseconds."""
    parts = hms.split(":")
    if len(parts) != 4:
        return float("nan")
    h, m, s, us = (int(p) for p in parts)
    return ((h * 60 + m) * 60 + s) * 1000 + us / 1000


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", default="10,20,30", help="bridged-call counts to measure")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--churn", type=int, default=300, help="short calls (0: skip)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    print(f"cpus: {os.cpu_count()}  python: {sys.version.split()[0]}")
    for n in (int(x) for x in args.calls.split(",") if x):
        r = await bridged(n, args.seconds, tmp)
        print(
            f"bridged calls {n:3d}: answered legs {r['answered_legs']}/{2 * n}, "
            f"idle worker {r['idle_cpu_per_worker']:.2f}% CPU (baseline), "
            f"per call {r['cpu_per_call']:.2f}% CPU (+{r['added_cpu_per_call']:.2f}), "
            f"max worker {r['cpu_max_worker']:.2f}%, all workers {r['cpu_total']:.1f}%, "
            f"RSS per call {r['rss_busy_mb']:.1f} MB (idle {r['rss_idle_mb']:.1f}), "
            f"rx {r['rx_pps_per_leg']:.1f} pkt/s/leg, tx {r['tx_pps_per_leg']:.1f}, "
            f"loss {r['loss_pct']:.3f}%, sipp UAS {r['sipp_uas_cpu']:.1f}% CPU"
        )
    if args.churn:
        c = await churn(args.churn, tmp)
        print(
            f"churn, one worker: {c['calls']} short calls in {c['seconds']:.1f} s = "
            f"{c['calls_per_s']:.1f} calls/s one at a time, {c['successful']} ok, "
            f"{c['failed']} failed, INVITE->200 mean {c['invite_to_200_ms']:.1f} ms "
            f"(core answers over the socket), worker restarts {c['restarts']}"
        )


if __name__ == "__main__":
    asyncio.run(main())
