"""A messaging conversation (SMS now, web chat later) as a work item for agents.

Rules: everything that changes a conversation lives here, as a table and a pure
``decide(state, message, now) -> (state, effects)``; the shell (``switch.center``)
performs the effects. Imports nothing of ours but ``base`` and the queue's values.

Theory of operation
-------------------
One actor per contact and channel (``conv:<contact>.<channel>``) keeps the contact's
current conversation on that channel. A message from a customer with no open
conversation opens one: a work item in the queue its route names, its place counted
from that first message. The queue assigns it to an agent (a chat counts against the
agent's ``max_chats``; no ringing: the agent sees it in their desktop). The agent
replies through the API; a customer waiting longer than ``reply_timeout`` for an
answer goes back to the queue at the same place (and the agent is freed). The
conversation is closed by the agent, or after ``idle_close`` seconds without a message
either way. If the queue gives up (closed, nobody signed in, max wait) the customer gets
one automatic answer saying so, and the conversation closes: their next message opens a
new one. A *patient* conversation (the widget's "answer me by SMS" when nobody is
there) is exempt: it waits for an agent, keeping its place, like a callback.

When two contacts merge (a web visitor proves their phone number), the open
conversation of the contact merged away moves to the one it joins (``MoveOut`` there,
``MoveIn`` here): a waiting one keeps its place, an assigned one its agent. If the
contact joined already has one open on the channel, that one stays and the moved one
is closed.

The states (:data:`TRANSITIONS`): ``idle`` -> ``queued`` -> ``assigned`` ->
``closed``/``idle``; ``assigned`` -> ``queued`` (no reply in time); ``queued`` /
``assigned`` -> ``idle`` (moved out) and ``idle`` -> ``queued`` / ``assigned`` (moved in).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal, TypeAlias

from actors.queue import QueueOffer, QueueTreatment, WorkItem
from base.errors import ProtocolError

State = Literal["idle", "queued", "assigned"]

TRANSITIONS: dict[State, dict[str, State]] = {
    "idle": {"customer_wrote": "queued", "moved_in_queued": "queued", "moved_in": "assigned"},
    "queued": {
        "customer_wrote": "queued",
        "offered": "assigned",
        "treated": "idle",
        "agent_replied": "queued",
        "closed": "idle",
        "moved_out": "idle",
    },
    "assigned": {
        "customer_wrote": "assigned",
        "agent_replied": "assigned",
        "reply_overdue": "queued",
        "closed": "idle",
        "idle_timeout": "idle",
        "moved_out": "idle",
    },
}


def next_state(state: State, event: str) -> State:
    row = TRANSITIONS[state]
    if event not in row:
        raise ProtocolError(f"conversation: {event!r} while {state!r}")
    return row[event]


@dataclass(frozen=True, slots=True)
class ConversationPolicy:
    reply_timeout: float = 300.0  # the customer waits this long for an agent's answer
    idle_close: float = 3600.0  # no message either way: the conversation closes


@dataclass(frozen=True, slots=True)
class ConversationState:
    contact_id: str
    channel: Literal["sms", "chat"]
    queue: str = "default"
    state: State = "idle"
    id: str | None = None  # the open conversation's id
    agent: str | None = None
    opened_at: float | None = None  # its place: the customer's first message
    last_at: float | None = None  # the last message, either way
    reply_due: float | None = None  # the customer waits for an answer until then
    via: str | None = None  # the modem (or widget) the customer last wrote through
    sticky: str | None = None  # who served the customer last
    seq: int = 0  # timer numbering
    passed: tuple[tuple[str, float], ...] = ()  # (agent, until): not offered it again soon
    reply_token: int = 0  # the reply timer that counts (older ones are stale)
    idle_token: int = 0
    patient: bool = False  # waits for an agent however long (no treatment)
    policy: ConversationPolicy = ConversationPolicy()

    @property
    def actor_id(self) -> str:
        return f"conv:{self.contact_id}.{self.channel}"

    def item(self) -> WorkItem:
        assert self.id is not None and self.opened_at is not None
        return WorkItem(
            id=self.id,
            owner=self.actor_id,
            kind=self.channel,
            contact_id=self.contact_id,
            queue=self.queue,
            enqueued_at=self.opened_at,
            sticky=self.sticky,
            declined=self.passed,
            patient=self.patient,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "contact_id": self.contact_id,
            "channel": self.channel,
            "queue": self.queue,
            "state": self.state,
            "id": self.id,
            "agent": self.agent,
            "opened_at": self.opened_at,
            "last_at": self.last_at,
            "reply_due": self.reply_due,
            "via": self.via,
            "patient": self.patient,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], policy: ConversationPolicy) -> ConversationState:
        return cls(
            contact_id=str(data["contact_id"]),
            channel=data["channel"],
            queue=str(data.get("queue", "default")),
            state=data.get("state", "idle"),
            id=data.get("id"),
            agent=data.get("agent"),
            opened_at=data.get("opened_at"),
            last_at=data.get("last_at"),
            reply_due=data.get("reply_due"),
            via=data.get("via"),
            patient=bool(data.get("patient", False)),
            policy=policy,
        )


# ------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True)
class CustomerWrote:
    message_id: str
    at: float
    via: str
    queue: str  # where a new conversation goes (the route of ``via``)
    sticky: str | None = None
    patient: bool = False  # a new conversation waits for an agent however long


@dataclass(frozen=True, slots=True)
class AgentReplied:
    agent: str | None
    at: float


@dataclass(frozen=True, slots=True)
class Close:
    """The agent (or an operator) closes the conversation."""

    by: str


@dataclass(frozen=True, slots=True)
class ChatRefused:
    """The agent offered could not take one more conversation."""

    agent: str


@dataclass(frozen=True, slots=True)
class Timer:
    name: Literal["reply", "idle"]
    token: int


@dataclass(frozen=True, slots=True)
class Recovered:
    """The switch restarted: put an assigned conversation's agent back in their count."""


