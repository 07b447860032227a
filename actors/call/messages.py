"""What a call is told: media events of its legs, the results of its effects, timers,
the modem's side of a GSM call, its queue's offers and treatment (:mod:`actors.queue`),
and requests (transfer, end).

Small frozen values; the shell builds them from worker events, modem events, the agent
router's answers and API requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from actors.queue import QueueOffer, QueueTreatment

__all__ = ["QueueOffer", "QueueTreatment"]  # re-exported: what a queue tells a call


@dataclass(frozen=True, slots=True)
class Begin:
    """The call exists (its state was built by the shell): start it.

    ``refuse`` (an agent's dial-out only): the route is busy, end at once with this
    cause and SIP code."""

    refuse: tuple[str, int] | None = None


# ------------------------------------------------------------------- media events


@dataclass(frozen=True, slots=True)
class LegAnswered:
    leg: str


@dataclass(frozen=True, slots=True)
class LegEnded:
    leg: str
    code: int | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class DtmfReceived:
    leg: str
    digit: str


@dataclass(frozen=True, slots=True)
class PlayFinished:
    leg: str


@dataclass(frozen=True, slots=True)
class RecordingDone:
    leg: str
    path: str
    duration: float


# ------------------------------------------------------------- effects' results


@dataclass(frozen=True, slots=True)
class DialFailed:
    """The worker did not place a dial (the leg never existed)."""

    leg: str
    error: str = ""


@dataclass(frozen=True, slots=True)
class BridgeDone:
    leg: str


@dataclass(frozen=True, slots=True)
class BridgeFailed:
    leg: str
    error: str = ""


@dataclass(frozen=True, slots=True)
class AgentRung:
    """The agent took the ring (marked ringing for this call): dial their phone."""

    agent: str


@dataclass(frozen=True, slots=True)
class AgentBusy:
    """The agent cannot be rung any more (their state changed since the offer)."""

    agent: str


@dataclass(frozen=True, slots=True)
class QueueStatus:
    """Where the call's item stands in its queue (None: not known, e.g. no agent)."""

    position: int | None
    expected_wait: float | None  # seconds


@dataclass(frozen=True, slots=True)
class WorkerReserved:
    worker: int


@dataclass(frozen=True, slots=True)
class NoWorkerFree:
    pass


@dataclass(frozen=True, slots=True)
class TimerFired:
    name: str
    token: int


# ------------------------------------------------------------------- the modem


@dataclass(frozen=True, slots=True)
class ModemAnswered:
    """Outgoing GSM: the customer answered the modem's call."""


@dataclass(frozen=True, slots=True)
class ModemEnded:
    """The modem's call is over (the customer or the network ended it)."""

    cause: str | None = None


@dataclass(frozen=True, slots=True)
class ModemDialFailed:
    reason: str  # a modem failure name ("busy", "modem_busy", ...) or "dial_failed"


@dataclass(frozen=True, slots=True)
class ModemPickedUp:
    """Incoming GSM: our ATA succeeded."""


@dataclass(frozen=True, slots=True)
class ModemPickupFailed:
    error: str = ""


# ---------------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class TransferTo:
    """Transfer the answered call. For an agent target the shell has already marked the
    agent ringing for this call (and undoes it if the call refuses)."""

    kind: Literal["agent", "number", "queue"]
    target: str  # agent id, E.164 number or queue id
    trunk: str | None = None  # number: the trunk it goes out through
    # attended: the target rings while the customer still talks with the agent, who is
    # replaced when the target answers (the default for an agent); blind: the agent
    # leaves at once (the default for a number, the only way to a queue); consult: the
    # customer waits on hold while the agent talks with the target, then completes
    mode: Literal["attended", "consult", "blind"] | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class CompleteTransfer:
    """The agent hands the customer to the target they consulted."""


@dataclass(frozen=True, slots=True)
class CancelTransfer:
    """The agent takes the customer back (the target is hung up)."""


@dataclass(frozen=True, slots=True)
class EndCall:
    """End the call now (the switch stops, an operator hangs it up)."""

    cause: str


CallMessage: TypeAlias = (
    Begin
    | LegAnswered
    | LegEnded
    | DtmfReceived
    | PlayFinished
    | RecordingDone
    | DialFailed
    | BridgeDone
    | BridgeFailed
    | AgentRung
    | AgentBusy
    | QueueOffer
    | QueueTreatment
    | QueueStatus
    | WorkerReserved
    | NoWorkerFree
    | TimerFired
    | ModemAnswered
    | ModemEnded
    | ModemDialFailed
    | ModemPickedUp
    | ModemPickupFailed
    | TransferTo
    | CompleteTransfer
    | CancelTransfer
    | EndCall
)
