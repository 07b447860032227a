"""A callback the customer asked for: its place in a queue, its attempts, its outcome.

Rules: everything that changes a callback lives here, as a table and a pure
``decide(state, message, now) -> (state, effects)``; the shell (``switch.center``)
performs the effects (the queue, the call, the SMS, the store). Imports nothing of ours
but ``base`` and the queue's values.

Theory of operation
-------------------
A callback is a work item of kind ``callback`` in its queue. Its place counts from when
the customer first joined the queue (a caller who pressed 1 keeps the caller's place;
one asked through the API or by SMS joins at the time of asking), and it keeps that
place across restarts and between attempts.

When the queue offers an agent, the callback has the switch call the agent first (who
sees whose callback it is), then the customer, through the route the number needs (a
trunk or a modem); once that call is placed the item leaves the queue with the agent
(a call that could not be placed declines the offer: the queue tries someone else).
The outcome:

- the customer answered: ``done``;
- the agent did not take the call: back to ``waiting`` at the same place at once;
- the customer did not answer (busy, no answer, refused): another attempt after
  ``spacing`` seconds, at the same place; after ``attempts`` tries, ``failed`` with the
  reason, and an SMS tells the customer.

The states (:data:`TRANSITIONS`): ``waiting`` -> ``dialing`` -> ``connected`` (the
customer answered) -> ``done``; ``dialing`` -> ``waiting`` (agent away) or
``retry_wait`` -> ``waiting``; ``dialing`` -> ``failed``; a cancel from ``waiting`` or
``retry_wait`` -> ``failed``. A restart during ``dialing`` or ``connected``
loses the call (it died with the process): the callback goes back to ``waiting``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal, TypeAlias

from actors.queue import QueueOffer, QueueTreatment, WorkItem
from base.errors import ProtocolError

State = Literal["waiting", "dialing", "connected", "retry_wait", "done", "failed"]

TRANSITIONS: dict[State, dict[str, State]] = {
    "waiting": {"offered": "dialing", "cancel": "failed"},
    "dialing": {
        "agent_away": "waiting",
        "customer_answered": "connected",
        "customer_missed": "retry_wait",
        "gave_up": "failed",
        "lost": "waiting",
        "not_placed": "waiting",
    },
    "connected": {"ended": "done", "lost": "done"},
    "retry_wait": {"retry": "waiting", "cancel": "failed"},
    "done": {},
    "failed": {},
}
LIVE: frozenset[State] = frozenset({"waiting", "dialing", "connected", "retry_wait"})


def next_state(state: State, event: str) -> State:
    row = TRANSITIONS[state]
    if event not in row:
        raise ProtocolError(f"callback: {event!r} while {state!r}")
    return row[event]


@dataclass(frozen=True, slots=True)
class CallbackPolicy:
    attempts: int = 3  # calls to the customer before giving up
    spacing: float = 120.0  # seconds between two attempts


@dataclass(frozen=True, slots=True)
class CallbackState:
    id: str
    phone: str  # E.164
    queue: str
    contact_id: str
    queued_at: float  # the place: when the customer first joined the queue
    requested_at: float
    seq: int = 0  # the place among items that joined at the same time
    language: str = "en"
    state: State = "waiting"
    attempts: int = 0  # calls placed to the customer
    agent: str | None = None
    call_id: str | None = None
    reason: str | None = None  # why it failed
    policy: CallbackPolicy = CallbackPolicy()

    def item(self) -> WorkItem:
        return WorkItem(
            id=self.id,
            owner=f"callback:{self.id}",
            kind="callback",
            contact_id=self.contact_id,
            queue=self.queue,
            enqueued_at=self.queued_at,
            phone=self.phone,
            seq=self.seq,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "phone": self.phone,
            "queue": self.queue,
            "contact_id": self.contact_id,
            "queued_at": self.queued_at,
            "requested_at": self.requested_at,
            "seq": self.seq,
            "language": self.language,
            "state": self.state,
            "attempts": self.attempts,
            "agent": self.agent,
            "call_id": self.call_id,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], policy: CallbackPolicy) -> CallbackState:
        return cls(
            id=str(data["id"]),
            phone=str(data["phone"]),
            queue=str(data["queue"]),
            contact_id=str(data["contact_id"]),
            queued_at=float(data["queued_at"]),
            requested_at=float(data["requested_at"]),
            seq=int(data.get("seq", 0)),
            language=str(data.get("language", "en")),
            state=data.get("state", "waiting"),
            attempts=int(data.get("attempts", 0)),
            agent=data.get("agent"),
            call_id=data.get("call_id"),
            reason=data.get("reason"),
            policy=policy,
        )


# ------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True)
class CallPlaced:
    """The switch placed the callback's call (ringing the agent first)."""

    call_id: str


@dataclass(frozen=True, slots=True)
class CallNotPlaced:
    error: str


@dataclass(frozen=True, slots=True)
class CustomerAnswered:
    """The customer picked up the callback's call (the agent is on the line)."""

    call_id: str


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """The callback's call is over: did the agent take it, did the customer answer."""

    call_id: str
    agent_answered: bool
    customer_answered: bool
    cause: str


@dataclass(frozen=True, slots=True)
class Retry:
    """The spacing after a missed attempt is over (a timer)."""

    attempt: int


@dataclass(frozen=True, slots=True)
class Recovered:
    """The switch restarted: whatever call the callback had died with it."""


@dataclass(frozen=True, slots=True)
class Cancel:
    reason: str


