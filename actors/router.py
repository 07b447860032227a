"""The routing engine's actor (``router:main``): the shell around :mod:`actors.routing`.

It performs the engine's effects: offers and treatments go to the items' owners as
messages (:class:`QueueOffer`, :class:`QueueTreatment`), queue events go to each
queue's log in the store (``queue:<id>``, with a snapshot every so often) before the
message that caused them is answered, journey entries go to the contacts, timers come
back as messages. At start the queues are rebuilt from their logs: callbacks and
messaging conversations keep their places; a voice caller's item is dropped (the call
did not survive the restart).

An offer nobody answers (its owner is gone) is declined after ``offer_timeout``, so an
agent is never held by a dead offer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from actors.messages import JourneyEntry
from actors.queue import (
    QueueOffer,
    QueueSettings,
    QueueState,
    QueueTreatment,
    WorkItem,
    replay,
)
from actors.routing import (
    Accepted,
    AgentUpdate,
    Declined,
    Enqueue,
    Offer,
    Persist,
    QueueJourney,
    Reconfigure,
    RouterState,
    RouterTimer,
    RoutingSettings,
    SetRouterTimer,
    Treat,
    Withdraw,
    decide,
    expected_wait,
)
from actors.runtime import Actor, Registry
from actors.store import Event, EventStore, Snapshot, Write

log = structlog.get_logger("router")

ROUTER = "router:main"
SNAPSHOT_EVERY = 100
_CHANNELS = {"voice": "voice", "callback": "voice", "sms": "sms", "chat": "chat"}


@dataclass(frozen=True, slots=True)
class GetQueues:
    pass


@dataclass(frozen=True, slots=True)
class GetQueue:
    queue_id: str


@dataclass(frozen=True, slots=True)
class GetItem:
    item_id: str


@dataclass(frozen=True, slots=True)
class OfferTimeout:
    item_id: str
    agent: str


class RouterActor(Actor):
    __slots__ = ("changes", "handle_time", "offer_timeout", "state", "store", "timers")

    def __init__(
        self,
        actor_id: str,
        registry: Registry,
        store: EventStore,
        queues: Sequence[QueueSettings],
        settings: RoutingSettings | None = None,
        *,
        offer_timeout: float = 60.0,
        handle_time: float = 180.0,
    ) -> None:
        super().__init__(actor_id, registry)
        self.store = store
        self.state = RouterState(
            {q.id: QueueState(q) for q in queues}, settings or RoutingSettings()
        )
        self.offer_timeout = offer_timeout
        self.handle_time = handle_time  # s per conversation, for expected waits
        self.changes: dict[str, int] = {}

    def idle(self) -> bool:
        return False

    # -------------------------------------------------------------- recovery

    async def start(self) -> None:
        now = self.registry.clock.now()
        effects = self._restore(list(self.state.queues), now)
        await self._perform(effects, now)
        restored = len(self.state.where)
        if restored:
            log.info("queues_restored", items=restored)

    def _restore(self, queue_ids: list[str], now: float) -> list[Any]:
        """Rebuild these queues from their logs (at start, or a queue added by a
        reload that existed before): the effects to perform."""
        effects: list[Any] = []
        for queue_id in queue_ids:
            queue = self.state.queues[queue_id]
            snapshot, events = self.store.load_actor(f"queue:{queue_id}")
            items, queue.next_seq = replay(snapshot, ((e.kind, e.data) for e in events))
            for data in items:
                item = WorkItem.from_json(data)
                if item.kind == "voice":
                    effects.append(
                        Persist(queue_id, "item_left", {"id": item.id, "reason": "lost"})
                    )
                    continue
                item = queue.add(item)
                self.state.where[item.id] = queue_id
                if not item.waits_forever and queue.settings.max_wait is not None:
                    delay = max(0.0, item.enqueued_at + queue.settings.max_wait - now)
                    self.state.timer_seq += 1
                    effects.append(
                        SetRouterTimer(
                            RouterTimer("max_wait", item.id, self.state.timer_seq), delay
                        )
                    )
        return effects

    # ------------------------------------------------------------------ mail

    async def handle(self, message: Any) -> Any:
        now = self.registry.clock.now()
        match message:
            case GetQueues():
                return [self._summary(q, now) for q in self.state.queues.values()]
            case GetQueue(queue_id=queue_id):
                queue = self.state.queues.get(queue_id)
                return None if queue is None else self._detail(queue, now)
            case GetItem(item_id=item_id):
                return self._item(item_id, now)
            case OfferTimeout(item_id=item_id, agent=agent):
                item = self.state.item(item_id)
                if item is None or item.state != "offered" or item.agent != agent:
                    return None
                log.warning("queue_offer_timeout", item=item_id, agent=agent)
                message = Declined(item_id, agent, "timeout")
        if not isinstance(
            message,
            Enqueue | Withdraw | Accepted | Declined | AgentUpdate | RouterTimer | Reconfigure,
        ):
            raise TypeError(f"the router cannot handle {type(message).__name__}")
        restored: list[Any] = []
        if isinstance(message, Reconfigure):  # a queue new to this run: from its log
            added = [q for q in message.queues if q.id not in self.state.queues]
            for settings in added:
                self.state.queues[settings.id] = QueueState(settings)
            restored = self._restore([q.id for q in added], now)
        state, effects = decide(self.state, message, now)
        effects = [*restored, *effects]
        self.state = state
        await self._perform(effects, now)
        if isinstance(message, Enqueue):
            return self._item(message.item.id, now)
        return None

    async def _perform(self, effects: Sequence[Any], now: float) -> None:
        writes: list[asyncio.Future[Any]] = []
        journeys: list[asyncio.Future[Any]] = []
        for effect in effects:
            match effect:
                case Offer(owner=owner, item_id=item_id, agent=agent):
                    self._tell(owner, QueueOffer(item_id, agent))
                    self.registry.schedule(ROUTER, self.offer_timeout, OfferTimeout(item_id, agent))
                case Treat(owner=owner, item_id=item_id, reason=reason, callback=callback):
                    log.info("queue_treatment", item=item_id, reason=reason)
                    self._tell(owner, QueueTreatment(item_id, reason, callback))
                case Persist(queue=queue, kind=kind, data=data):
                    writes.append(self.store.submit(self._write(queue, kind, data, now)))
                case QueueJourney():
                    journeys.append(self._journey(effect, now))
                case SetRouterTimer(timer=timer, delay=delay):
                    self.registry.schedule(ROUTER, delay, timer)
        results = await asyncio.gather(*writes, *journeys, return_exceptions=True)
        for n, result in enumerate(results):
            if not isinstance(result, BaseException):
                continue
            if n < len(writes):  # the queue's own log: the places must be durable
                log.error("queue_write_failed", error=repr(result))
                raise result
            # a journey entry the contact refused: the item itself is safe; say so
            log.error("queue_journey_failed", error=repr(result))

    def _tell(self, owner: str, message: Any) -> None:
        try:
            self.registry.tell(owner, message)
        except Exception as exc:  # an owner kind that no longer exists: the offer times out
            log.warning("queue_owner_unreachable", owner=owner, error=repr(exc))

    def _write(self, queue: str, kind: str, data: dict[str, Any], now: float) -> Write:
        actor = f"queue:{queue}"
        count = self.changes.get(queue, 0) + 1
        self.changes[queue] = count
        snapshots: tuple[Snapshot, ...] = ()
        if count % SNAPSHOT_EVERY == 0:
            q = self.state.queues[queue]
            state = {"items": [i.to_json() for i in q.in_order()], "next_seq": q.next_seq}
            snapshots = (Snapshot(actor, state),)
        return Write(events=(Event(actor, kind, now, data),), snapshots=snapshots)

    def _journey(self, effect: QueueJourney, now: float) -> asyncio.Future[Any]:
        data: dict[str, object] = {"via": effect.queue, "item": effect.item_id}
        if effect.agent is not None:
            data["agent"] = effect.agent
        if effect.waited is not None:
            data["waited"] = effect.waited
        entry = JourneyEntry(
            effect.channel,  # type: ignore[arg-type]
            effect.kind,
            now,
            data,
            idem=f"q:{effect.queue}:{effect.item_id}:{effect.seq}:{effect.kind}",
        )
        return self.registry.ask_nowait(f"contact:{effect.contact_id}", entry)

    # ---------------------------------------------------------------- views

    def _summary(self, queue: QueueState, now: float) -> dict[str, Any]:
        settings = queue.settings
        available = [
            a
            for a in self.state.agents.values()
            if a.status == "available" and settings.eligible(a.id, a.skills)
        ]
        signed_in = self.state.signed_in_for(settings)
        return {
            "id": settings.id,
            "waiting": queue.waiting(),
            "longest_wait": round(queue.longest_wait(now), 1),
            "agents_available": len(available),
            "agents_signed_in": len(signed_in),
            "agents_for_chat": sum(1 for a in signed_in if a.can_chat),
        }

    def _detail(self, queue: QueueState, now: float) -> dict[str, Any]:
        entries = []
        for position, item in enumerate(queue.in_order(), start=1):
            entries.append(
                {
                    "contact_id": item.contact_id,
                    "channel": _CHANNELS.get(item.kind, "voice"),
                    "position": position,
                    "waited": round(max(0.0, now - item.enqueued_at), 1),
                    "callback": item.kind == "callback",
                    "item": item.id,
                    "state": item.state,
                    "agent": item.agent,
                }
            )
        return {**self._summary(queue, now), "entries": entries}

    def _item(self, item_id: str, now: float) -> dict[str, Any] | None:
        item = self.state.item(item_id)
        if item is None:
            return None
        return {
            "item": item_id,
            "queue": item.queue,
            "state": item.state,
            "position": self.state.position(item_id),
            "expected_wait": expected_wait(self.state, item_id, self.handle_time),
            "waited": round(max(0.0, now - item.enqueued_at), 1),
        }
