"""A modem's voice call as a table, like h11's ``_state.py``.

Rules
-----
- Everything that changes the call's state lives in this file. :data:`TABLE` is
  ``{state: {event: next_state}}``; :func:`next_state` is the only way through it, and
  an event the current state does not list raises :class:`IllegalCallEvent` (a
  :class:`~base.errors.ProtocolError`: the driver logs it and keeps the state).
- The table knows nothing of AT commands or dialects. The driver turns what it sees
  into events: ``ring`` (RING/+CRING), ``clip`` (+CLIP: the caller's number), ``dial``
  (ATD about to be sent), ``dialed`` (ATD answered OK, where the dialect has no
  ``^ORIG``), ``orig`` (^ORIG), ``alerting`` (^CONF, CLCC stat 3: the far end rings),
  ``connected`` (^CONN, CLCC stat 0, ATA answered OK), ``hangup`` (ATH about to be
  sent), ``ended`` (^CEND, NO CARRIER/BUSY/NO ANSWER, CLCC without calls, ATD failed).
- One call per modem: ``idle`` is "no call".
- What the core hears follows from the state entered (:data:`ANNOUNCE`): ``offered`` →
  ``incoming``, ``dialing`` → ``dialing``, ``alerting`` → ``ringing``, ``active`` →
  ``answered``, and back to ``idle`` → ``ended``. Staying in a state says nothing.

Theory of operation
-------------------
An incoming call starts ``incoming`` on its first RING and is ``offered`` (announced to
the core) once its number is known (+CLIP) or on the second RING (number withheld). An
outgoing call is ``placing`` from ATD until the modem confirms it (``^ORIG`` or ATD's
OK), then ``dialing``, ``alerting`` while the far end rings, ``active`` once answered.
``hangup`` makes any call ``releasing``: whatever end follows is our own hang-up. Any
``ended`` returns to ``idle``. Events that repeat what the state already says (a third
RING, a second ^CONF, CLCC polls) keep the state.
"""

from __future__ import annotations

from dataclasses import dataclass

from base.errors import ProtocolError
from drivers.gsm.types import GsmCallEvent

__all__ = [
    "ANNOUNCE",
    "EVENTS",
    "STATES",
    "TABLE",
    "Call",
    "CallTracker",
    "IllegalCallEvent",
    "next_state",
]


class IllegalCallEvent(ProtocolError):
    """A call event that the current call state does not expect."""


_END = {"ended": "idle", "hangup": "releasing"}

TABLE: dict[str, dict[str, str]] = {
    "idle": {
        "ring": "incoming",
        "clip": "offered",
        "dial": "placing",
        "ended": "idle",  # a NO CARRIER after ^CEND, a CLCC poll racing the end
        "hangup": "idle",
        "dialed": "idle",  # ATD's OK after the call already ended
    },
    "incoming": {**_END, "ring": "offered", "clip": "offered", "connected": "active"},
    "offered": {**_END, "ring": "offered", "clip": "offered", "connected": "active"},
    "placing": {
        **_END,
        "orig": "dialing",
        "dialed": "dialing",
        "alerting": "alerting",
        "connected": "active",
        "ring": "placing",
        "clip": "placing",
    },
    "dialing": {
        **_END,
        "orig": "dialing",
        "dialed": "dialing",
        "alerting": "alerting",
        "connected": "active",
        "ring": "dialing",
        "clip": "dialing",
    },
    "alerting": {
        **_END,
        "orig": "alerting",
        "dialed": "alerting",
        "alerting": "alerting",
        "connected": "active",
        "ring": "alerting",
        "clip": "alerting",
    },
    "active": {
        **_END,
        "orig": "active",
        "dialed": "active",
        "connected": "active",
        "ring": "active",
        "clip": "active",
    },
    "releasing": {
        "ended": "idle",
        "hangup": "releasing",
        "orig": "releasing",
        "dialed": "releasing",
        "alerting": "releasing",
        "connected": "releasing",
        "ring": "releasing",
        "clip": "releasing",
    },
}

STATES = frozenset(TABLE)
EVENTS = frozenset(event for row in TABLE.values() for event in row)
ANNOUNCE = {
    "offered": "incoming",
    "dialing": "dialing",
    "alerting": "ringing",
    "active": "answered",
    "idle": "ended",
}


def next_state(state: str, event: str) -> str:
    row = TABLE.get(state)
    if row is None or event not in row:
        raise IllegalCallEvent(f"call event {event!r} is not expected in state {state!r}")
    return row[event]


@dataclass(slots=True)
class Call:
    id: str
    number: str | None
    direction: str  # in | out
    state: str
    audio_enabled: bool = False  # the profile's enable_audio was sent for this call


class CallTracker:
    """The modem's one call: feed events, get the :class:`GsmCallEvent` values to emit.

    Pure: ids come from ``modem_id`` and a counter (or the caller's ``call_id``).
    """

    def __init__(self, modem_id: str) -> None:
        self.modem_id = modem_id
        self.call: Call | None = None
        self._seq = 0

    @property
    def state(self) -> str:
        return self.call.state if self.call is not None else "idle"

    def feed(
        self,
        event: str,
        *,
        number: str | None = None,
        cause: str | None = None,
        call_id: str | None = None,
    ) -> list[GsmCallEvent]:
        """Move the call; raises :class:`IllegalCallEvent` (state kept) when unexpected."""
        old = self.state
        new = next_state(old, event)
        call = self.call
        if call is None:
            if new == "idle":
                return []
            self._seq += 1
            direction = "out" if event == "dial" else "in"
            call = self.call = Call(
                call_id or f"{self.modem_id}-{self._seq}", number, direction, new
            )
        elif number and not call.number and event == "clip" and call.direction == "in":
            call.number = number
        releasing = old == "releasing"
        call.state = new
        if new == "idle":
            self.call = None
        if new == old or new not in ANNOUNCE:
            return []
        if new != "idle":
            cause = None
        elif releasing:
            cause = "local_hangup"
        return [GsmCallEvent(self.modem_id, call.id, ANNOUNCE[new], call.number, cause)]
