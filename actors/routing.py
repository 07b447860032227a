"""The routing engine: which agent takes which work item, for every queue and channel.

Rules: one engine holds every queue (:mod:`actors.queue`) and a view of every agent's
availability; it runs in one actor (``router:main``), so an agent who serves several
queues is matched against all of them in one decision, without races. The agents'
actors stay the authority on their own state: the engine's view is what they last
reported, and an offer they cannot take comes back declined. No I/O, no clock: ``now``
is an argument; ``decide`` mutates the state it is given (it owns it alone) and
returns the effects.

Theory of operation
-------------------
Matching runs after every change that may allow one (an item arrives or returns, an
agent becomes free, a decline window ends): available agents, longest idle first, each
take the best item they may serve: among the queues whose skills they all have, the
first item in queue order (priority, then first come) that is waiting, that they did not
just decline, that their capacity allows (a call takes the whole agent; chats and SMS
count against ``max_chats``), that is not kept for its sticky agent (the agent who last
served the contact, for ``sticky_wait`` seconds while that agent is free or finishing a
wrap-up), and whose
preferred skill they have when an agent with it is free.

A queue never holds a customer forever: ``max_wait`` passed, nobody signed in who may
serve the queue, or the queue closed leads to the queue's *treatment*, which the owner
carries out (a message, a callback offer, a clean hang-up). Callbacks are exempt: they
wait for an agent, keeping their place, however long it takes; so does a *patient*
message (the widget's "answer me by SMS" while nobody is there).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeAlias

from actors.queue import GONE, QueueSettings, QueueState, WorkItem, item_next

# ------------------------------------------------------------------- the state


@dataclass(frozen=True, slots=True)
class AgentView:
    """An agent as the engine sees them (reported by the agent's actor)."""

    id: str
    status: str
    skills: frozenset[str] = frozenset()
    idle_since: float = 0.0
    signed_in: bool = False  # reachable and not signed out (on break counts)
    can_call: bool = False
    can_chat: bool = False


@dataclass(frozen=True, slots=True)
class RoutingSettings:
    retry: float = 2.0  # an agent who did not take an item is not offered it again sooner
    sticky_wait: float = 20.0


@dataclass
class RouterState:
    queues: dict[str, QueueState]
    settings: RoutingSettings = field(default_factory=RoutingSettings)
    agents: dict[str, AgentView] = field(default_factory=dict)
    offered: dict[str, str] = field(default_factory=dict)  # agent -> item on offer
    where: dict[str, str] = field(default_factory=dict)  # item -> queue
    timer_seq: int = 0
    # handle times: an agent's call from acceptance until they are available again
    serving: dict[str, tuple[str, float]] = field(default_factory=dict)  # agent -> (queue, t)
    handle_times: dict[str, tuple[float, ...]] = field(default_factory=dict)  # queue -> last
    retired: set[str] = field(default_factory=set)  # gone from the config, still serving

    def item(self, item_id: str) -> WorkItem | None:
        queue = self.where.get(item_id)
        return self.queues[queue].items.get(item_id) if queue else None

    def position(self, item_id: str) -> int | None:
        queue = self.where.get(item_id)
        return self.queues[queue].position(item_id) if queue else None

    def signed_in_for(self, queue: QueueSettings) -> list[AgentView]:
        return [a for a in self.agents.values() if a.signed_in and queue.eligible(a.id, a.skills)]

    def anyone_signed_in(self, queue: QueueSettings) -> bool:
        return any(a.signed_in and queue.eligible(a.id, a.skills) for a in self.agents.values())


# -------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True)
class Enqueue:
    item: WorkItem
    closed: bool = False  # the queue is outside its opening hours now


@dataclass(frozen=True, slots=True)
class Withdraw:
    """The item leaves the queue: the customer left, or the owner took it away."""

    item_id: str
    reason: Literal["abandoned", "withdrawn"] = "abandoned"


@dataclass(frozen=True, slots=True)
class Accepted:
    item_id: str
    agent: str


@dataclass(frozen=True, slots=True)
class Declined:
    item_id: str
    agent: str
    reason: str = "no_answer"


@dataclass(frozen=True, slots=True)
class AgentUpdate:
    agent: AgentView


@dataclass(frozen=True, slots=True)
class Reconfigure:
    """The config was reloaded: these are the queues now, and the engine's settings."""

    queues: tuple[QueueSettings, ...]
    settings: RoutingSettings


@dataclass(frozen=True, slots=True)
class RouterTimer:
    kind: Literal["max_wait", "retry", "sticky"]
    item_id: str
    token: int


RouterMessage: TypeAlias = (
    Enqueue | Withdraw | Accepted | Declined | AgentUpdate | RouterTimer | Reconfigure
)

# --------------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class Offer:
    owner: str
    item_id: str
    agent: str


@dataclass(frozen=True, slots=True)
class Treat:
    owner: str
    item_id: str
    reason: Literal["max_wait", "no_agents", "closed"]
    callback: bool  # the queue offers callbacks


@dataclass(frozen=True, slots=True)
class Persist:
    """An event in the queue's own log (``queue:<id>``): its items survive a restart."""

    queue: str
    kind: Literal["item_queued", "item_left"]
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class QueueJourney:
    """An entry in the customer's journey: ``queued``, ``dequeued``, ``abandoned``."""

    contact_id: str
    kind: Literal["queued", "dequeued", "abandoned"]
    queue: str
    item_id: str
    channel: str  # the journey's channel: voice (calls, callbacks), sms, chat
    agent: str | None = None
    waited: float | None = None
    seq: int = 0  # the item's arrival number (an item may join the queue again)


@dataclass(frozen=True, slots=True)
class SetRouterTimer:
    timer: RouterTimer
    delay: float


RouterEffect: TypeAlias = Offer | Treat | Persist | QueueJourney | SetRouterTimer

Result = tuple[RouterState, list[RouterEffect]]

# ---------------------------------------------------------------------- decide


def decide(state: RouterState, msg: RouterMessage, now: float) -> Result:
    effects: list[RouterEffect] = []
    match msg:
        case Enqueue(item=item, closed=closed):
            effects += _enqueue(state, item, closed, now)
        case Withdraw(item_id=item_id, reason=reason):
            effects += _leave(
                state, item_id, "abandon" if reason == "abandoned" else "withdraw", now
            )
        case Accepted(item_id=item_id, agent=agent):
            effects += _accepted(state, item_id, agent, now)
        case Declined(item_id=item_id, agent=agent):
            effects += _declined(state, item_id, agent, now)
        case AgentUpdate(agent=view):
            effects += _agent_update(state, view, now)
        case RouterTimer():
            effects += _timer(state, msg, now)
        case Reconfigure(queues=queues, settings=settings):
            _reconfigure(state, queues, settings)
    for queue_id in [q for q in state.retired if not state.queues[q].items]:
        del state.queues[queue_id]  # its last customer has left
        state.retired.discard(queue_id)
    effects += assign(state, now)
    return state, effects


def _timer_effect(state: RouterState, kind: Any, item_id: str, delay: float) -> SetRouterTimer:
    state.timer_seq += 1
    return SetRouterTimer(RouterTimer(kind, item_id, state.timer_seq), delay)


def _enqueue(state: RouterState, item: WorkItem, closed: bool, now: float) -> list[RouterEffect]:
    queue = state.queues[item.queue]
    if item.id in state.where:
        return []  # already queued (a retried request): nothing changes
    item = queue.add(item)
    state.where[item.id] = queue.settings.id
    effects: list[RouterEffect] = [Persist(queue.settings.id, "item_queued", item.to_json())]
    if queue.settings.journal:
        effects.append(
            QueueJourney(
                item.contact_id,
                "queued",
                queue.settings.id,
                item.id,
                channel_of(item),
                seq=item.seq,
            )
        )
    if item.waits_forever:
        return effects  # a callback (or patient message) waits however long it takes
    if closed or not queue.settings.open_at(now):
        return effects + _treat(state, item, "closed", now)
    if queue.settings.treat_when_nobody and not state.anyone_signed_in(queue.settings):
        return effects + _treat(state, item, "no_agents", now)
    if queue.settings.max_wait is not None:
        waited = max(0.0, now - item.enqueued_at)
        delay = max(0.0, queue.settings.max_wait - waited)
        effects.append(_timer_effect(state, "max_wait", item.id, delay))
    if item.sticky is not None:
        effects.append(_timer_effect(state, "sticky", item.id, state.settings.sticky_wait))
    waits = [until - now for _, until in item.declined if until > now]
    if waits:  # agents who passed it just now: look again when the first may have it
        effects.append(_timer_effect(state, "retry", item.id, min(waits)))
    return effects


def _leave(state: RouterState, item_id: str, event: str, now: float) -> list[RouterEffect]:
    """The item leaves its queue (``event``: abandon, withdraw, treat, accept)."""
    item = state.item(item_id)
    if item is None:
        return []
    queue = state.queues[item.queue]
    final = item_next(item.state, event)
    queue.remove(item_id)
    del state.where[item_id]
    if item.agent is not None and state.offered.get(item.agent) == item_id:
        del state.offered[item.agent]
    waited = round(max(0.0, now - item.enqueued_at), 3)
    effects: list[RouterEffect] = [
        Persist(
            item.queue,
            "item_left",
            {"id": item_id, "reason": final, "agent": item.agent, "waited": waited},
        )
    ]
    channel = channel_of(item)
    if not queue.settings.journal:
        pass  # an implicit queue (no [[queues]] entry): not part of the journey
    elif final == "abandoned":
        effects.append(
            QueueJourney(
                item.contact_id, "abandoned", item.queue, item_id, channel, None, waited, item.seq
            )
        )
    elif final in ("assigned", "treated"):
        agent = item.agent if final == "assigned" else None
        effects.append(
            QueueJourney(
                item.contact_id, "dequeued", item.queue, item_id, channel, agent, waited, item.seq
            )
        )
    return effects


def _treat(state: RouterState, item: WorkItem, reason: Any, now: float) -> list[RouterEffect]:
    queue = state.queues[item.queue].settings
    return [
        Treat(item.owner, item.id, reason, queue.callback),
        *_leave(state, item.id, "treat", now),
    ]


def _accepted(state: RouterState, item_id: str, agent: str, now: float) -> list[RouterEffect]:
    item = state.item(item_id)
    if item is None or item.state not in ("offered", "waiting"):
        return []
    if item.agent is not None and item.agent != agent and state.offered.get(item.agent) == item_id:
        del state.offered[item.agent]  # taken by someone else: the agent on offer is free
    if item.state == "waiting":  # taken directly (a transfer, an agent picking it)
        item = replace(item, state="offered", agent=agent)
    item = replace(item, agent=agent)
    state.queues[item.queue].update(item)
    if item.kind in ("voice", "callback"):
        state.serving[agent] = (item.queue, now)
    return _leave(state, item_id, "accept", now)


def _declined(state: RouterState, item_id: str, agent: str, now: float) -> list[RouterEffect]:
    if state.offered.get(agent) == item_id:
        del state.offered[agent]
    item = state.item(item_id)
    if item is None or item.state != "offered" or item.agent != agent:
        return []
    until = now + state.settings.retry
    declined = tuple((a, u) for a, u in item.declined if a != agent and u > now)
    item = replace(
        item,
        state=item_next(item.state, "decline"),
        agent=None,
        offered_at=None,
        declined=(*declined, (agent, until)),
    )
    state.queues[item.queue].update(item)
    if item.overdue:
        return _treat(state, item, "max_wait", now)
    return [_timer_effect(state, "retry", item.id, state.settings.retry)]


def _agent_update(state: RouterState, view: AgentView, now: float) -> list[RouterEffect]:
    old = state.agents.get(view.id)
    state.agents[view.id] = view
    served = state.serving.get(view.id)
    if served is not None and view.status in ("available", "break", "offline"):
        del state.serving[view.id]  # the call and its wrap-up are over
        queue_id, since = served
        recent = (*state.handle_times.get(queue_id, ()), max(0.0, now - since))
        state.handle_times[queue_id] = recent[-HANDLE_TIMES_KEPT:]
    effects: list[RouterEffect] = []
    if old is not None and old.signed_in and not view.signed_in:
        # The agent signed out: a queue with nobody left who may serve it treats its
        # callers now rather than holding them.
        for queue in state.queues.values():
            settings = queue.settings
            if not settings.treat_when_nobody or not settings.eligible(old.id, old.skills):
                continue
            if state.anyone_signed_in(settings):
                continue
            for item in queue.in_order():
                if item.state == "waiting" and not item.waits_forever:
                    effects += _treat(state, item, "no_agents", now)
    return effects


def _reconfigure(
    state: RouterState, queues: tuple[QueueSettings, ...], settings: RoutingSettings
) -> None:
    """New settings for the queues that stay (their items keep their places; a changed
    ``max_wait`` counts for items that join from now), new queues start empty, and a
    queue that is gone from the config goes once nobody waits in it (those who wait
    are served as before)."""
    state.settings = settings
    wanted = {q.id: q for q in queues}
    for queue_id, queue in list(state.queues.items()):
        if queue_id in wanted:
            queue.settings = wanted[queue_id]
            state.retired.discard(queue_id)
        else:
            state.retired.add(queue_id)
    for queue_id, queue_settings in wanted.items():
        if queue_id not in state.queues:
            state.queues[queue_id] = QueueState(queue_settings)


def _timer(state: RouterState, timer: RouterTimer, now: float) -> list[RouterEffect]:
    item = state.item(timer.item_id)
    if item is None or timer.kind != "max_wait":
        return []  # retry and sticky only wake the matching below
    if item.state == "waiting":
        return _treat(state, item, "max_wait", now)
    state.queues[item.queue].update(replace(item, overdue=True))
    return []


# -------------------------------------------------------------------- matching


def _capable(agent: AgentView, item: WorkItem) -> bool:
    return agent.can_call if item.kind in ("voice", "callback") else agent.can_chat


def _free(state: RouterState, agent: AgentView) -> bool:
    return agent.id not in state.offered and (agent.can_call or agent.can_chat)


def _first_for(
    state: RouterState, queue: QueueState, agent: AgentView, now: float
) -> WorkItem | None:
    for item in queue.iter_order():  # lazily: the first item usually fits
        if item.state != "waiting" or item.declined_by(agent.id, now) or not _capable(agent, item):
            continue
        if item.sticky is not None and item.sticky != agent.id:
            sticky = state.agents.get(item.sticky)
            if (
                sticky is not None
                and sticky.status in ("available", "wrap_up")
                and now < item.enqueued_at + state.settings.sticky_wait
            ):
                continue  # kept a moment for the agent who knows this customer
        if (
            item.skill is not None
            and item.skill not in agent.skills
            and any(
                item.skill in other.skills and _free(state, other) and _capable(other, item)
                for other in state.agents.values()
                if other.id != agent.id
            )
        ):
            continue  # an agent with the preferred skill is free: theirs
        return item
    return None


def best_item(state: RouterState, agent: AgentView, now: float) -> WorkItem | None:
    best: WorkItem | None = None
    for queue in state.queues.values():
        if not queue.order or not queue.settings.eligible(agent.id, agent.skills):
            continue
        item = _first_for(state, queue, agent, now)
        if item is not None and (best is None or item.sort_key() < best.sort_key()):
            best = item
    return best


def assign(state: RouterState, now: float) -> list[RouterEffect]:
    """Offer waiting items to free agents, longest idle first."""
    if not state.where:
        return []
    free = sorted(
        (a for a in state.agents.values() if _free(state, a)),
        key=lambda a: (a.idle_since, a.id),
    )
    effects: list[RouterEffect] = []
    for agent in free:
        item = best_item(state, agent, now)
        if item is None:
            continue
        item = replace(item, state=item_next(item.state, "offer"), agent=agent.id, offered_at=now)
        state.queues[item.queue].update(item)
        state.offered[agent.id] = item.id
        effects.append(Offer(item.owner, item.id, agent.id))
    return effects


HANDLE_TIMES_KEPT = 20  # the recent calls a queue's average handle time is made of


def recent_handle_time(state: RouterState, queue_id: str, default: float) -> float:
    """The queue's recent average handle time (its last calls), else ``default``."""
    recent = state.handle_times.get(queue_id)
    return sum(recent) / len(recent) if recent else default


def expected_wait(state: RouterState, item_id: str, handle_time: float) -> float | None:
    """Seconds until an agent is expected for the item: its position times the queue's
    recent average handle time (:func:`recent_handle_time`; ``handle_time`` until one is
    measured), shared among the agents signed in who may serve the queue."""
    queue_id = state.where.get(item_id)
    if queue_id is None:
        return None
    queue = state.queues[queue_id]
    position = queue.position(item_id) or 1
    agents = max(1, len(state.signed_in_for(queue.settings)))
    return position * recent_handle_time(state, queue_id, handle_time) / agents


def channel_of(item: WorkItem) -> str:
    return {"voice": "voice", "callback": "voice", "sms": "sms", "chat": "chat"}[item.kind]


def gone(item: WorkItem) -> bool:
    return item.state in GONE
