"""AT command lines as the simulated modem reads them, and the error results it answers.

A command line is what follows ``AT`` up to the carriage return. :func:`parse_line`
splits it into :class:`Cmd` values: extended commands (``+CMGS=23``, ``^SYSINFO``,
``+CPMS?``, ``+CNMI=?``; several chained with ``;``), basic ones (``E0``, ``&F``,
``S0=0``, ``S7?``) and the dial command ``D...``, which takes the rest of the line.
A line it cannot split raises :class:`ParseError` (the modem answers ``ERROR``).

A handler ends the whole line early by raising :class:`Final` with the result code;
:func:`cme_error` / :func:`cms_error` build the ``+CME ERROR`` / ``+CMS ERROR`` one in
the form AT+CMEE asks for (0: bare ``ERROR``, 1: the number, 2: the text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CME_TEXT",
    "CMS_TEXT",
    "CR",
    "CTRL_Z",
    "ESC",
    "MAX_LINE",
    "Cmd",
    "Final",
    "ParseError",
    "cme_error",
    "cms_error",
    "exec_only",
    "int_arg",
    "parse_line",
    "split_args",
]

CTRL_Z = 0x1A
ESC = 0x1B
CR = 0x0D
MAX_LINE = 8192  # a command line longer than this is dropped (real modems overflow)

CME_TEXT = {
    3: "operation not allowed",
    4: "operation not supported",
    10: "SIM not inserted",
    11: "SIM PIN required",
    12: "SIM PUK required",
    16: "incorrect password",
    21: "invalid index",
    30: "no network service",
    100: "unknown",
}
CMS_TEXT = {
    302: "operation not allowed",
    303: "operation not supported",
    304: "invalid PDU mode parameter",
    310: "SIM not inserted",
    311: "SIM PIN required",
    316: "SIM PUK required",
    321: "invalid memory index",
    322: "memory full",
    330: "SMSC address unknown",
    331: "no network service",
    332: "network timeout",
    340: "no +CNMA acknowledgement expected",
    500: "unknown error",
}


@dataclass(frozen=True, slots=True)
class Cmd:
    """One command of a command line."""

    name: str  # "+CSQ", "^ICCID", "E", "&F", "D", "S"
    kind: Literal["exec", "read", "test", "set"]
    args: str  # after "=" for extended commands; digits for basic ones; dial string for D
    text: str  # "AT" + the command as written, for logs and fail_next


class Final(Exception):
    """Ends the command line with this final result code (ERROR, +CME ERROR: n...)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class ParseError(Exception):
    """The command line cannot be split into commands."""


def cme_error(cmee: int, code: int) -> Final:
    """``+CME ERROR: <code>`` as AT+CMEE=<cmee> shows it."""
    if cmee == 0:
        return Final("ERROR")
    if cmee == 2:
        return Final(f"+CME ERROR: {CME_TEXT.get(code, str(code))}")
    return Final(f"+CME ERROR: {code}")


def cms_error(cmee: int, code: int) -> Final:
    """``+CMS ERROR: <code>`` as AT+CMEE=<cmee> shows it."""
    if cmee == 0:
        return Final("ERROR")
    if cmee == 2:
        return Final(f"+CMS ERROR: {CMS_TEXT.get(code, str(code))}")
    return Final(f"+CMS ERROR: {code}")


def split_args(s: str) -> list[str]:
    """Comma-separated AT arguments; quotes removed; commas inside quotes kept."""
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in s:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if quoted:
        raise Final("ERROR")
    out.append("".join(cur).strip())
    return out


def int_arg(value: str, lo: int, hi: int, *, error: str = "ERROR") -> int:
    """An integer argument in ``lo..hi``; otherwise the line ends with ``error``."""
    try:
        n = int(value)
    except ValueError:
        raise Final(error) from None
    if not lo <= n <= hi:
        raise Final(error)
    return n


def exec_only(cmd: Cmd, value: str) -> list[str]:
    """A command that only prints ``value`` (AT+CGMI...): exec answers it, test is empty."""
    if cmd.kind == "test":
        return []
    if cmd.kind != "exec":
        raise Final("ERROR")
    return [value]


def parse_line(body: str) -> list[Cmd]:
    """Split what follows ``AT`` into commands (basic ones, extended ones, ``D...``)."""
    cmds: list[Cmd] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c in " ;":
            i += 1
            continue
        if c in "+^$%":
            i = _extended(body, i, cmds)
            continue
        upper = c.upper()
        if upper == "D":
            cmds.append(Cmd("D", "set", body[i + 1 :], "ATD" + body[i + 1 :]))
            break
        if c == "&" and i + 1 < n and body[i + 1].isalpha():
            name = "&" + body[i + 1].upper()
            j = i + 2
            while j < n and body[j].isdigit():
                j += 1
            cmds.append(Cmd(name, "set", body[i + 2 : j], "AT" + body[i:j].upper()))
            i = j
            continue
        if upper == "S" and i + 1 < n and body[i + 1].isdigit():
            i = _s_register(body, i, cmds)
            continue
        if c.isalpha():
            j = i + 1
            while j < n and body[j].isdigit():
                j += 1
            cmds.append(Cmd(upper, "set", body[i + 1 : j], "AT" + body[i:j].upper()))
            i = j
            continue
        raise ParseError(body)
    return cmds


def _extended(body: str, i: int, cmds: list[Cmd]) -> int:
    """``+NAME``, ``+NAME?``, ``+NAME=?`` or ``+NAME=args`` from ``i``; the next index."""
    n = len(body)
    j = i + 1
    while j < n and (body[j].isalnum() or body[j] == "_"):
        j += 1
    name = body[i:j].upper()
    if len(name) == 1:
        raise ParseError(body)
    k, quoted = j, False
    while k < n:
        if body[k] == '"':
            quoted = not quoted
        elif body[k] == ";" and not quoted:
            break
        k += 1
    rest = body[j:k]
    text = "AT" + name + rest
    if rest == "":
        cmds.append(Cmd(name, "exec", "", text))
    elif rest == "?":
        cmds.append(Cmd(name, "read", "", text))
    elif rest == "=?":
        cmds.append(Cmd(name, "test", "", text))
    elif rest.startswith("="):
        cmds.append(Cmd(name, "set", rest[1:], text))
    else:
        raise ParseError(body)
    return k + 1


def _s_register(body: str, i: int, cmds: list[Cmd]) -> int:
    """``Sn?`` or ``Sn=v`` from ``i``; the next index."""
    n = len(body)
    j = i + 1
    while j < n and body[j].isdigit():
        j += 1
    if j < n and body[j] == "?":
        cmds.append(Cmd("S", "read", body[i + 1 : j], "AT" + body[i : j + 1]))
        return j + 1
    if j < n and body[j] == "=":
        k = j + 1
        while k < n and body[k].isdigit():
            k += 1
        cmds.append(Cmd("S", "set", body[i + 1 : k], "AT" + body[i:k]))
        return k
    raise ParseError(body)
