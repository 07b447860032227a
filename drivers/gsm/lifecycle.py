"""A modem's lifecycle as a table, like h11's ``_state.py``.

Rules
-----
- :data:`TABLE` is ``{state: {event: next_state}}``. Every change of a modem's reported
  state goes through :func:`next_state`; an event a state does not list is a bug in the
  driver and raises :class:`IllegalTransition` (the driver logs it and keeps its state).
- The table knows nothing of AT commands, ports or time; the driver turns what it sees
  into events: ``port_opened``, ``sim_ready``, ``sim_missing``, ``pin_needed``,
  ``registered``, ``searching``, ``denied``, ``port_lost``, ``unresponsive``,
  ``gave_up``.
- Only ``ready`` accepts outgoing SMS, USSD and calls.

Theory of operation
-------------------
A modem is ``initialising`` when its port opens. The SIM check leads to ``no_sim`` or
``pin_required`` (a configured PIN is tried once; a wrong PIN is never retried, or the
SIM would lock), else registration decides: ``ready`` (home or roaming), ``searching``
or ``denied``; later registration changes move between these three. A port that
disappears, or a modem that stops answering, makes it ``disconnected`` while the driver
escalates its recovery (re-init, ``AT+CFUN=1,1``, close and reopen the port); after too
many rounds it is ``failed`` (the driver keeps trying, slowly), and the next port that
opens starts again at ``initialising``.
"""

from __future__ import annotations

from base.errors import ProtocolError
from drivers.gsm.types import STATES

__all__ = ["EVENTS", "STATES", "TABLE", "IllegalTransition", "next_state"]


class IllegalTransition(ProtocolError):
    """An event that the current state does not expect."""


_REGISTRATION = {"registered": "ready", "searching": "searching", "denied": "denied"}
_LOSS = {"port_lost": "disconnected", "unresponsive": "disconnected"}

TABLE: dict[str, dict[str, str]] = {
    "initialising": {
        **_REGISTRATION,
        **_LOSS,
        "port_opened": "initialising",
        "sim_ready": "initialising",
        "sim_missing": "no_sim",
        "pin_needed": "pin_required",
    },
    "ready": {**_REGISTRATION, **_LOSS, "port_opened": "initialising", "sim_missing": "no_sim"},
    "searching": {
        **_REGISTRATION,
        **_LOSS,
        "port_opened": "initialising",
        "sim_missing": "no_sim",
    },
    "denied": {**_REGISTRATION, **_LOSS, "port_opened": "initialising", "sim_missing": "no_sim"},
    "no_sim": {
        **_LOSS,
        "port_opened": "initialising",
        "sim_ready": "initialising",
        "sim_missing": "no_sim",
        "pin_needed": "pin_required",
    },
    "pin_required": {
        **_LOSS,
        "port_opened": "initialising",
        "sim_ready": "initialising",
        "sim_missing": "no_sim",
        "pin_needed": "pin_required",
    },
    "disconnected": {
        **_LOSS,
        "port_opened": "initialising",
        "gave_up": "failed",
    },
    "failed": {
        "port_opened": "initialising",
        "port_lost": "failed",
        "unresponsive": "failed",
        "gave_up": "failed",
    },
}

EVENTS = frozenset(event for row in TABLE.values() for event in row)


def next_state(state: str, event: str) -> str:
    row = TABLE.get(state)
    if row is None or event not in row:
        raise IllegalTransition(f"modem event {event!r} is not expected in state {state!r}")
    return row[event]
