"""Readers of AT response lines: the values the driver takes out of a :class:`Done`.

Pure functions of the lines the engine collected; each returns ``None`` (or an empty
list) for an answer it cannot read, never raises.
"""

from __future__ import annotations

import re

from drivers.gsm.engine import Done

__all__ = [
    "cmgs_reference",
    "csq_to_dbm",
    "digits",
    "first_quoted",
    "iccid",
    "info",
    "listing",
    "pdu_of",
    "registration_line",
    "signal_dbm",
    "slot_index",
]


def csq_to_dbm(rssi: int) -> int | None:
    """AT+CSQ rssi 0..31 → -113 + 2·rssi dBm; 99 (unknown) → None."""
    return -113 + 2 * rssi if 0 <= rssi <= 31 else None


def signal_dbm(done: Done) -> int | None:
    """The dBm of an ``AT+CSQ`` answer (None when unknown or unreadable)."""
    m = re.search(r"\+CSQ:\s*(\d+)", " ".join(done.lines))
    return csq_to_dbm(int(m.group(1))) if m else None


def info(done: Done) -> str | None:
    """The first information line's value (``+CGMI: X`` or a bare ``X``), unquoted."""
    for line in done.lines:
        text = line.split(":", 1)[1].strip() if line.startswith(("+", "^")) else line.strip()
        if text:
            return text.strip('"')
    return None


def digits(text: str | None) -> str | None:
    if not text:
        return None
    only = re.sub(r"[^0-9]", "", text)
    return only or None


def first_quoted(done: Done) -> str | None:
    """The first ``"..."`` value of the answer (``AT+COPS?``, ``AT+CSCA?``), if not empty."""
    m = re.search(r'"([^"]*)"', " ".join(done.lines))
    return m.group(1) if m and m.group(1) else None


def iccid(lines: tuple[str, ...]) -> str | None:
    """The ICCID as digits only (the trailing F padding and quotes stripped)."""
    for line in lines:
        text = line.split(":", 1)[1] if ":" in line else line
        m = re.search(r"([0-9]{18,20})[Ff]*", text.replace('"', "").strip())
        if m:
            return m.group(1)
    return None


def slot_index(args: str) -> int | None:
    """The SIM index of ``+CMTI: "SM",3`` / ``+CDSI: "SM",3`` arguments."""
    m = re.search(r",\s*(\d+)\s*$", args)
    return int(m.group(1)) if m else None


def registration_line(line: str, *, solicited: bool) -> tuple[str | None, int | None]:
    """(kind, stat) of a +CREG/+CEREG/+CGREG line; solicited answers start with <n>."""
    m = re.match(r"^(\+C(?:E|G)?REG):\s*(.*)$", line.strip())
    if not m:
        return None, None
    parts = [f.strip().strip('"') for f in m.group(2).split(",")]
    try:
        if solicited:
            return m.group(1), int(parts[1] if len(parts) > 1 else parts[0])
        return m.group(1), int(parts[0])
    except (ValueError, IndexError):
        return m.group(1), None


def pdu_of(lines: tuple[str, ...]) -> str | None:
    """The PDU of an ``AT+CMGR`` answer (the hex line after ``+CMGR:``)."""
    for i, line in enumerate(lines):
        if line.startswith("+CMGR:") and i + 1 < len(lines):
            candidate = lines[i + 1]
            if re.fullmatch(r"[0-9A-Fa-f]+", candidate):
                return candidate
    return None


def listing(lines: tuple[str, ...]) -> list[tuple[int, str]]:
    """(index, PDU) of every entry of an ``AT+CMGL`` answer."""
    out: list[tuple[int, str]] = []
    for i, line in enumerate(lines):
        if line.startswith("+CMGL:") and i + 1 < len(lines):
            m = re.match(r"\+CMGL:\s*(\d+)", line)
            if m and re.fullmatch(r"[0-9A-Fa-f]+", lines[i + 1]):
                out.append((int(m.group(1)), lines[i + 1]))
    return out


def cmgs_reference(done: Done) -> int | None:
    """The TP-MR of an ``AT+CMGS`` answer (``+CMGS: <mr>``)."""
    m = re.search(r"\+CMGS:\s*(\d+)", " ".join(done.lines))
    return int(m.group(1)) if m else None
