"""A queue: work items waiting for an agent, in order, and each item's life in it.

Rules: this module holds a queue's settings, its items and their order; which agent
takes which item is decided by :mod:`actors.routing`. Pure; imports nothing of ours but
``base`` and :mod:`actors.schedule` (a queue's opening hours).

Theory of operation
-------------------
A *work item* is a conversation that needs an agent: a voice call, an SMS conversation,
a web chat, or a callback the customer asked for. Its *owner* is the actor that runs
the conversation (``call:<id>``...); the queue only tells it what to do next.

Order: higher ``priority`` first, then first come first served. "First come" is the
time the customer first joined the queue, so a callback that replaces a waiting caller
keeps the caller's place, and a restart (items are rebuilt from the store) keeps both
order and waiting times. An item's position (1 = next) counts the items ahead of it.

An item's life (:data:`ITEM_TRANSITIONS`): ``waiting`` -> ``offered`` (an agent is
being rung or assigned) -> ``assigned`` (it left the queue with an agent); an offer
not taken returns it to ``waiting`` at its place. ``waiting`` -> ``treated`` (the queue's
treatment: max wait, nobody logged in, closed) or ``abandoned`` (the customer left) or
``withdrawn`` (the owner took it away, e.g. to become a callback).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from actors.schedule import Schedule, is_open
from base.errors import ProtocolError

ItemKind = Literal["voice", "sms", "chat", "callback"]
ItemState = Literal["waiting", "offered", "assigned", "treated", "abandoned", "withdrawn"]

ITEM_TRANSITIONS: dict[ItemState, dict[str, ItemState]] = {
    "waiting": {
        "offer": "offered",
        "treat": "treated",
        "abandon": "abandoned",
        "withdraw": "withdrawn",
        "assign": "assigned",
    },
    "offered": {
        "accept": "assigned",
        "decline": "waiting",
        "abandon": "abandoned",
        "withdraw": "withdrawn",
        "treat": "treated",
    },
    "assigned": {},
    "treated": {},
    "abandoned": {},
    "withdrawn": {},
}
GONE: frozenset[ItemState] = frozenset({"assigned", "treated", "abandoned", "withdrawn"})


def item_next(state: ItemState, event: str) -> ItemState:
    row = ITEM_TRANSITIONS[state]
    if event not in row:
        raise ProtocolError(f"queue item: {event!r} while {state!r}")
    return row[event]


@dataclass(frozen=True, slots=True)
class QueueSettings:
    id: str
    skills: frozenset[str] = frozenset()  # an agent needs every one
    max_wait: float | None = 600.0  # None: no limit (the implicit default queue)
    callback: bool = False  # callers may ask to be called back, keeping their place
    service_level: float = 20.0  # seconds: the target the stats measure against
    wrap_up: float = 3.0  # seconds after a call before the agent is offered the next
    treat_when_nobody: bool = True  # nobody logged in: treatment at once
    only_agent: str | None = None  # a route straight to one agent (``agent:<id>``)
    journal: bool = True  # record queued/dequeued/abandoned in the customers' journeys
    hours: Schedule | None = None  # outside them the queue is closed (treatment "closed")

    def open_at(self, now: float) -> bool:
        return self.hours is None or is_open(self.hours, now)

    def eligible(self, agent_id: str, agent_skills: frozenset[str]) -> bool:
        if self.only_agent is not None:
            return agent_id == self.only_agent
        return self.skills <= agent_skills


@dataclass(frozen=True, slots=True)
class WorkItem:
    id: str
    owner: str  # the actor that runs the conversation
    kind: ItemKind
    contact_id: str
    queue: str
    enqueued_at: float  # when the customer first joined (callbacks keep it)
    priority: int = 0
    skill: str | None = None  # preferred skill (agents with it first)
    sticky: str | None = None  # the agent who served this contact last
    phone: str | None = None  # the customer's number (callbacks, SMS)
    state: ItemState = "waiting"
    agent: str | None = None  # offered to / assigned to
    offered_at: float | None = None
    declined: tuple[tuple[str, float], ...] = ()  # (agent, until) not to offer again
    overdue: bool = False  # max_wait passed while an offer was out
    seq: int = 0  # arrival order, set by the queue
    patient: bool = False  # waits however long, like a callback (no treatment)

    def sort_key(self) -> tuple[int, float, int]:
        return (-self.priority, self.enqueued_at, self.seq)

    @property
    def waits_forever(self) -> bool:
        """Exempt from the queue's treatment: a callback, or a patient conversation."""
        return self.kind == "callback" or self.patient

    def declined_by(self, agent: str, now: float) -> bool:
        return any(a == agent and now < until for a, until in self.declined)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "owner": self.owner,
            "kind": self.kind,
            "contact_id": self.contact_id,
            "queue": self.queue,
            "enqueued_at": self.enqueued_at,
            "priority": self.priority,
            "skill": self.skill,
            "sticky": self.sticky,
            "phone": self.phone,
            "seq": self.seq,
            "patient": self.patient,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkItem:
        return cls(
            id=str(data["id"]),
            owner=str(data["owner"]),
            kind=data["kind"],
            contact_id=str(data["contact_id"]),
            queue=str(data["queue"]),
            enqueued_at=float(data["enqueued_at"]),
            priority=int(data.get("priority", 0)),
            skill=data.get("skill"),
            sticky=data.get("sticky"),
            phone=data.get("phone"),
            seq=int(data.get("seq", 0)),
            patient=bool(data.get("patient", False)),
        )


