"""Values the GSM driver hands to the core, and the sink the core implements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from switch.errors import SwitchError


@dataclass(frozen=True, slots=True)
class InboundSms:
    modem_id: str
    sender: str  # "+..." for international numbers, else digits or an alphanumeric name
    text: str
    parts: int
    incomplete: bool
    missing: tuple[int, ...]
    idempotency_key: str  # same SMS, same key: the core records it once
    smsc_timestamp: datetime | None
    received_at: float
    # One key per SIM part: the core records them with the message, so a part left on
    # the SIM after the message was stored (a delete that failed, a crash before it) is
    # recognised and deleted instead of coming back as a second, incomplete message.
    part_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    modem_id: str
    message_reference: int
    recipient: str
    outcome: str  # delivered | pending | failed
    status: int  # TP-ST


@dataclass(frozen=True, slots=True)
class ModemStatus:
    modem_id: str
    state: str
    imei: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    operator: str | None = None
    signal_dbm: int | None = None
    registered: bool = False
    model: str | None = None
    manufacturer: str | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class GsmCallEvent:
    modem_id: str
    call_id: str
    kind: str  # incoming | dialing | answered | ended
    number: str | None
    cause: str | None = None


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str


class SmsSendError(SwitchError):
    """The modem or network refused an SMS (``+CMS ERROR``)."""

    def __init__(self, message: str, code: int | None, permanent: bool) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent


class ModemSink(Protocol):
    async def sms_received(self, sms: InboundSms) -> None: ...

    def part_stored(self, part_key: str) -> bool: ...

    async def status_report(self, modem_id: str, report: DeliveryReport) -> None: ...

    async def modem_status(self, status: ModemStatus) -> None: ...

    async def call_event(self, event: GsmCallEvent) -> None: ...
