"""Durable events per second with fsync across 1 000 actors, and commit latency.

    .venv/bin/python benchmarks/bench_store.py [events]

Three figures from one run, on the same disk:
  1. baseline: plain sqlite3, one fsync'd transaction per event (no group commit);
  2. the store: 1 000 actors' events submitted concurrently, group commit;
  3. end to end: 1 000 contact actors each asked to record inbound SMS (decide, persist,
     reply), one in flight per actor.
Latency is submit -> acknowledged (after fsync), per event.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from actors.messages import InboundMessage
from base.clock import RealClock
from switch.config import parse_config
from switch.core import Core
from switch.store import Event, Store, Write

ACTORS = 1000


def baseline(path: Path, n: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, actor TEXT, data TEXT)")
    start = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN")
        conn.execute("INSERT INTO events (actor, data) VALUES (?, ?)", (f"a{i % ACTORS}", "{}"))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] * 1e3


COMMITS: list[tuple[float, int]] = []


async def store_run(path: Path, n: int) -> tuple[float, list[float]]:
    """Each of 1 000 actors writes its events one after another (one in flight each)."""
    store = await Store.open(path)
    store.commit_log = COMMITS
    latencies: list[float] = []
    per_actor = n // ACTORS

    async def actor(a: int) -> None:
        for i in range(per_actor):
            t = time.perf_counter()
            ev = Event(f"contact:{a}", "message_in", 1.0, {"i": i, "text": "hello"})
            await store.submit(Write(events=(ev,)))
            latencies.append(time.perf_counter() - t)

    start = time.perf_counter()
    await asyncio.gather(*(actor(a) for a in range(ACTORS)))
    elapsed = time.perf_counter() - start
    await store.close()
    return per_actor * ACTORS / elapsed, latencies


async def actor_run(path: Path, n: int) -> tuple[float, list[float]]:
    cfg = parse_config(
        {"store": {"path": str(path)}, "api": {"tokens": ["bench-token-for-benchmarks"]}}
    )
    core = Core(cfg, await Store.open(path), RealClock())
    ids = [await core.directory.contact_for(f"phone:+8551{i:08d}") for i in range(ACTORS)]
    latencies: list[float] = []
    per_actor = n // ACTORS

    async def feed(cid: str) -> None:
        ref = core.registry.ref(f"contact:{cid}")
        for k in range(per_actor):
            t = time.perf_counter()
            await ref.ask(InboundMessage("sms", "gsm1", "+85510000000", "hi", 1.0, f"{cid}-{k}"))
            latencies.append(time.perf_counter() - t)

    start = time.perf_counter()
    await asyncio.gather(*(feed(cid) for cid in ids))
    elapsed = time.perf_counter() - start
    await core.close()
    return per_actor * ACTORS / elapsed, latencies


async def main(n: int) -> None:
    tmp = Path(tempfile.mkdtemp())
    base = baseline(tmp / "baseline.db", 2000)
    rate, lat = await store_run(tmp / "store.db", n)
    arate, alat = await actor_run(tmp / "actors.db", n)
    print(f"baseline sqlite3, 1 fsync per event:   {base:10,.0f} events/s")
    print(
        f"store, group commit, {ACTORS} actors:     {rate:10,.0f} events/s   "
        f"latency p50 {statistics.median(lat) * 1e3:.2f} ms, p99 {pct(lat, 0.99):.2f} ms"
    )
    print(
        f"contact actors end to end (ask):       {arate:10,.0f} events/s   "
        f"latency p50 {statistics.median(alat) * 1e3:.2f} ms, p99 {pct(alat, 0.99):.2f} ms"
    )
    commit_times = [c[0] for c in COMMITS]
    print(
        f"group commits: {len(COMMITS):,}, writes per commit (mean) "
        f"{statistics.mean(c[1] for c in COMMITS):,.0f}; commit (fsync incl.) "
        f"p50 {statistics.median(commit_times) * 1e3:.2f} ms, p99 {pct(commit_times, 0.99):.2f} ms"
    )
    print("goals: >= 50,000 events/s, p99 commit latency <= 10 ms")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000))
