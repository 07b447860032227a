"""Contact-center statistics: one pure function over the event log.

Rules: :func:`compute` reads nothing but the events it is given and the
:class:`Window`; no store, no clock (``now`` is part of the window). So the API, a test
and a simulation of a day get the same numbers from the same events. It imports nothing
of ours but the store's event value. docs/kpis.md states every formula; keep the two in
step.

Theory of operation
-------------------
The events it reads (all written by the switch as it works):

- ``item_queued`` / ``item_left`` in each queue's log (``queue:<id>``, written by the
  routing engine): an item entered the queue (``enqueued_at`` is when the customer first
  joined, ``contact_id``, ``kind``) and left it (``reason``: ``assigned`` to an agent,
  ``treated``, ``abandoned``, ``withdrawn``, ``lost``). One entry and the leave that
  follows it (same queue, same item id) make one *offer* of a contact to a queue;
- ``call_answered`` / ``call_ended`` in the contacts' logs (the journey): a voice
  item's talk time, the call's id being the item's id;
- ``agent_status`` in each agent's presence log (``presence:<agent>``): the agent's
  status from that moment on (``available``, ``ringing``, ``busy``, ``wrap_up``,
  ``break``, ``offline``) and, in ``ringing``/``busy``/``wrap_up``, the ``call``;
- ``csat`` in the contacts' logs: a survey answer (``score`` 1-5, ``queue``, ``agent``).

An offer belongs to the window in which it *entered* the queue (``since <= at <
until``); its outcome is read from the later events whatever their time, and an offer
with no outcome yet counts as ``waiting``. Agent time and survey answers are counted
where they happen, clipped to the window.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from actors.store import StoredEvent

SHORT_ABANDON = 5.0  # seconds: a customer who leaves sooner is a short abandon
FCR_WINDOW = 7 * 86400.0  # seconds: a contact again within this is a repeat
DEFAULT_SERVICE_LEVEL = 20.0
KINDS = ("item_queued", "item_left", "call_answered", "call_ended", "csat", "agent_status")
STATUS_KIND = "agent_status"
BUSY_STATUSES = frozenset({"ringing", "busy", "wrap_up"})
CHANNEL_OF_KIND = {"voice": "voice", "callback": "voice", "sms": "sms", "chat": "chat"}
CHANNELS = ("voice", "sms", "chat")

Outcome = Literal["answered", "abandoned", "short_abandoned", "treated", "lost", "waiting"]
_REASONS: dict[str, Outcome | None] = {
    "assigned": "answered",
    "treated": "treated",
    "abandoned": "abandoned",  # or short_abandoned, by the wait
    "withdrawn": None,  # the contact goes on as another item (a callback): not counted
    "lost": "lost",
}


@dataclass(frozen=True, slots=True)
class Window:
    since: float
    until: float
    queue: str | None = None  # one queue, or every queue
    service_levels: Mapping[str, float] = field(default_factory=dict)  # queue -> seconds
    default_service_level: float = DEFAULT_SERVICE_LEVEL
    short_abandon: float = SHORT_ABANDON
    fcr_window: float = FCR_WINDOW
    agents: frozenset[str] | None = None  # occupancy of these agents (None: all)
    now: float | None = None  # agent time is counted up to min(until, now)

    def service_level(self, queue: str) -> float:
        return self.service_levels.get(queue, self.default_service_level)


@dataclass(frozen=True, slots=True)
class Offer:
    """One contact's stay in one queue, as the stats see it."""

    queue: str
    item: str
    kind: str
    contact: str
    entered: float  # the item_queued event's time
    outcome: Outcome
    waited: float | None = None  # seconds from first joining to leaving
    left: float | None = None
    left_seq: int | None = None
    agent: str | None = None

    @property
    def channel(self) -> str:
        return CHANNEL_OF_KIND.get(self.kind, "voice")


@dataclass(frozen=True, slots=True)
class ChannelCounts:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0


