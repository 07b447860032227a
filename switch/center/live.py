"""The contact center's live Prometheus metrics (docs/kpis.md, "Live metrics").

Counters follow the queues' logs as the store commits them (a commit listener): an
``item_queued`` is an offer, an ``item_left`` an answer, an abandon (short or not) or a
treatment. The service level of the last :data:`SL_WINDOW` seconds is kept from the
same events. Gauges of the moment (waiting, longest wait, agents by state) are read from
the router and the agents when ``/metrics`` is scraped.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Mapping
from typing import Any

from actors.agent import GetAgent
from actors.agent_state import STATUSES
from actors.kpis import SHORT_ABANDON
from actors.router import ROUTER, GetQueues
from actors.runtime import Registry
from actors.store import StoredEvent
from switch.metrics import (
    AGENTS,
    QUEUE_ABANDONED,
    QUEUE_ANSWERED,
    QUEUE_LONGEST_WAIT,
    QUEUE_OFFERED,
    QUEUE_SERVICE_LEVEL,
    QUEUE_SHORT_ABANDONED,
    QUEUE_TREATED,
    QUEUE_WAITING,
)

SL_WINDOW = 1800.0  # seconds: the rolling window of the live service level
_MAX_REMEMBERED = 100_000


class QueueMeter:
    """Counts what the queues' logs say; keeps the rolling service level."""

    def __init__(self, service_levels: Mapping[str, float], agents: list[str]) -> None:
        self.service_levels = dict(service_levels)
        self.agents = agents
        self.entered: dict[tuple[str, str], float] = {}  # (queue, item) -> enqueued_at
        # per queue: (left at, answered within the target, counts in the denominator)
        self.recent: dict[str, deque[tuple[float, bool, bool]]] = {}

    def committed(self, events: list[StoredEvent]) -> None:
        for ev in events:
            if not ev.actor.startswith("queue:"):
                continue
            queue = ev.actor.partition(":")[2]
            item = str(ev.data.get("id"))
            if ev.kind == "item_queued":
                QUEUE_OFFERED.labels(queue).inc()
                if len(self.entered) < _MAX_REMEMBERED:
                    self.entered[(queue, item)] = float(ev.data.get("enqueued_at", ev.at))
            elif ev.kind == "item_left":
                self._left(queue, item, ev)

    def _left(self, queue: str, item: str, ev: StoredEvent) -> None:
        entered = self.entered.pop((queue, item), None)
        raw = ev.data.get("waited")
        waited = float(raw) if raw is not None else ev.at - entered if entered else None
        reason = ev.data.get("reason")
        target = self.service_levels.get(queue, 20.0)
        if reason == "assigned":
            QUEUE_ANSWERED.labels(queue).inc()
            self._recent(queue, ev.at, waited is not None and waited <= target, True)
        elif reason == "abandoned":
            if waited is not None and waited < SHORT_ABANDON:
                QUEUE_SHORT_ABANDONED.labels(queue).inc()
            else:
                QUEUE_ABANDONED.labels(queue).inc()
                self._recent(queue, ev.at, False, True)
        elif reason in ("treated", "lost"):
            if reason == "treated":
                QUEUE_TREATED.labels(queue).inc()
            self._recent(queue, ev.at, False, True)

    def _recent(self, queue: str, at: float, in_sl: bool, counts: bool) -> None:
        self.recent.setdefault(queue, deque()).append((at, in_sl, counts))

    def service_level(self, queue: str, now: float) -> float | None:
        recent = self.recent.get(queue)
        if not recent:
            return None
        while recent and recent[0][0] < now - SL_WINDOW:
            recent.popleft()
        closed = sum(1 for _, _, counts in recent if counts)
        return sum(1 for _, ok, _ in recent if ok) / closed if closed else None

    async def refresh(self, registry: Registry, now: float) -> None:
        """Set the gauges of the moment (called when ``/metrics`` is scraped)."""
        queues: list[dict[str, Any]] = await registry.ask(ROUTER, GetQueues())
        for q in queues:
            QUEUE_WAITING.labels(q["id"]).set(q["waiting"])
            QUEUE_LONGEST_WAIT.labels(q["id"]).set(q["longest_wait"])
            sl = self.service_level(q["id"], now)
            if sl is not None:
                QUEUE_SERVICE_LEVEL.labels(q["id"]).set(sl)
            else:
                with contextlib.suppress(KeyError):  # nothing left the queue lately
                    QUEUE_SERVICE_LEVEL.remove(q["id"])
        counts = dict.fromkeys(STATUSES, 0)
        for agent in self.agents:
            state = await registry.ask(f"agent:{agent}", GetAgent())
            counts[state.status] += 1
        for status, n in counts.items():
            AGENTS.labels(status).set(n)
