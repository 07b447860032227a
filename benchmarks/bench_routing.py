"""Routing decisions per second and assignment latency with 10,000 queued items and 500
agents: the pure engine (actors.routing.decide), the router actor around it, and a
same-run baseline (a plain heapq pop + push per assignment).

PYTHONPATH=. .venv/bin/python benchmarks/bench_routing.py [assignments]

One round: a busy agent becomes free (AgentUpdate) and the engine offers them the best
item they may serve (the *assignment*, timed alone: its p99 is the goal, <= 1 ms);
their phone rings (AgentUpdate: not free), they take it (Accepted), and a new customer
arrives (Enqueue), so 10,000 items stay queued. Every decision is counted for the rate.
Latencies are given as wall time and as the CPU time of the thread that decides (on a
shared, loaded box the wall p99 measures the neighbours as much as the engine). The
router actor runs once with a store that commits at once (the routing cost) and once on
the real SQLite store (each decision waits for its queue events' group commit, fsync).
"""

from __future__ import annotations

import asyncio
import heapq
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from actors.queue import QueueSettings, QueueState, WorkItem
from actors.router import ROUTER, RouterActor
from actors.routing import (
    Accepted,
    AgentUpdate,
    AgentView,
    Enqueue,
    Offer,
    RouterMessage,
    RouterState,
    decide,
)
from actors.runtime import Actor, Registry
from actors.store import Committed, StoredEvent, Write
from base.clock import RealClock
from switch.store import Store

ITEMS = 10_000
AGENTS = 500
QUEUES = (
    QueueSettings("support", max_wait=None),
    QueueSettings("sales", frozenset({"sales"}), max_wait=None),
    QueueSettings("km", frozenset({"km"}), max_wait=None),
    QueueSettings("vip", frozenset({"vip"}), max_wait=None),
)


def agents(rng: random.Random) -> list[AgentView]:
    out = []
    for n in range(AGENTS):
        skills = frozenset(s for s in ("sales", "km", "vip") if rng.random() < 0.4)
        out.append(AgentView(f"a{n:03d}", "busy", skills, 0.0, True, False, False))
    return out


def item(n: int, rng: random.Random, now: float) -> WorkItem:
    queue = rng.choice(QUEUES).id
    kind = "chat" if rng.random() < 0.2 else "voice"
    return WorkItem(
        f"i{n}",
        f"owner:i{n}",
        kind,
        f"c{n}",
        queue,
        now,
        priority=rng.choice((0, 0, 0, 1)),  # type: ignore[arg-type]
    )


def free(view: AgentView, now: float) -> AgentView:
    return replace(view, status="available", idle_since=now, can_call=True, can_chat=True)


def busy(view: AgentView) -> AgentView:
    return replace(view, status="busy", can_call=False, can_chat=False)


def pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


# ------------------------------------------------------------------ baseline


def baseline(rounds: int) -> tuple[float, list[tuple[float, float]]]:
    rng = random.Random(1)
    heap = [(rng.choice((0, -1)), float(n), n) for n in range(ITEMS)]
    heapq.heapify(heap)
    latencies: list[tuple[float, float]] = []
    start = time.perf_counter()
    for n in range(rounds):
        t, c = time.perf_counter(), time.thread_time()
        heapq.heappop(heap)
        latencies.append((time.perf_counter() - t, time.thread_time() - c))
        heapq.heappush(heap, (rng.choice((0, -1)), float(ITEMS + n), ITEMS + n))
    elapsed = time.perf_counter() - start
    return 2 * rounds / elapsed, latencies


# ---------------------------------------------------------------- pure engine


