"""The modem settings the SMS path depends on, read back and compared (pure).

``ATZ``, ``AT&F``, a firmware watchdog or a brown-out reset put a modem back to its
defaults without closing the port: ``AT+CNMI`` falls back to ``0,0,0,0,0`` (no
``+CMTI``, status reports dropped), and the modem still answers ``OK`` to everything.
Nothing would notice. So the health check reads these four back every poll:

- ``AT+CNMI?`` — where new SMS and status reports go (and whether we hear of them);
- ``AT+CMGF?`` — PDU mode (0); text mode breaks every PDU the driver reads or writes;
- ``AT+CSMS?`` — the message service (whether ``+CMT``/``+CDS`` need ``AT+CNMA``);
- ``AT+CPMS?`` — which memory ``+CMTI`` indexes and ``AT+CMGL`` lists (``"SM"``).

:func:`read` parses the answers into :class:`SmsSettings`; the values read right after
set-up are the baseline (a setting the modem refused keeps its own value there, so it
is not "restored" every poll); :func:`drift` lists what moved since.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from drivers.gsm.engine import Done

__all__ = ["QUERIES", "Drift", "SmsSettings", "drift", "read", "storage"]

QUERIES = ("AT+CNMI?", "AT+CMGF?", "AT+CSMS?", "AT+CPMS?")


@dataclass(frozen=True, slots=True)
class SmsSettings:
    """What the modem said; None where it said nothing readable (not checked)."""

    cnmi: tuple[int, ...] | None = None
    cmgf: int | None = None
    csms: int | None = None
    cpms: tuple[str, ...] | None = None  # the memories: read, write, receive


@dataclass(frozen=True, slots=True)
class Drift:
    setting: str  # CNMI | CMGF | CSMS | CPMS
    found: str
    expected: str

    def __str__(self) -> str:
        return f"{self.setting} was {self.found} (set up as {self.expected})"


def read(cnmi: Done | None, cmgf: Done | None, csms: Done | None, cpms: Done | None) -> SmsSettings:
    """The settings in the answers to :data:`QUERIES` (None: not asked or refused)."""
    return SmsSettings(
        cnmi=_ints(_value(cnmi, "+CNMI")),
        cmgf=_first_int(_value(cmgf, "+CMGF")),
        csms=_first_int(_value(csms, "+CSMS")),
        cpms=_memories(_value(cpms, "+CPMS")),
    )


def storage(cpms: Done | None) -> tuple[int, int] | None:
    """(used, total) of the SIM memory in an ``AT+CPMS?`` answer."""
    if cpms is None or not cpms.ok:
        return None
    m = re.search(r'"SM",\s*(\d+),\s*(\d+)', " ".join(cpms.lines))
    return (int(m.group(1)), int(m.group(2))) if m else None


def drift(baseline: SmsSettings, now: SmsSettings) -> tuple[Drift, ...]:
    """The settings that differ from the baseline (both readable), in :data:`QUERIES` order."""
    out: list[Drift] = []
    pairs = (
        ("CNMI", baseline.cnmi, now.cnmi),
        ("CMGF", baseline.cmgf, now.cmgf),
        ("CSMS", baseline.csms, now.csms),
        ("CPMS", baseline.cpms, now.cpms),
    )
    for name, expected, found in pairs:
        if expected is not None and found is not None and expected != found:
            out.append(Drift(name, _show(found), _show(expected)))
    return tuple(out)


def _value(done: Done | None, prefix: str) -> str | None:
    if done is None or not done.ok:
        return None
    for line in done.lines:
        if line.startswith(prefix + ":"):
            return line.split(":", 1)[1].strip()
    return None


def _ints(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(f) for f in text.split(","))
    except ValueError:
        return None


def _first_int(text: str | None) -> int | None:
    values = _ints(text.split(",", 1)[0] if text is not None else None)
    return values[0] if values else None


def _memories(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(re.findall(r'"([^"]*)"', text))
    return names or None


def _show(value: tuple[int, ...] | tuple[str, ...] | int) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)
