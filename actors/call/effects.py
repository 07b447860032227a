"""What a call asks the shell to do, as data.

Media effects run on the call's media worker, in order; those whose outcome the call
needs report back as messages (``DialAgent``/``DialNumber``: :class:`DialFailed` when
not placed; ``PcmBridge``: :class:`BridgeDone`/:class:`BridgeFailed`). The others are
fire-and-log: a failure is logged by the shell, and the leg's own ``ended`` event (if
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
    leg: str
    prompt: Literal["greeting", "hold"]
    loop: bool = False


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
    | StopPlay
    | RecordStart
    | RecordStop
    | PcmBridge
    | PcmUnbridge
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
class FindAgent:
    """Pick the next agent to ring (marked ringing for this call): AgentFound or
    NoAgentFree. ``exclude``: agents already rung in this round."""

    skill: str | None
    exclude: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class AgentEvent:
    agent: str
    event: Literal["answered", "no_answer", "busy_elsewhere"]


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
    | FindAgent
    | AgentEvent
    | AgentLeaves
    | Journey
    | Save
    | SetTimer
    | CancelTimer
    | Log
    | Done
)
