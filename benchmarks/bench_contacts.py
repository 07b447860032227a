"""100 000 contact actors: memory per live actor, and the cost to hibernate and wake one.

    .venv/bin/python benchmarks/bench_contacts.py [contacts]

Memory is resident set size (RSS) growth while the actors are live, divided by their
number; the baseline is the same process before they were spawned. Wake is the time of
an ``ask`` to a hibernated contact: state loaded from SQLite (snapshot + events), task
started, message handled.
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from actors.messages import GetContact
from base.clock import RealClock
from switch.config import parse_config
from switch.core import Core
from switch.store import Event, Put, Store, Write


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def main(n: int) -> None:
    tmp = Path(tempfile.mkdtemp())
    cfg = parse_config(
        {
            "store": {"path": str(tmp / "bench.db")},
            "api": {"tokens": ["bench-token-for-benchmarks"]},
        }
    )
    store = await Store.open(cfg.store.path)
    core = Core(cfg, store, RealClock())
    core.registry.park_after = 0.0
    writes = []
    for i in range(n):
        cid = f"c{i:07d}"
        ident = f"phone:+8551{i:08d}"
        writes.append(
            store.submit(
                Write(
                    events=(
                        Event(f"contact:{cid}", "contact_created", 1.0, {"identities": [ident]}),
                        Event(
                            f"contact:{cid}", "message_in", 2.0, {"channel": "sms", "text": "hi"}
                        ),
                    ),
                    puts=(Put("identity", ident, cid),),
                )
            )
        )
    await asyncio.gather(*writes)
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    for i in range(n):
        await core.registry.ask(f"contact:c{i:07d}", GetContact())
    spawn_s = time.perf_counter() - started
    core.registry.sweep()  # park every task: live actors keep their state, not a task
    await asyncio.sleep(0.1)
    gc.collect()
    after = rss_bytes()
    live = core.registry.live_count("contact")
    per_actor = (after - before) / live

    wakes = []
    for i in range(0, n, max(1, n // 2000)):
        aid = f"contact:c{i:07d}"
        assert core.registry.hibernate(aid)
        t = time.perf_counter()
        await core.registry.ask(aid, GetContact())
        wakes.append(time.perf_counter() - t)
    hib = []
    for i in range(0, n, max(1, n // 2000)):
        aid = f"contact:c{i:07d}"
        await asyncio.sleep(0)
        t = time.perf_counter()
        core.registry.hibernate(aid)
        hib.append(time.perf_counter() - t)
    wakes.sort()
    print(f"live contact actors:           {live:,}")
    print(f"spawn (load from SQLite):      {n / spawn_s:,.0f} actors/s")
    print(f"RSS growth per live actor:     {per_actor:,.0f} bytes   (goal <= 3 KB)")
    print(
        f"wake one (median / p99):       {statistics.median(wakes) * 1e3:.3f} ms / "
        f"{wakes[int(len(wakes) * 0.99)] * 1e3:.3f} ms   (goal <= 1 ms)"
    )
    print(f"hibernate one (median):        {statistics.median(hib) * 1e6:.1f} us")
    await core.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
