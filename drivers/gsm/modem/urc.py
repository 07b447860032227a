"""Unsolicited result codes as typed events: what the modem told us without being asked.

:func:`parse` turns one :class:`~drivers.gsm.engine.Urc` into one of the small frozen
events below (or None for a URC the driver has no use for); the driver dispatches on
the event's type. Pure: no state, no I/O. A URC whose arguments cannot be read gives
None or an event with ``None`` in the unreadable field, never an exception.

=====================================  ======================================
URC                                    event
=====================================  ======================================
``+CMTI: "SM",<i>``                    :class:`SmsOnSim` (slot i)
``+CDSI: "SM",<i>``                    :class:`ReportOnSim` (slot i)
``+CMT: ,<len>`` + PDU                 :class:`SmsDirect`
``+CDS: <len>`` + PDU                  :class:`ReportDirect`
``+CUSD: <m>[,"<str>",<dcs>]``         :class:`UssdAnswer`
``+CREG: <stat>``, ``+CEREG: <stat>``  :class:`RegistrationUrc`
``^RSSI: <rssi>``                      :class:`SignalUrc` (dBm)
``^SMMEMFULL``, ``+CIEV: ...SMSFULL``  :class:`SimFull`
``RING``, ``+CRING``, ``+CLIP``,       :class:`CallSignal` (an event of
``^ORIG``, ``^CONF``, ``^CONN``,       :mod:`~drivers.gsm.modem.call_state`)
``^CEND``, ``NO CARRIER``, ``BUSY``,
``NO ANSWER``, ``NO DIALTONE``
``RDY``, ``^SYSSTART``                 :class:`Restarted`
=====================================  ======================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from drivers.gsm.engine import Urc
from drivers.gsm.modem.responses import csq_to_dbm, registration_line, slot_index

__all__ = [
    "CallSignal",
    "RegistrationUrc",
    "ReportDirect",
    "ReportOnSim",
    "Restarted",
    "SignalUrc",
    "SimFull",
    "SmsDirect",
    "SmsOnSim",
    "UrcEvent",
    "UssdAnswer",
    "cend_cause",
    "parse",
]


@dataclass(frozen=True, slots=True)
class SmsOnSim:
    slot: int | None


@dataclass(frozen=True, slots=True)
class ReportOnSim:
    slot: int | None


@dataclass(frozen=True, slots=True)
class SmsDirect:
    pdu: str


@dataclass(frozen=True, slots=True)
class ReportDirect:
    pdu: str


@dataclass(frozen=True, slots=True)
class UssdAnswer:
    args: str


@dataclass(frozen=True, slots=True)
class RegistrationUrc:
    kind: str  # +CREG | +CEREG
    stat: int


@dataclass(frozen=True, slots=True)
class SignalUrc:
    dbm: int | None


@dataclass(frozen=True, slots=True)
class SimFull:
    pass


@dataclass(frozen=True, slots=True)
class CallSignal:
    event: str  # ring | clip | orig | alerting | connected | ended
    number: str | None = None  # clip: the caller's number, if shown
    cause: str | None = None  # ended: why


@dataclass(frozen=True, slots=True)
class Restarted:
    urc: str


UrcEvent = (
    SmsOnSim
    | ReportOnSim
    | SmsDirect
    | ReportDirect
    | UssdAnswer
    | RegistrationUrc
    | SignalUrc
    | SimFull
    | CallSignal
    | Restarted
)

_CALL_ENDS = {"NO CARRIER": "remote_hangup", "BUSY": "busy", "NO ANSWER": "no_answer"}
_HUAWEI_CALL = {"^ORIG": "orig", "^CONF": "alerting", "^CONN": "connected"}


def parse(urc: Urc) -> UrcEvent | None:
    kind, args = urc.kind, urc.args
    if kind == "+CMTI":
        return SmsOnSim(slot_index(args))
    if kind == "+CDSI":
        return ReportOnSim(slot_index(args))
    if kind == "+CMT":
        return SmsDirect(urc.pdu) if urc.pdu else None
    if kind == "+CDS":
        return ReportDirect(urc.pdu) if urc.pdu else None
    if kind == "+CUSD":
        return UssdAnswer(args)
    if kind in ("+CREG", "+CEREG"):
        _, stat = registration_line(urc.text, solicited=False)
        return RegistrationUrc(kind, stat) if stat is not None else None
    if kind == "^RSSI":
        m = re.match(r"(\d+)", args)
        return SignalUrc(csq_to_dbm(int(m.group(1)))) if m else None
    if kind == "^SMMEMFULL" or (kind == "+CIEV" and "SMSFULL" in args.upper()):
        return SimFull()
    if kind in ("RING", "+CRING"):
        return CallSignal("ring")
    if kind == "+CLIP":
        m = re.match(r'"([^"]*)"', args)
        return CallSignal("clip", number=m.group(1) if m and m.group(1) else None)
    if kind in _HUAWEI_CALL:
        return CallSignal(_HUAWEI_CALL[kind])
    if kind == "^CEND":
        return CallSignal("ended", cause=cend_cause(args))
    if kind in ("NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE"):
        return CallSignal("ended", cause=_CALL_ENDS.get(kind, kind.lower().replace(" ", "_")))
    if kind in ("RDY", "^SYSSTART"):
        return Restarted(kind)
    return None


def cend_cause(args: str) -> str:
    """^CEND: <id>,<duration>,<end_status>,<cc_cause>: 16 normal, 17 busy, 18/19 no answer,
    21 rejected."""
    fields = [f.strip() for f in args.split(",")]
    cc = fields[3] if len(fields) > 3 else ""
    causes = {
        "16": "remote_hangup",
        "17": "busy",
        "18": "no_answer",
        "19": "no_answer",
        "21": "rejected",
    }
    return causes.get(cc, f"cc_cause_{cc}" if cc else "ended")
