"""``diagnose``: what a technician reads about a modem, as plain-language checks (pure).

:func:`checks` turns :class:`Facts` (gathered by the driver, querying the modem when it
answers) into a list of :class:`~drivers.gsm.types.Check`: port, modem, SIM, PIN,
registration, signal, SMS centre, SIM storage, the SMS settings (drift found and
restored since start), and the last errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from drivers.gsm.modem.health import Repair
from drivers.gsm.modem.sms_settings import SmsSettings
from drivers.gsm.types import Check, ModemStatus

__all__ = ["Facts", "checks"]


@dataclass(frozen=True, slots=True)
class Facts:
    port: str
    port_open: bool
    profile: str
    pin_configured: bool
    status: ModemStatus
    smsc: str | None
    storage: tuple[int, int] | None  # (used, total)
    settings: SmsSettings | None  # as set up (None: not set up yet)
    repairs: Sequence[Repair]  # the latest settings restored after drift, oldest first
    repaired: int  # how many times since start
    errors: Sequence[str]  # oldest first


def checks(facts: Facts) -> list[Check]:
    st = facts.status
    out: list[Check] = []
    if facts.port_open:
        out.append(Check("port", "ok", f"{facts.port} is open"))
    else:
        why = st.last_error or "not connected"
        out.append(Check("port", "fail", f"{facts.port} is not open ({why})"))
    out.append(
        Check(
            "modem",
            "ok" if st.imei else "warn",
            f"{st.manufacturer or 'unknown maker'} {st.model or 'unknown model'}, "
            f"IMEI {st.imei or 'unknown'} (profile {facts.profile})",
        )
    )
    if st.state == "no_sim":
        out.append(Check("sim", "fail", "no usable SIM card: check it is inserted"))
    elif st.iccid or st.imsi:
        out.append(Check("sim", "ok", f"SIM present, ICCID {st.iccid or 'unknown'}"))
    else:
        out.append(Check("sim", "warn", "SIM state unknown yet"))
    if st.state == "pin_required":
        out.append(
            Check(
                "pin",
                "fail",
                "the SIM asks for a PIN"
                + (" and the configured PIN was refused" if facts.pin_configured else "")
                + " (set pin in the config, or remove the PIN with a phone)",
            )
        )
    else:
        out.append(Check("pin", "ok", "no PIN needed (or PIN accepted)"))
    if st.registered:
        out.append(Check("registration", "ok", f"registered on {st.operator or 'network'}"))
    elif st.state == "denied":
        out.append(Check("registration", "fail", "the network refused the SIM"))
    else:
        out.append(Check("registration", "warn", "not registered: searching a network"))
    if st.signal_dbm is None:
        out.append(Check("signal", "warn", "signal unknown (no antenna or no network?)"))
    elif st.signal_dbm >= -95:
        out.append(Check("signal", "ok", f"{st.signal_dbm} dBm"))
    else:
        out.append(Check("signal", "warn", f"{st.signal_dbm} dBm: weak, move the modem or antenna"))
    if facts.smsc:
        out.append(Check("smsc", "ok", f"SMS centre {facts.smsc}"))
    else:
        out.append(Check("smsc", "fail", "no SMS centre set: set smsc in the config"))
    if facts.storage:
        used, total = facts.storage
        full = total and used >= total
        out.append(
            Check(
                "storage",
                "warn" if full else "ok",
                f"{used} of {total} SIM message slots used" + (" (full)" if full else ""),
            )
        )
    else:
        out.append(Check("storage", "warn", "SIM storage unknown"))
    out.append(_settings(facts))
    errors = list(facts.errors)[-3:]
    out.append(Check("last_errors", "warn" if errors else "ok", "; ".join(errors) or "none"))
    return out


def _settings(facts: Facts) -> Check:
    if facts.settings is None:
        return Check("sms_settings", "warn", "SMS settings not read yet (modem not set up)")
    s = facts.settings
    shown = (
        f"CNMI {_join(s.cnmi)}, CMGF {_show(s.cmgf)}, CSMS {_show(s.csms)}, CPMS {_join(s.cpms)}"
    )
    if not facts.repairs:
        return Check("sms_settings", "ok", f"as set up: {shown}")
    last = facts.repairs[-1]
    detail = (
        f"restored {facts.repaired} time(s) after the modem lost them (reset?); "
        f"last {last}; now {shown}"
    )
    return Check("sms_settings", "warn" if last.restored else "fail", detail)


def _join(values: tuple[int, ...] | tuple[str, ...] | None) -> str:
    return ",".join(str(v) for v in values) if values else "?"


def _show(value: int | None) -> str:
    return "?" if value is None else str(value)