CallbackMessage: TypeAlias = (
    QueueOffer
    | QueueTreatment
    | CallPlaced
    | CallNotPlaced
    | CustomerAnswered
    | CallOutcome
    | Retry
    | Recovered
    | Cancel
)

# -------------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class Record:
    """Write the callback's state (its own log) before anything else happens."""

    kind: str  # the event's name in the callback's log


@dataclass(frozen=True, slots=True)
class TakeFromQueue:
    agent: str


@dataclass(frozen=True, slots=True)
class BackInQueue:
    """Join the queue again at the callback's old place."""


@dataclass(frozen=True, slots=True)
class LeaveQueue:
    pass


@dataclass(frozen=True, slots=True)
class DeclineOffer:
    agent: str


@dataclass(frozen=True, slots=True)
class PlaceCall:
    """Call the agent, then the customer; the outcome comes back as CallOutcome."""

    agent: str


@dataclass(frozen=True, slots=True)
class AgentMissed:
    """The agent offered the callback did not take its call."""

    agent: str


@dataclass(frozen=True, slots=True)
class Journey:
    kind: Literal["callback_dialed", "callback_failed", "callback_done"]
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Notify:
    """An SMS to the customer (their language): ``failed``."""

    text: Literal["failed"]


@dataclass(frozen=True, slots=True)
class WakeAfter:
    seconds: float
    attempt: int


CallbackEffect: TypeAlias = (
    Record
    | TakeFromQueue
    | BackInQueue
    | LeaveQueue
    | DeclineOffer
    | PlaceCall
    | AgentMissed
    | Journey
    | Notify
    | WakeAfter
)
Result = tuple[CallbackState, list[CallbackEffect]]

_CUSTOMER_FAULTS = frozenset(
    {"busy", "no_answer", "rejected", "cancelled", "not_found", "unavailable", "customer_hangup"}
)


def decide(state: CallbackState, msg: CallbackMessage, now: float) -> Result:
    match msg:
        case QueueOffer(agent=agent):
            if state.state != "waiting":
                return state, [DeclineOffer(agent)]  # (a stale offer)
            new = replace(state, state=next_state(state.state, "offered"), agent=agent)
            return new, [Record("dialing"), PlaceCall(agent)]
        case QueueTreatment():
            return state, []  # callbacks wait however long it takes: nothing to do
        case CallPlaced(call_id=call_id):
            if state.state != "dialing":
                return state, []
            new = replace(state, call_id=call_id, attempts=state.attempts + 1)
            dialed = Journey(
                "callback_dialed",
                {"callback": state.id, "agent": state.agent, "attempt": new.attempts},
            )
            assert state.agent is not None
            return new, [Record("call_placed"), TakeFromQueue(state.agent), dialed]
        case CallNotPlaced():
            if state.state != "dialing" or state.agent is None:
                return state, []
            new = replace(state, state=next_state(state.state, "not_placed"), agent=None)
            return new, [Record("not_placed"), DeclineOffer(state.agent)]
        case CustomerAnswered(call_id=call_id):
            if state.state != "dialing" or call_id != state.call_id:
                return state, []
            new = replace(state, state=next_state(state.state, "customer_answered"))
            return new, [Record("connected")]
        case CallOutcome(call_id=call_id) if call_id != state.call_id:
            return state, []
        case CallOutcome(agent_answered=agent_answered, customer_answered=answered, cause=cause):
            if state.state == "connected" or (state.state == "dialing" and answered):
                new = replace(state, state="done")
                return new, [Record("done"), Journey("callback_done", {"callback": state.id})]
            if state.state != "dialing":
                return state, []
            if not agent_answered:
                new = replace(state, state=next_state(state.state, "agent_away"), agent=None)
                missed: list[CallbackEffect] = [AgentMissed(state.agent)] if state.agent else []
                return new, [Record("agent_away"), BackInQueue(), *missed]
            if state.attempts >= state.policy.attempts or cause not in _CUSTOMER_FAULTS:
                reason = cause if cause not in _CUSTOMER_FAULTS else f"{cause} ({state.attempts}x)"
                new = replace(state, state=next_state(state.state, "gave_up"), reason=reason)
                return new, [
                    Record("failed"),
                    Journey("callback_failed", {"callback": state.id, "reason": reason}),
                    Notify("failed"),
                ]
            new = replace(state, state=next_state(state.state, "customer_missed"), agent=None)
            return new, [Record("retry_wait"), WakeAfter(state.policy.spacing, state.attempts)]
        case Retry(attempt=attempt):
            if state.state != "retry_wait" or attempt != state.attempts:
                return state, []
            new = replace(state, state=next_state(state.state, "retry"))
            return new, [Record("waiting"), BackInQueue()]
        case Recovered():
            if state.state in ("dialing", "connected"):
                event = "lost"
                new = replace(state, state=next_state(state.state, event), agent=None)
                if new.state == "waiting":
                    return new, [Record("recovered"), BackInQueue()]
                return new, [Record("recovered")]
            if state.state == "waiting":
                return state, [BackInQueue()]  # (already in the queue's log: idempotent)
            if state.state == "retry_wait":
                return state, [WakeAfter(0.0, state.attempts)]
            return state, []
        case Cancel(reason=reason):
            if state.state not in ("waiting", "retry_wait"):
                return state, []
            leave: list[CallbackEffect] = [LeaveQueue()] if state.state == "waiting" else []
            new = replace(state, state=next_state(state.state, "cancel"), reason=reason)
            return new, [Record("failed"), *leave]
    raise TypeError(f"a callback cannot handle {type(msg).__name__}")
