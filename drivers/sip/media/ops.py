"""The media-plane API as the core sees it: typed commands to a worker, typed events
from it.

A command is a small frozen value; :func:`command_args` turns it into the wire op and
its arguments (``drivers.sip.media.protocol``). An event from a worker is parsed once, at
the pool's edge, by :func:`parse_event`; past that point the core matches on types,
never on strings. Leg ids are chosen by the core for the legs it dials and by the
worker (``w<worker>-<n>``) for the legs that arrive.

The core's vocabulary: must not import the pool, the worker process, pjsua2 or the edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TypeAlias

# ------------------------------------------------------------------ commands


@dataclass(frozen=True, slots=True)
class Answer:
    op: ClassVar[str] = "answer"
    leg: str


@dataclass(frozen=True, slots=True)
class Ring:
    """180 Ringing to an incoming leg (the caller hears ring back)."""

    op: ClassVar[str] = "ring"
    leg: str


@dataclass(frozen=True, slots=True)
class Reject:
    op: ClassVar[str] = "reject"
    leg: str
    code: int


@dataclass(frozen=True, slots=True)
class Dial:
    op: ClassVar[str] = "dial"
    leg: str
    uri: str
    from_user: str | None = None
    headers: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Bridge:
    op: ClassVar[str] = "bridge"
    a: str
    b: str


@dataclass(frozen=True, slots=True)
class Unbridge:
    op: ClassVar[str] = "unbridge"
    a: str
    b: str


@dataclass(frozen=True, slots=True)
class Play:
    op: ClassVar[str] = "play"
    leg: str
    file: str
    loop: bool = False


@dataclass(frozen=True, slots=True)
class StopPlay:
    op: ClassVar[str] = "stop_play"
    leg: str


@dataclass(frozen=True, slots=True)
class RecordStart:
    op: ClassVar[str] = "record_start"
    leg: str
    path: str


@dataclass(frozen=True, slots=True)
class RecordStop:
    op: ClassVar[str] = "record_stop"
    leg: str


@dataclass(frozen=True, slots=True)
class SendDtmf:
    op: ClassVar[str] = "send_dtmf"
    leg: str
    digits: str


@dataclass(frozen=True, slots=True)
class Hangup:
    op: ClassVar[str] = "hangup"
    leg: str
    code: int | None = None


@dataclass(frozen=True, slots=True)
class PcmBridge:
    """Connect a leg with a modem's raw PCM voice port (a GSM call)."""

    op: ClassVar[str] = "pcm_bridge"
    leg: str
    path: str


@dataclass(frozen=True, slots=True)
class PcmUnbridge:
    op: ClassVar[str] = "pcm_unbridge"
    leg: str


@dataclass(frozen=True, slots=True)
class PcmLeg:
    """A leg that *is* a modem's PCM port (a GSM caller answered before any agent):
    prompts play to it, its keys are heard in band (``dtmf`` method ``audio``), it
    bridges with a SIP leg like any leg; ``hangup`` ends it (``ended``)."""

    op: ClassVar[str] = "pcm_leg"
    leg: str
    path: str


MediaCommand: TypeAlias = (
    Answer
    | Ring
    | Reject
    | Dial
    | Bridge
    | Unbridge
    | Play
    | StopPlay
    | RecordStart
    | RecordStop
    | SendDtmf
    | Hangup
    | PcmBridge
    | PcmUnbridge
    | PcmLeg
)

# The wire name of a leg argument (the protocol calls a leg "call").
_WIRE_NAMES = {"leg": "call"}


def command_args(cmd: MediaCommand) -> tuple[str, dict[str, Any]]:
    """``(op, args)`` for the wire: unset optional arguments are left out."""
    args: dict[str, Any] = {}
    for f in fields(cmd):
        value = getattr(cmd, f.name)
        if value is None:
            continue
        args[_WIRE_NAMES.get(f.name, f.name)] = value
    return cmd.op, args


# -------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Incoming:
    """A new leg arrived at the worker (through the edge)."""

    leg: str
    from_uri: str
    to_uri: str
    ruri: str
    sip_call_id: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Ringing:
    leg: str
    code: int | None = None


@dataclass(frozen=True, slots=True)
class Answered:
    leg: str


@dataclass(frozen=True, slots=True)
class Dtmf:
    leg: str
    digit: str
    method: str = "rfc4733"


@dataclass(frozen=True, slots=True)
class Ended:
    """The leg is over. ``reason`` ``worker_died`` means its worker process died."""

    leg: str
    code: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class PlayDone:
    leg: str


@dataclass(frozen=True, slots=True)
class RecordDone:
    leg: str
    path: str
    duration: float


MediaEvent: TypeAlias = Incoming | Ringing | Answered | Dtmf | Ended | PlayDone | RecordDone


def parse_event(name: str, args: dict[str, Any]) -> MediaEvent | None:
    """The typed event for a worker's ``name``/``args`` (already checked against the
    protocol's tables); None for events the call plane does not use."""
    leg = str(args.get("call", ""))
    code = args.get("code")
    match name:
        case "incoming":
            headers = args.get("headers") or {}
            return Incoming(
                leg,
                str(args.get("from", "")),
                str(args.get("to", "")),
                str(args.get("ruri", "")),
                str(args.get("call_id", "")),
                {str(k): str(v) for k, v in dict(headers).items()},
            )
        case "ringing":
            return Ringing(leg, code if isinstance(code, int) else None)
        case "answered":
            return Answered(leg)
        case "dtmf":
            return Dtmf(leg, str(args.get("digit", "")), str(args.get("method", "rfc4733")))
        case "ended":
            return Ended(leg, code if isinstance(code, int) else None, str(args.get("reason", "")))
        case "play_done":
            return PlayDone(leg)
        case "record_done":
            return RecordDone(leg, str(args.get("path", "")), float(args.get("duration", 0.0)))
    return None