@dataclass(frozen=True, slots=True)
class Stats:
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    treated: int
    lost: int
    waiting: int
    answered_in_sl: int
    service_level: float | None
    asa: float | None
    aht: float | None
    abandon_rate: float | None
    fcr: float | None
    csat: float | None
    csat_responses: int
    occupancy: float | None
    busy_seconds: float
    signed_in_seconds: float
    channels: Mapping[str, ChannelCounts]

    def to_json(self) -> dict[str, Any]:
        def r(value: float | None, digits: int) -> float | None:
            return None if value is None else round(value, digits)

        return {
            "offered": self.offered,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "short_abandoned": self.short_abandoned,
            "treated": self.treated,
            "lost": self.lost,
            "waiting": self.waiting,
            "service_level": r(self.service_level, 4),
            "asa": r(self.asa, 1),
            "aht": r(self.aht, 1),
            "abandon_rate": r(self.abandon_rate, 4),
            "fcr": r(self.fcr, 4),
            "csat": r(self.csat, 2),
            "csat_responses": self.csat_responses,
            "occupancy": r(self.occupancy, 4),
            "channels": {
                name: {"offered": c.offered, "answered": c.answered, "abandoned": c.abandoned}
                for name, c in self.channels.items()
            },
        }


# ------------------------------------------------------------------ the function


def compute(events: Iterable[StoredEvent], window: Window) -> Stats:
    ordered = sorted(events, key=lambda e: (e.at, e.seq))
    offers, contacts_queued = _offers(ordered, window)
    mine = [o for o in offers if window.since <= o.entered < window.until]
    if window.queue is not None:
        mine = [o for o in mine if o.queue == window.queue]
    count: defaultdict[str, int] = defaultdict(int)
    for offer in mine:
        count[offer.outcome] += 1
    answered = [o for o in mine if o.outcome == "answered"]
    in_sl = sum(
        1 for o in answered if o.waited is not None and o.waited <= window.service_level(o.queue)
    )
    closed = count["answered"] + count["abandoned"] + count["treated"] + count["lost"]
    waits = [o.waited for o in answered if o.waited is not None]
    handle = _handle_times(ordered, answered)
    busy, signed_in = _agent_time(ordered, window)
    scores = _scores(ordered, window)
    return Stats(
        offered=len(mine),
        answered=count["answered"],
        abandoned=count["abandoned"],
        short_abandoned=count["short_abandoned"],
        treated=count["treated"],
        lost=count["lost"],
        waiting=count["waiting"],
        answered_in_sl=in_sl,
        service_level=in_sl / closed if closed else None,
        asa=sum(waits) / len(waits) if waits else None,
        aht=sum(handle) / len(handle) if handle else None,
        abandon_rate=count["abandoned"] / closed if closed else None,
        fcr=_fcr(answered, contacts_queued, window),
        csat=sum(scores) / len(scores) if scores else None,
        csat_responses=len(scores),
        occupancy=busy / signed_in if signed_in else None,
        busy_seconds=busy,
        signed_in_seconds=signed_in,
        channels=_channels(mine),
    )


def _offers(
    events: list[StoredEvent], window: Window
) -> tuple[list[Offer], dict[str, list[tuple[int, float]]]]:
    """Pair each ``item_queued`` with the ``item_left`` that follows it; and every
    contact's queue entries (seq, time), for first-contact resolution."""
    open_: dict[tuple[str, str], tuple[StoredEvent, int]] = {}
    offers: list[Offer | None] = []
    contacts: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for ev in events:
        if not ev.actor.startswith("queue:"):
            continue
        queue = ev.actor.partition(":")[2]
        item = str(ev.data.get("id"))
        if ev.kind == "item_queued":
            contact = str(ev.data.get("contact_id", ""))
            contacts[contact].append((ev.seq, ev.at))
            open_[(queue, item)] = (ev, len(offers))
            offers.append(_offer(queue, ev, None, window))
        elif ev.kind == "item_left":
            found = open_.pop((queue, item), None)
            if found is not None:
                offers[found[1]] = _offer(queue, found[0], ev, window)
    for entries in contacts.values():
        entries.sort()
    return [o for o in offers if o is not None], contacts


def _offer(
    queue: str, queued: StoredEvent, left: StoredEvent | None, window: Window
) -> Offer | None:
    data = queued.data
    offer = Offer(
        queue=queue,
        item=str(data.get("id")),
        kind=str(data.get("kind", "voice")),
        contact=str(data.get("contact_id", "")),
        entered=queued.at,
        outcome="waiting",
    )
    if left is None:
        return offer
    outcome = _REASONS.get(str(left.data.get("reason")), "lost")
    if outcome is None:
        return None
    waited = max(0.0, left.at - float(data.get("enqueued_at", queued.at)))
    if outcome == "abandoned" and waited < window.short_abandon:
        outcome = "short_abandoned"
    agent = left.data.get("agent") if outcome == "answered" else None
    return replace(
        offer,
        outcome=outcome,
        waited=waited,
        left=left.at,
        left_seq=left.seq,
        agent=None if agent is None else str(agent),
    )


