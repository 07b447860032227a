"""Messages the channel drivers and the API send to contact actors.

Identities are canonical strings: ``phone:+85512345678`` (E.164, normalised at the edge),
``web:<session id>``, ``email:<lower-case address>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from actors.store import Put

Channel = Literal["sms", "voice", "chat", "note"]
CallPhase = Literal["started", "answered", "ended", "transferred"]

JOURNEY_KINDS = frozenset(
    {
        "message_in",
        "message_out",
        "call_started",
        "call_answered",
        "call_ended",
        "transferred",
        "channel_switched",
        "note",
        # the contact center (queues, IVR, callbacks, surveys)
        "ivr_choice",
        "queued",
        "dequeued",
        "abandoned",
        "callback_requested",
        "callback_dialed",
        "callback_done",
        "callback_failed",
        "csat",
        # the agent's wrap-up of a piece of work: a disposition and notes
        "wrap_up",
    }
)


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message from the customer (SMS, chat) — durable once the ask returns."""

    channel: Channel
    via: str
    sender: str
    text: str
    at: float
    message_id: str
    parts: int = 1
    incomplete: bool = False
    idem: str | None = None
    # Records committed atomically with the journey event (e.g. the message's API record).
    puts: tuple[Put, ...] = ()


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A message to the customer, recorded when it is accepted for sending."""

    channel: Channel
    via: str
    recipient: str
    text: str
    at: float
    message_id: str
    parts: int = 1
    idem: str | None = None
    puts: tuple[Put, ...] = ()


@dataclass(frozen=True, slots=True)
class CallEvent:
    """A phase of a call; duplicates (several agent phones ringing) are recorded once."""

    call_id: str
    phase: CallPhase
    at: float
    via: str = ""
    direction: Literal["in", "out"] = "in"
    agent: str | None = None
    cause: str | None = None
    number: str | None = None
    recording: str | None = None
    recording_seconds: float | None = None
    target: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class AddNote:
    text: str
    author: str
    at: float


@dataclass(frozen=True, slots=True)
class SetDetails:
    """A person edits the contact: its name (None: no name) and attributes (all of
    them: the ones left out are removed)."""

    name: str | None
    attributes: tuple[tuple[str, str], ...]
    by: str
    at: float


@dataclass(frozen=True, slots=True)
class AddIdentity:
    identity: str
    at: float


@dataclass(frozen=True, slots=True)
class MergeFrom:
    """Absorb another contact (same person, two identities); recorded on both."""

    other_id: str
    at: float


@dataclass(frozen=True, slots=True)
class UndoMerge:
    other_id: str
    at: float


@dataclass(frozen=True, slots=True)
class GetContact:
    pass


@dataclass(frozen=True, slots=True)
class Reload:
    """State changed in the store behind the actor's back (merge): re-read it."""


@dataclass(frozen=True, slots=True)
class JourneyEntry:
    """A journey event of the contact center (``queued``, ``ivr_choice``, ``csat``...):
    recorded as given, once per ``idem`` when one is set."""

    channel: Channel
    kind: str
    at: float
    data: dict[str, object]
    idem: str | None = None
