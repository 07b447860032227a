"""What a call asks the shell to do, as data.

Media effects run on the call's media worker, in order; those whose outcome the call
needs report back as messages (``DialAgent``/``DialNumber``: :class:`DialFailed` when
not placed; ``PcmBridge`` and ``ModemLeg``: :class:`BridgeDone`/:class:`BridgeFailed`).
The others are fire-and-log: a failure is logged by the shell, and the leg's own ``ended`` event (if
any) tells the call what happened. Prompts are names (``greeting``, ``hold``): the
shell knows the files. Agents are ids: the shell knows their phones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

# ----------------------------------------------------------------------- media


@dataclass(frozen=True, slots=True)
class Answer:
    leg: str


@dataclass(frozen=True, slots=True)
class Ring:
    leg: str


@dataclass(frozen=True, slots=True)
class Reject:
    leg: str
    code: int


@dataclass(frozen=True, slots=True)
class Hangup:
    leg: str


@dataclass(frozen=True, slots=True)
class DialAgent:
    leg: str
    agent: str
    caller: str | None  # shown on the agent's phone: the customer's number


@dataclass(frozen=True, slots=True)
class DialNumber:
    leg: str
    number: str  # E.164
    trunk: str


@dataclass(frozen=True, slots=True)
class Bridge:
    a: str
    b: str


@dataclass(frozen=True, slots=True)
class Unbridge:
    a: str
    b: str


@dataclass(frozen=True, slots=True)
class Play:
    """Play a prompt by name; a prompt the shell cannot play reports PlayFinished at
    once (unless looped), so a call never waits for silence."""

    leg: str
    prompt: str  # greeting, hold, a menu's prompt, queue_max_wait, queue_closed...
    loop: bool = False
    language: str | None = None  # None: the switch's default language


@dataclass(frozen=True, slots=True)
class PlayParts:
    """Play several prompts as one (an announcement: "you are number", "3", ...)."""

    leg: str
    parts: tuple[str, ...]
    language: str | None = None


@dataclass(frozen=True, slots=True)
class StopPlay:
    leg: str


@dataclass(frozen=True, slots=True)
class RecordStart:
    leg: str


@dataclass(frozen=True, slots=True)
class RecordStop:
    leg: str


@dataclass(frozen=True, slots=True)
class PcmBridge:
    leg: str


@dataclass(frozen=True, slots=True)
class PcmUnbridge:
    leg: str


@dataclass(frozen=True, slots=True)
class ModemLeg:
    """A leg that is the GSM caller's modem PCM port (a menu before any agent):
    BridgeDone / BridgeFailed."""

    leg: str


MediaEffect: TypeAlias = (
    Answer
    | Ring
    | Reject
    | Hangup
    | DialAgent
    | DialNumber
    | Bridge
    | Unbridge
    | Play
    | PlayParts
    | StopPlay
    | RecordStart
    | RecordStop
    | PcmBridge
    | PcmUnbridge
    | ModemLeg
)

# ------------------------------------------------------------ modem and worker


@dataclass(frozen=True, slots=True)
class ModemPickUp:
    """Answer the GSM caller (ATA): reports ModemPickedUp / ModemPickupFailed."""


@dataclass(frozen=True, slots=True)
class ModemHangup:
    pass


@dataclass(frozen=True, slots=True)
class ModemDial:
    """Dial the customer on the call's modem: failure reports ModemDialFailed."""


@dataclass(frozen=True, slots=True)
class ReserveWorker:
    """Hold a free media worker for the next dial: WorkerReserved / NoWorkerFree."""


@dataclass(frozen=True, slots=True)
class ReleaseWorker:
    pass


# ---------------------------------------------------------------------- agents


@dataclass(frozen=True, slots=True)
class JoinQueue:
    """Put the call in its queue (an item the routing engine offers to agents). The
    item keeps ``queued_at``, the first time the call joined: its place."""

    queue: str
    skill: str | None
    queued_at: float


@dataclass(frozen=True, slots=True)
class LeaveQueue:
    reason: Literal["abandoned", "withdrawn"]


@dataclass(frozen=True, slots=True)
class QueueAccept:
    """The offered agent took the call: the item leaves the queue with them."""

    agent: str


@dataclass(frozen=True, slots=True)
class QueueDecline:
    """The offered agent did not take the call: the item is offered to someone else."""

    agent: str
    reason: str


@dataclass(frozen=True, slots=True)
class QueryQueue:
    """Ask the routing engine where the call's item stands: QueueStatus."""


@dataclass(frozen=True, slots=True)
class RingAgent:
    """Mark the agent ringing for this call: AgentRung, or AgentBusy if they cannot."""

    agent: str


@dataclass(frozen=True, slots=True)
class AgentEvent:
    agent: str
    event: Literal["answered", "no_answer", "missed", "busy_elsewhere"]


@dataclass(frozen=True, slots=True)
class AgentLeaves:
    """The agent's part of the call is over: wrap-up, then available."""

    agent: str


# --------------------------------------------------------------- records, time


@dataclass(frozen=True, slots=True)
class Journey:
    """An entry in the customer's journey (``call_<phase>``)."""

    phase: Literal["started", "answered", "ended", "transferred"]
    agent: str | None = None
    cause: str | None = None
    target: str | None = None
    recording_seconds: float | None = None
    note: str | None = None  # a transfer's note, for its target


@dataclass(frozen=True, slots=True)
class IvrChoice:
    """An ``ivr_choice`` entry in the customer's journey: the digits pressed in a menu or
    the answer to a question (``via`` = the menu's or the question's id)."""

    via: str
    text: str


@dataclass(frozen=True, slots=True)
class Save:
    """Write the call's record (what ``GET /api/v1/calls`` shows)."""


@dataclass(frozen=True, slots=True)
class SetTimer:
    name: str
    delay: float
    token: int


@dataclass(frozen=True, slots=True)
class CancelTimer:
    name: str


@dataclass(frozen=True, slots=True)
class Log:
    event: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Done:
    """The call is over and its journey is complete: the shell forgets it."""


Effect: TypeAlias = (
    MediaEffect
    | ModemPickUp
    | ModemHangup
    | ModemDial
    | ReserveWorker
    | ReleaseWorker
    | JoinQueue
    | LeaveQueue
    | QueueAccept
    | QueueDecline
    | QueryQueue
    | RingAgent
    | AgentEvent
    | AgentLeaves
    | Journey
    | IvrChoice
    | Save
    | SetTimer
    | CancelTimer
    | Log
    | Done
)