@dataclass
class QueueState:
    """One queue's items, kept sorted (mutable inside the engine's single writer)."""

    settings: QueueSettings
    items: dict[str, WorkItem] = field(default_factory=dict)
    order: list[tuple[tuple[int, float, int], str]] = field(default_factory=list)
    next_seq: int = 1

    def add(self, item: WorkItem) -> WorkItem:
        if item.id in self.items:
            raise ProtocolError(f"item {item.id} is already in queue {self.settings.id}")
        seq = item.seq or self.next_seq
        self.next_seq = max(self.next_seq, seq) + 1
        item = replace(item, seq=seq, queue=self.settings.id, state="waiting")
        self.items[item.id] = item
        bisect.insort(self.order, (item.sort_key(), item.id))
        return item

    def remove(self, item_id: str) -> WorkItem | None:
        item = self.items.pop(item_id, None)
        if item is not None:
            index = bisect.bisect_left(self.order, (item.sort_key(), item.id))
            if index < len(self.order) and self.order[index][1] == item_id:
                del self.order[index]
        return item

    def update(self, item: WorkItem) -> None:
        self.items[item.id] = item  # (the sort key never changes)

    def in_order(self) -> list[WorkItem]:
        return [self.items[item_id] for _, item_id in self.order]

    def iter_order(self) -> Iterator[WorkItem]:
        """The items in queue order, lazily (the queue must not change meanwhile)."""
        for _, item_id in self.order:
            yield self.items[item_id]

    def position(self, item_id: str) -> int | None:
        item = self.items.get(item_id)
        if item is None:
            return None
        return bisect.bisect_left(self.order, (item.sort_key(), item.id)) + 1

    def waiting(self) -> int:
        return len(self.order)

    def longest_wait(self, now: float) -> float:
        if not self.order:
            return 0.0
        return max(0.0, now - min(self.items[i].enqueued_at for _, i in self.order))


def replay(
    snapshot: dict[str, Any] | None, events: Iterable[tuple[str, dict[str, Any]]]
) -> tuple[list[dict[str, Any]], int]:
    """A queue's log folded back: the items still in it (``to_json`` form, in arrival
    order) and the next arrival number, from its snapshot and the ``(kind, data)`` of
    the events after it."""
    items: dict[str, dict[str, Any]] = {}
    next_seq = 1
    if snapshot is not None:
        items = {i["id"]: i for i in snapshot.get("items", [])}
        next_seq = int(snapshot.get("next_seq", 1))
    for kind, data in events:
        if kind == "item_queued":
            items[data["id"]] = data
        elif kind == "item_left":
            items.pop(data["id"], None)
    return sorted(items.values(), key=lambda d: int(d.get("seq", 0))), next_seq


# ------------------------------------------------ what a queue tells an item's owner


@dataclass(frozen=True, slots=True)
class QueueOffer:
    """Offer the item to this agent (ring them, assign them)."""

    item_id: str
    agent: str


@dataclass(frozen=True, slots=True)
class QueueTreatment:
    """The queue gives up finding an agent: why, and whether a callback may be offered."""

    item_id: str
    reason: str  # max_wait | no_agents | closed
    callback: bool
