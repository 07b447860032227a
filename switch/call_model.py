"""The call plane's data: a call and its transfer, the modem side as calls see it, and
the small pure helpers (SIP causes, header lookups, prompt paths) the service uses."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class GsmLine(Protocol):
    """The modem side of a GSM call (``drivers.gsm.Modem``)."""

    async def answer(self) -> None: ...

    async def hangup(self) -> None: ...


class GsmDialer(Protocol):
    """The modems as outgoing calls see them (``switch.sms.SmsService``)."""

    def voice_modem(self, number: str) -> tuple[bool, str] | None: ...

    def modem_in_call(self, modem_id: str) -> bool: ...

    def voice_line(self, modem_id: str) -> tuple[GsmLine, str]: ...

    async def dial_call(self, modem_id: str, gsm_call: str, number: str) -> None: ...


# A modem's end of an unanswered outgoing call -> the call's cause, and the SIP code the
# agent's phone gets when it dialled the number itself (see ``refusal_code``).
MODEM_FAILURES: dict[str, tuple[str, int]] = {
    "busy": ("busy", 600),
    "no_answer": ("no_answer", 603),
    "no_carrier": ("rejected", 603),
    "rejected": ("rejected", 603),
    "remote_hangup": ("rejected", 603),
    "modem_busy": ("modem_busy", 600),
    "no_dialtone": ("no_network", 502),
}
# Kamailio takes these answers from a worker as "this worker is busy" and hands the
# INVITE to the next worker (failure_route WORKER_FAILOVER): an agent's dial-out that
# failed must be refused with a final answer the edge passes through to the phone.
_FAILOVER_CODES = {408: 603, 480: 603, 486: 600, 500: 502, 503: 502}


def refusal_code(code: Any) -> int:
    """The SIP code refusing an agent's own dial-out (never one that fails over)."""
    value = int(code) if isinstance(code, int) and code >= 400 else 600
    return _FAILOVER_CODES.get(value, value)


@dataclass
class Transfer:
    """One transfer attempt of a call (the last one is kept on the call record)."""

    kind: str  # "agent" | "number"
    target: str  # agent id, or the E.164 number
    leg: str
    from_agent: str | None
    blind: bool = False  # the previous agent has already left the call
    state: str = "ringing"  # ringing | completed | failed
    detail: str = ""
    timer: asyncio.TimerHandle | None = None
    timed_out: bool = False

    def record(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "to": self.target,
            "from_agent": self.from_agent,
            "state": self.state,
            "detail": self.detail,
        }


@dataclass
class Call:
    id: str
    worker: int
    direction: str  # "in" | "out"
    contact_id: str
    number: str  # the customer's E.164 (or raw)
    via: str  # trunk id or modem id
    started_at: float
    state: str = "ringing"
    caller_leg: str | None = None  # inbound: the customer's leg; outbound: the agent's leg
    customer_leg: str | None = None  # outbound: the leg to the customer
    agent: str | None = None
    agent_leg: str | None = None
    tried: set[str] = field(default_factory=set)
    ring_timer: asyncio.TimerHandle | None = None
    waiting_greeting: bool = False
    skill: str | None = None
    recording: str | None = None
    record_done: asyncio.Future[tuple[str, float]] | None = None
    ended: bool = False
    legs: set[str] = field(default_factory=set)
    answered_legs: set[str] = field(default_factory=set)
    kind: str = "inbound"  # inbound | agent_out | click | gsm
    transfer: Transfer | None = None
    requeued_from: str | None = None  # the agent of a failed blind transfer, while queued
    gsm_line: GsmLine | None = None  # gsm: the modem that has the caller
    audio_port: str | None = None  # gsm: the modem's PCM port
    gsm_call: str | None = None  # gsm: the driver's call id
    reserved: bool = False  # gsm: the worker is reserved for the next agent dial
    modem_ended: bool = False  # gsm: the modem's call is over (nothing to hang up there)
    pcm_bridged: bool = False
    pcm_leg: str | None = None  # gsm: the SIP leg bridged with the modem's PCM port
    route: str = "trunk"  # outbound: "trunk" | "modem" (the customer is behind a modem)
    leg_seq: int = 0

    @property
    def customer_side(self) -> str | None:
        """The customer's leg: the caller's when inbound, the dialled one when outbound."""
        return self.caller_leg if self.kind == "inbound" else self.customer_leg

    @property
    def recorded_leg(self) -> str | None:
        """The leg a recording is made on: it hears both the customer and the agent."""
        if self.kind == "gsm":
            return self.agent_leg
        if self.route == "modem":
            return self.caller_leg  # the agent's leg, bridged with the modem's port
        return self.customer_side

    @property
    def agent_side(self) -> str | None:
        """The leg of whoever talks to the customer (an agent, or a transfer's target)."""
        return self.agent_leg if self.kind == "inbound" else self.caller_leg

    @agent_side.setter
    def agent_side(self, leg: str | None) -> None:
        if self.kind == "inbound":
            self.agent_leg = leg
        else:
            self.caller_leg = leg

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "contact_id": self.contact_id,
            "direction": self.direction,
            "from": self.number if self.direction == "in" else (self.agent or self.via),
            "to": self.via if self.direction == "in" else self.number,
            "state": self.state,
            "agent": self.agent if self.state != "ringing" or self.direction == "out" else None,
            "via": self.via,
            "started_at": self.started_at,
            "recording": self.recording,
            "worker": self.worker,
            "transfer": self.transfer.record() if self.transfer else None,
            "channel": "gsm" if self.kind == "gsm" or self.route == "modem" else "sip",
        }


def header_value(headers: dict[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def sip_cause(code: Any, reason: str) -> str:
    mapping = {
        486: "busy",
        600: "busy",
        480: "no_answer",
        408: "no_answer",
        487: "cancelled",
        404: "not_found",
        403: "rejected",
        503: "unavailable",
    }
    if isinstance(code, int) and code in mapping:
        return mapping[code]
    return reason or "failed"


def transfer_detail(xfer: Transfer, code: Any, reason: str) -> str:
    if xfer.timed_out:
        return xfer.detail
    cause = sip_cause(code, reason)
    words = {
        "busy": "is busy",
        "no_answer": "did not answer",
        "cancelled": "did not answer",
        "not_found": "is not reachable (404)",
        "rejected": "refused the call (403)",
        "unavailable": "is unavailable (503)",
    }
    if cause in words:
        return f"{xfer.target} {words[cause]}"
    if code == 603:
        return f"{xfer.target} declined"
    return f"{xfer.target} failed: {code} {reason}".strip()


def check_row(name: str, ok: bool, detail: str) -> dict[str, str]:
    return {"name": name, "status": "ok" if ok else "fail", "detail": detail}


SOUNDS = Path(__file__).resolve().parent.parent / "drivers" / "sip" / "sounds"


def sound_path(value: str | None) -> str | None:
    """A prompt's absolute path; ``builtin:<name>`` names a sound shipped with the switch."""
    if not value:
        return None
    if value.startswith("builtin:"):
        return str(SOUNDS / f"{value.removeprefix('builtin:')}.wav")
    return str(Path(value).resolve())