def _handle_times(events: list[StoredEvent], answered: list[Offer]) -> list[float]:
    """Talk (answer to end, holds inside it) plus the agent's wrap-up after the call,
    for each answered voice offer whose call and wrap-up are over."""
    voice = {o.item for o in answered if o.channel == "voice"}
    if not voice:
        return []
    talk_from: dict[str, float] = {}
    talk: dict[str, float] = {}
    wrap: dict[str, float] = {}
    wrap_open: dict[str, tuple[str, float]] = {}  # agent actor -> (call, since)
    for ev in events:
        if ev.kind == "call_answered" and ev.data.get("call_id") in voice:
            talk_from.setdefault(str(ev.data["call_id"]), ev.at)
        elif ev.kind == "call_ended" and ev.data.get("call_id") in voice:
            call = str(ev.data["call_id"])
            if call in talk_from and call not in talk:
                talk[call] = ev.at - talk_from[call]
        elif ev.kind == STATUS_KIND:
            opened = wrap_open.pop(ev.actor, None)
            if opened is not None:
                wrap[opened[0]] = wrap.get(opened[0], 0.0) + ev.at - opened[1]
            if ev.data.get("status") == "wrap_up" and ev.data.get("call") in voice:
                wrap_open[ev.actor] = (str(ev.data["call"]), ev.at)
    unfinished = {call for call, _ in wrap_open.values()}
    return [
        seconds + wrap.get(call, 0.0) for call, seconds in talk.items() if call not in unfinished
    ]


def _agent_time(events: list[StoredEvent], window: Window) -> tuple[float, float]:
    """Seconds agents spent busy (ringing, on a call or conversation, in wrap-up) and
    signed in (any status but offline), inside the window."""
    end = window.until if window.now is None else min(window.until, window.now)
    current: dict[str, tuple[str, float]] = {}  # agent -> (status, since)
    busy = signed_in = 0.0

    def close(status: str, start: float, stop: float) -> None:
        nonlocal busy, signed_in
        seconds = max(0.0, min(stop, end) - max(start, window.since))
        if status != "offline":
            signed_in += seconds
        if status in BUSY_STATUSES:
            busy += seconds

    for ev in events:
        if ev.kind != STATUS_KIND or ev.at >= end:
            continue
        agent = ev.actor.partition(":")[2]
        if window.agents is not None and agent not in window.agents:
            continue
        previous = current.get(agent)
        if previous is not None:
            close(previous[0], previous[1], ev.at)
        current[agent] = (str(ev.data.get("status", "offline")), ev.at)
    for status, start in current.values():
        close(status, start, end)
    return busy, signed_in


def _scores(events: list[StoredEvent], window: Window) -> list[int]:
    scores: list[int] = []
    for ev in events:
        if ev.kind != "csat" or not window.since <= ev.at < window.until:
            continue
        if window.queue is not None and ev.data.get("queue") != window.queue:
            continue
        score = ev.data.get("score")
        if isinstance(score, int) and 1 <= score <= 5:
            scores.append(score)
    return scores


def _fcr(
    answered: list[Offer], contacts: dict[str, list[tuple[int, float]]], window: Window
) -> float | None:
    """Answered offers after which the same contact entered no queue within the FCR
    window, over all answered offers."""
    if not answered:
        return None
    resolved = 0
    for offer in answered:
        assert offer.left is not None and offer.left_seq is not None
        entries = contacts.get(offer.contact, [])
        index = bisect.bisect_right(entries, (offer.left_seq, float("inf")))
        later = entries[index:]
        if not any(at <= offer.left + window.fcr_window for _, at in later):
            resolved += 1
    return resolved / len(answered)


def _channels(offers: list[Offer]) -> dict[str, ChannelCounts]:
    out: dict[str, ChannelCounts] = {}
    for name in CHANNELS:
        mine = [o for o in offers if o.channel == name]
        out[name] = ChannelCounts(
            offered=len(mine),
            answered=sum(1 for o in mine if o.outcome == "answered"),
            abandoned=sum(1 for o in mine if o.outcome == "abandoned"),
        )
    return out
