"""A modem's lifecycle as a table.

Rules: every change of a modem's reported state goes through :func:`next_state`; the
table knows nothing of AT commands or ports.

Theory of operation: a modem starts ``initialising`` when its port opens. The SIM check
leads to ``no_sim`` or ``pin_required`` (a configured PIN is tried once; a wrong PIN is
never retried, or the SIM would lock), else registration decides: ``ready`` (home or
roaming), ``searching`` or ``denied``. A port that disappears, or a modem that stops
answering, makes it ``disconnected`` while the driver escalates its recovery (re-init,
``AT+CFUN=1,1``, reopen the port); after too many rounds it is ``failed`` (the driver
keeps trying, slowly). Outgoing SMS wait in the core's outbox until ``ready``.
"""

from __future__ import annotations

from switch.errors import ProtocolError

STATES = (
    "initialising",
    "ready",
    "no_sim",
    "pin_required",
    "searching",
    "denied",
    "disconnected",
    "failed",
)

_ANY_REGISTRATION = {"registered": "ready", "searching": "searching", "denied": "denied"}

TRANSITIONS: dict[str, dict[str, str]] = {
    "initialising": {
        **_ANY_REGISTRATION,
        "sim_missing": "no_sim",
        "pin_needed": "pin_required",
        "port_lost": "disconnected",
        "unresponsive": "disconnected",
        "sim_ready": "initialising",
        "port_opened": "initialising",
    },
    "ready": {
        **_ANY_REGISTRATION,
        "port_lost": "disconnected",
        "unresponsive": "disconnected",
        "sim_missing": "no_sim",
        "port_opened": "initialising",
    },
    "searching": {
        **_ANY_REGISTRATION,
        "port_lost": "disconnected",
        "unresponsive": "disconnected",
        "sim_missing": "no_sim",
        "port_opened": "initialising",
    },
    "denied": {
        **_ANY_REGISTRATION,
        "port_lost": "disconnected",
        "unresponsive": "disconnected",
        "sim_missing": "no_sim",
        "port_opened": "initialising",
    },
    "no_sim": {
        "sim_ready": "initialising",
        "port_lost": "disconnected",
        "unresponsive": "disconnected",
        "port_opened": "initialising",
        "sim_missing": "no_sim",
    },
    "pin_required": {
        "sim_ready": "initialising",
        "port_lost": "disconnected",
        "unresponsive": "disconnected",
        "port_opened": "initialising",
        "pin_needed": "pin_required",
    },
    "disconnected": {
        "port_opened": "initialising",
        "gave_up": "failed",
        "port_lost": "disconnected",
        "unresponsive": "disconnected",
    },
    "failed": {
        "port_opened": "initialising",
        "port_lost": "failed",
        "unresponsive": "failed",
        "gave_up": "failed",
    },
}


def next_state(state: str, event: str) -> str:
    row = TRANSITIONS.get(state)
    if row is None or event not in row:
        raise ProtocolError(f"modem event {event!r} is not expected in state {state!r}")
    return row[event]