@dataclass(frozen=True, slots=True)
class MoveOut:
    """The contact was merged into another: give up the open conversation (the answer
    is the state it had, for :class:`MoveIn` on the other contact)."""


@dataclass(frozen=True, slots=True)
class MoveIn:
    """Take over the conversation of a contact merged into this one."""

    prior: ConversationState


ConversationMessage: TypeAlias = (
    CustomerWrote
    | AgentReplied
    | Close
    | ChatRefused
    | Timer
    | Recovered
    | QueueOffer
    | QueueTreatment
    | MoveOut
    | MoveIn
)

# -------------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class Record:
    kind: str


@dataclass(frozen=True, slots=True)
class Enqueue:
    pass


@dataclass(frozen=True, slots=True)
class Withdraw:
    pass


@dataclass(frozen=True, slots=True)
class Assign:
    """Count the conversation against the agent (ChatRefused if they cannot) and take
    the item out of the queue with them."""

    agent: str
    item: str


@dataclass(frozen=True, slots=True)
class Release:
    """The agent no longer has the conversation."""

    agent: str
    item: str


@dataclass(frozen=True, slots=True)
class Decline:
    agent: str


@dataclass(frozen=True, slots=True)
class AutoReply:
    reason: str  # the queue's treatment: closed, no_agents, max_wait


@dataclass(frozen=True, slots=True)
class Arm:
    name: Literal["reply", "idle"]
    delay: float
    token: int


ConversationEffect: TypeAlias = (
    Record | Enqueue | Withdraw | Assign | Release | Decline | AutoReply | Arm
)
Result = tuple[ConversationState, list[ConversationEffect]]


def _arm(state: ConversationState, name: Literal["reply", "idle"], delay: float) -> Result:
    token = state.seq + 1
    if name == "reply":
        state = replace(state, seq=token, reply_token=token)
    else:
        state = replace(state, seq=token, idle_token=token)
    return state, [Arm(name, delay, token)]


def _move_in(state: ConversationState, prior: ConversationState, now: float) -> Result:
    if prior.state == "idle" or prior.id is None:
        return state, []
    if state.state != "idle":  # this contact has its own: the moved one is closed
        return state, [Release(prior.agent, prior.id)] if prior.agent else []
    event = "moved_in" if prior.state == "assigned" else "moved_in_queued"
    state = replace(
        state,
        state=next_state(state.state, event),
        id=prior.id,
        queue=prior.queue,
        agent=prior.agent if prior.state == "assigned" else None,
        opened_at=prior.opened_at,
        last_at=prior.last_at,
        reply_due=prior.reply_due,
        via=prior.via,
        sticky=prior.sticky,
        patient=prior.patient,
    )
    effects: list[ConversationEffect] = [Record("moved_in")]
    if state.state == "queued":
        effects.append(Enqueue())
    elif state.reply_due is not None:
        state, arm = _arm(state, "reply", max(0.0, state.reply_due - now))
        effects += arm
    state, idle = _arm(state, "idle", state.policy.idle_close)
    return state, [*effects, *idle]