def engine(rounds: int) -> tuple[float, list[tuple[float, float]]]:
    rng = random.Random(2)
    now = 1000.0
    state = RouterState({q.id: QueueState(q) for q in QUEUES})
    views = agents(rng)
    for view in views:
        state, _ = decide(state, AgentUpdate(view), now)
    for n in range(ITEMS):
        state, _ = decide(state, Enqueue(item(n, rng, now + n * 0.001)), now)
    latencies: list[tuple[float, float]] = []
    decisions = 0
    spent = 0.0
    for n in range(rounds):
        now += 0.01
        view = views[rng.randrange(AGENTS)]
        t, c = time.perf_counter(), time.thread_time()
        state, effects = decide(state, AgentUpdate(free(view, now)), now)
        latencies.append((time.perf_counter() - t, time.thread_time() - c))
        offers = [e for e in effects if isinstance(e, Offer)]
        assert len(offers) == 1, effects
        messages: list[RouterMessage] = [
            AgentUpdate(busy(view)),  # their phone rings: not free any more
            Accepted(offers[0].item_id, view.id),
            Enqueue(item(ITEMS + n, rng, now)),
        ]
        for message in messages:
            state, _ = decide(state, message, now)
        spent += time.perf_counter() - t
        decisions += 4
    assert sum(q.waiting() for q in state.queues.values()) == ITEMS
    return decisions / spent, latencies


# ---------------------------------------------------------------- router actor


class MemoryStore:
    """Commits at once (the routing cost alone; the SQLite store adds its fsync)."""

    def submit(self, write: Write) -> asyncio.Future[Committed]:
        future: asyncio.Future[Committed] = asyncio.get_running_loop().create_future()
        future.set_result(Committed(()))
        return future

    async def write(self, write: Write) -> Committed:
        return Committed(())

    def load_actor(self, actor: str) -> tuple[None, list[StoredEvent]]:
        return None, []


class Sink(Actor):
    """Item owners and contacts: they take the router's messages and do nothing."""

    __slots__ = ()

    async def handle(self, message: Any) -> Any:
        return None


async def actor(rounds: int, durable: bool = False) -> tuple[float, list[tuple[float, float]]]:
    rng = random.Random(3)
    registry = Registry(RealClock(), mailbox_size=100_000)
    tmp = tempfile.TemporaryDirectory()
    store: Any = await Store.open(Path(tmp.name) / "s.db") if durable else MemoryStore()
    registry.register_kind(
        "router",
        lambda aid, reg: RouterActor(aid, reg, store, QUEUES, offer_timeout=3600),  # type: ignore[arg-type]
    )
    registry.register_kind("owner", Sink)
    registry.register_kind("contact", Sink)
    views = agents(rng)
    for view in views:
        await registry.ask(ROUTER, AgentUpdate(view))
    now = time.time()
    for n in range(ITEMS):
        await registry.ask(ROUTER, Enqueue(item(n, rng, now + n * 0.001)))
    router: Any = registry.actor(ROUTER)
    latencies: list[tuple[float, float]] = []
    spent = 0.0
    for n in range(rounds):
        view = views[rng.randrange(AGENTS)]
        t, c = time.perf_counter(), time.thread_time()
        await registry.ask(ROUTER, AgentUpdate(free(view, time.time())))
        latencies.append((time.perf_counter() - t, time.thread_time() - c))
        offered = router.state.offered[view.id]
        await registry.ask(ROUTER, AgentUpdate(busy(view)))
        await registry.ask(ROUTER, Accepted(offered, view.id))
        await registry.ask(ROUTER, Enqueue(item(ITEMS + n, rng, time.time())))
        spent += time.perf_counter() - t
    await registry.close()
    if durable:
        await store.close()
    tmp.cleanup()
    return 4 * rounds / spent, latencies


def line(name: str, rate: float, latencies: list[tuple[float, float]]) -> str:
    wall = [w * 1e6 for w, _ in latencies]
    cpu = [c * 1e6 for _, c in latencies]
    return (
        f"{name:<34} {rate:>8,.0f} decisions/s | assignment wall p50 {statistics.median(wall):6.0f}"
        f" p99 {pct(wall, 99):6.0f} us | cpu p50 {statistics.median(cpu):5.0f}"
        f" p99 {pct(cpu, 99):5.0f} us"
    )


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    print(f"{ITEMS:,} queued items, {AGENTS} agents, {len(QUEUES)} queues, {rounds:,} assignments")
    rate, lat = baseline(rounds)
    print(line("baseline: heapq pop + push", rate, lat))
    rate, lat = engine(rounds)
    print(line("pure engine (decide)", rate, lat))
    rate, lat = asyncio.run(actor(rounds))
    print(line("router actor (ask, memory store)", rate, lat))
    rate, lat = asyncio.run(actor(max(100, rounds // 10), durable=True))
    print(line("router actor (ask, SQLite, fsync)", rate, lat))


if __name__ == "__main__":
    main()
