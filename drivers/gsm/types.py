"""Values the GSM driver hands to the core, and the sink the core implements.

All are frozen slotted dataclasses: safe to pass between tasks and actors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = [
    "STATES",
    "Check",
    "DeliveryReport",
    "GsmCallEvent",
    "InboundPart",
    "InboundSms",
    "ModemSink",
    "ModemStatus",
]

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


@dataclass(frozen=True, slots=True)
class InboundSms:
    modem_id: str
    sender: str  # "+..." for international numbers, else digits or an alphanumeric name
    text: str
    parts: int
    incomplete: bool  # delivered after the reassembly timeout with parts missing
    missing: tuple[int, ...]  # 1-based part numbers that never arrived
    # sha256(modem identity + sorted part fingerprints): the same SMS read again (after a
    # crash between store and delete) has the same key, so the core records it once.
    idempotency_key: str
    smsc_timestamp: datetime | None
    received_at: float  # wall clock (time.time()) when the driver handed it over
    # One key per part (sha256(identity | fingerprint)): lets a core that records them
    # recognise a part left on the SIM after its message was stored (optional).
    part_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class InboundPart:
    """One part of an SMS as read from the modem: the core keeps the parts of a longer
    message (:meth:`ModemSink.part_received`) so they can leave the SIM before the whole
    message is there."""

    modem_id: str
    key: str  # sha256(modem identity | fingerprint): the part's idempotency key
    sender: str
    reference: int | None  # concatenation reference, None for a single SMS
    total: int  # parts in the message (1 for a single SMS)
    sequence: int  # 1-based
    text: str
    fingerprint: str  # sha256 of the PDU: the message's idempotency key is built from these
    smsc_timestamp: datetime | None
    received_at: float  # wall clock (time.time()) when the driver first read it


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    modem_id: str
    message_reference: int  # TP-MR of the part, as returned by send_sms
    recipient: str
    outcome: str  # delivered | pending | failed
    status: int  # TP-ST (23.040 §9.2.3.15)


@dataclass(frozen=True, slots=True)
class ModemStatus:
    modem_id: str
    state: str  # one of STATES
    imei: str | None = None
    iccid: str | None = None  # digits only
    imsi: str | None = None
    operator: str | None = None
    signal_dbm: int | None = None  # -113 + 2 * rssi; None when unknown (CSQ 99)
    registered: bool = False  # CREG/CEREG stat 1 (home) or 5 (roaming)
    model: str | None = None
    manufacturer: str | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class GsmCallEvent:
    modem_id: str
    call_id: str
    kind: str  # incoming | dialing | ringing | answered | ended
    number: str | None
    cause: str | None = None  # for ended: remote_hangup, local_hangup, busy, no_answer...


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str  # plain language, for a technician


class ModemSink(Protocol):
    """What the driver needs of the core. Store before delete: a part leaves the SIM (or
    a ``+CMT`` is acknowledged) only after one of the first two returned for it."""

    async def sms_received(self, sms: InboundSms) -> None:
        """Record the message durably and once (its ``idempotency_key``), together with
        its ``part_keys`` (so :meth:`part_recorded` knows them) and without the records
        of its parts (:meth:`part_received`), then return; raising keeps the message on
        the SIM (or unacknowledged) for later."""

    async def part_received(self, part: InboundPart) -> None:
        """Keep one part of a longer message durably (idempotent by ``part.key``) until
        its message is recorded; raising keeps the part on the SIM for later."""

    def stored_parts(self, modem_id: str) -> list[InboundPart]:
        """The parts kept by :meth:`part_received` whose message is not recorded yet
        (read once when the driver starts: reassembly goes on after a restart)."""

    def part_recorded(self, part_key: str) -> bool:
        """True when the part is inside a message already recorded: a copy left on the
        SIM (its delete failed, or a crash came first) is only deleted."""

    async def status_report(self, modem_id: str, report: DeliveryReport) -> None: ...

    async def modem_status(self, status: ModemStatus) -> None: ...

    async def call_event(self, event: GsmCallEvent) -> None: ...