def decide(state: ConversationState, msg: ConversationMessage, now: float) -> Result:
    policy = state.policy
    match msg:
        case CustomerWrote(message_id=message_id, at=at, via=via, queue=queue, sticky=sticky):
            effects: list[ConversationEffect] = []
            if state.state == "idle":
                state = replace(
                    state,
                    state=next_state(state.state, "customer_wrote"),
                    id=f"{state.contact_id}.{state.channel}.{message_id}",
                    queue=queue,
                    agent=None,
                    opened_at=at,
                    sticky=sticky,
                    patient=msg.patient,
                )
                effects += [Record("opened"), Enqueue()]
            else:
                state = replace(state, state=next_state(state.state, "customer_wrote"))
            due = state.reply_due if state.reply_due is not None else at + policy.reply_timeout
            state = replace(state, last_at=at, via=via, reply_due=due)
            if state.state == "assigned":
                state, arm = _arm(state, "reply", max(0.0, due - now))
                effects += arm
            state, idle = _arm(state, "idle", policy.idle_close)
            return state, [*effects, Record("customer_wrote"), *idle]
        case AgentReplied(at=at):
            if state.state == "idle":
                return state, []  # (a message to a customer with nothing open)
            state = replace(
                state,
                state=next_state(state.state, "agent_replied"),
                last_at=at,
                reply_due=None,
            )
            state, idle = _arm(state, "idle", policy.idle_close)
            return state, [Record("agent_replied"), *idle]
        case QueueOffer(agent=agent):
            if state.state != "queued":
                return state, [Decline(agent)]
            state = replace(state, state=next_state(state.state, "offered"), agent=agent)
            assert state.id is not None
            effects = [Assign(agent, state.id), Record("assigned")]
            if state.reply_due is not None:  # the agent gets the whole time to answer
                due = max(state.reply_due, now + policy.reply_timeout)
                state = replace(state, reply_due=due)
                state, arm = _arm(state, "reply", due - now)
                effects += arm
            return state, effects
        case ChatRefused(agent=agent):
            if state.state != "assigned" or state.agent != agent:
                return state, []
            state = replace(state, state="queued", agent=None)
            return state, [Record("refused"), Decline(agent)]
        case QueueTreatment(reason=reason):
            if state.state != "queued":
                return state, []
            state = replace(
                state, state=next_state(state.state, "treated"), id=None, agent=None, reply_due=None
            )
            return state, [AutoReply(reason), Record("treated")]
        case Close():
            if state.state == "idle" or state.id is None:
                return state, []
            effects = [Release(state.agent, state.id)] if state.agent else []
            if state.state == "queued":
                effects.append(Withdraw())
            state = replace(
                state, state=next_state(state.state, "closed"), id=None, agent=None, reply_due=None
            )
            return state, [*effects, Record("closed")]
        case Timer(name=name, token=token):
            if token != (state.reply_token if name == "reply" else state.idle_token):
                return state, []  # a newer timer of its kind replaced it
            if name == "reply" and state.state == "assigned" and state.reply_due is not None:
                if now < state.reply_due:
                    return _arm(state, "reply", state.reply_due - now)
                was, item = state.agent, state.id or ""
                passed = ((was, now + policy.reply_timeout),) if was else ()
                state = replace(
                    state,
                    state=next_state(state.state, "reply_overdue"),
                    agent=None,
                    passed=passed,
                    sticky=None,
                )
                state, idle = _arm(state, "idle", policy.idle_close)
                release: list[ConversationEffect] = [Release(was, item)] if was else []
                return state, [*release, Record("reply_overdue"), Enqueue(), *idle]
            if name == "idle" and state.state == "assigned":
                if state.last_at is not None and now < state.last_at + policy.idle_close:
                    return _arm(state, "idle", state.last_at + policy.idle_close - now)
                was, item = state.agent, state.id or ""
                state = replace(
                    state, state=next_state(state.state, "idle_timeout"), id=None, agent=None
                )
                release = [Release(was, item)] if was else []
                return state, [*release, Record("idle_closed")]
            return state, []
        case Recovered():
            if state.state == "assigned" and state.agent is not None and state.id is not None:
                effects = [Assign(state.agent, state.id)]
                if state.reply_due is not None:
                    state, arm = _arm(state, "reply", max(0.0, state.reply_due - now))
                    effects += arm
                state, idle = _arm(state, "idle", policy.idle_close)
                return state, [*effects, *idle]
            if state.state == "queued":
                return state, [Enqueue()]
            return state, []
        case MoveOut():
            if state.state == "idle":
                return state, []
            effects = [Withdraw()] if state.state == "queued" else []
            state = replace(
                state,
                state=next_state(state.state, "moved_out"),
                id=None,
                agent=None,
                reply_due=None,
                patient=False,
            )
            return state, [*effects, Record("moved_out")]
        case MoveIn(prior=prior):
            return _move_in(state, prior, now)
    raise TypeError(f"a conversation cannot handle {type(msg).__name__}")
