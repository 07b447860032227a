"""The simulated modem's brain, sans-IO: AT bytes in, AT bytes out, time as an argument.

Everything the simulated modem *decides* lives in this file; it owns no pty, no socket
and no event loop. :class:`drivers.gsm.simulator.port.SimulatedModem` feeds it what the
driver wrote (:meth:`ModemMachine.receive_data`), writes what it has to say
(:meth:`ModemMachine.data_to_send`) and wakes it at :meth:`ModemMachine.next_deadline`
(:meth:`ModemMachine.advance`). Unit tests can do the same with a fake clock.

Theory of operation
-------------------

- **Two sides.** The *terminal side* is the AT port: a line parser (``AT...<CR>``, one
  command line at a time, ``;``-chained extended commands), the ``> `` prompt mode of
  ``AT+CMGS`` / ``AT+CMGW`` (hex until Ctrl-Z, ESC aborts), and final result codes. The
  *network side* is a FIFO of things arriving from the network (SMS-DELIVER PDUs and
  status reports) plus the remote ends of calls and USSD sessions.
- **One command at a time.** A command line is answered before the next is parsed;
  commands that take time (``AT+CMGS`` waits ``timing.cmgs_delay`` for the "network",
  ``AT+CFUN=1,1`` reboots) keep the machine *busy*, and input that arrives meanwhile
  waits in the buffer, as on a real modem.
- **URCs.** Unsolicited result codes (``+CMTI``, ``+CMT``, ``RING``, ``+CUSD``...) are
  written at once when no command is in progress; during a command they are held and
  written after its final result code, unless ``interleave_urcs`` is set, in which case
  they go out immediately (between an echo and its response, or while the prompt is
  open) so drivers can be tested against the worst case.
- **Network delivery.** An incoming item is routed by AT+CNMI like 3GPP TS 27.005 says:
  ``<mt>=2`` → ``+CMT: ,<len>`` + PDU (one at a time: the next waits for ``AT+CNMA``;
  an unacknowledged one is re-delivered after ``timing.cnma_timeout``, like a network
  retrying); otherwise stored in the SIM with ``+CMTI: "SM",<i>`` (``<mt>`` 1..3) or
  silently (``<mt>=0``). Status reports: ``<ds>=1`` → ``+CDS: <len>`` + PDU, ``<ds>=2``
  (or ``status_reports="cdsi"``) → stored with ``+CDSI: "SM",<i>``, ``<ds>=0`` → lost.
  When the SIM is full, when the modem is off, booting, has no usable SIM, or is not
  registered, items wait in the network queue (in order) and go out once possible.
- **Power.** ``power_off`` (unplug) and ``AT+CFUN=1,1`` (reboot) forget everything
  volatile (settings, calls, the half-typed command, the un-acked ``+CMT``, which goes
  back to the network) and keep what a SIM or the network keeps (SIM storage, SMSC,
  message references, sent log, the network queue).
- **Faults** are explicit knobs: unresponsive (input and output both vanish), a scripted
  failure for the next command matching a prefix, raw garbage on the line.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import re
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import structlog

from base.errors import ProtocolError
from drivers.gsm.gsm7 import can_encode_gsm7, encode_ucs2, gsm7_septets, pack_septets
from drivers.gsm.pdu import (
    StatusReport,
    decode_pdu,
    decode_submit,
    encode_deliver,
    encode_status_report,
)
from drivers.gsm.simulator.profiles import PROFILES, VENDOR_COMMANDS, Profile
from drivers.gsm.ussd import decode_ussd

__all__ = [
    "DEFAULT_USSD",
    "CallRecord",
    "ModemMachine",
    "SentPart",
    "Timing",
    "UssdReply",
]

log = structlog.get_logger("gsm.simulator")

CTRL_Z = 0x1A
ESC = 0x1B
CR = 0x0D
MAX_LINE = 8192  # a command line longer than this is dropped (real modems overflow)
TRANSCRIPT_LINES = 500

RouteMode = Literal["auto", "cmti", "cmt"]
Outcome = Literal["delivered", "pending", "failed"]
CallBehaviour = Literal["answer", "busy", "no_answer", "reject", "ring"]

# TP-ST values used for the configured outcomes (TS 23.040 §9.2.3.15).
STATUS_CODES: dict[str, int] = {"delivered": 0x00, "pending": 0x20, "failed": 0x41}

# SMS storage <stat> (TS 27.005 §3.1): 0 REC UNREAD, 1 REC READ, 2 STO UNSENT, 3 STO SENT.
REC_UNREAD, REC_READ, STO_UNSENT, STO_SENT = 0, 1, 2, 3

# +CLCC <stat> (TS 27.007 §7.18).
CLCC_STAT = {"active": 0, "held": 1, "dialing": 2, "alerting": 3, "incoming": 4, "waiting": 5}

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

_NUMBER_RE = re.compile(r"\+?[0-9]{1,20}")
_DIAL_RE = re.compile(r"\+?[0-9*#]{1,40}")
_HEX_RE = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_DTMF_RE = re.compile(r"[0-9*#A-Da-d]+")
_DEFAULT_PUK = "12345678"


# ---------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class Timing:
    """Delays (seconds) of the simulated modem and network. Tests shrink them."""

    cmgs_delay: float = 0.05  # AT+CMGS: PDU received -> +CMGS: <mr>
    report_delay: float = 0.3  # +CMGS -> status report (each further outcome: again)
    cnma_timeout: float = 5.0  # +CMT without AT+CNMA -> re-delivered
    ussd_delay: float = 0.2  # AT+CUSD -> +CUSD URC
    reboot_time: float = 0.5  # AT+CFUN=1,1 -> boot URCs; nothing answered meanwhile
    ring_interval: float = 2.0  # RING repetition for an incoming call
    dial_delay: float = 0.1  # ATD -> alerting
    answer_delay: float = 0.5  # alerting -> the remote end answers / refuses
    ready_delay: float = 0.05  # PIN accepted -> SIM ready URCs and registration
    command_delay: float = 0.0  # any command line -> its final result (a real modem: 5-100 ms)

    def update(self, **changes: float) -> None:
        names = {f.name for f in fields(self)}
        for key, value in changes.items():
            if key not in names:
                raise ValueError(f"unknown timing {key!r}; known: {sorted(names)}")
            if not isinstance(value, int | float) or value < 0:
                raise ValueError(f"timing {key} must be a number >= 0")
            setattr(self, key, float(value))


@dataclass(frozen=True, slots=True)
class UssdReply:
    """What the network answers to a USSD code; ``menu`` keeps the session open (m=1)."""

    text: str
    ucs2: bool = False  # force UCS-2 (DCS 72) even if the text fits GSM-7
    menu: Mapping[str, UssdReply] | None = None

    @classmethod
    def from_json(cls, value: Any) -> UssdReply:
        if isinstance(value, str):
            return cls(value)
        if not isinstance(value, dict) or not isinstance(value.get("text"), str):
            raise ValueError("a USSD reply is a string or {'text': ..., 'ucs2'?, 'menu'?}")
        menu = value.get("menu")
        return cls(
            text=value["text"],
            ucs2=bool(value.get("ucs2", False)),
            menu=None if menu is None else {str(k): cls.from_json(v) for k, v in menu.items()},
        )


DEFAULT_USSD: dict[str, UssdReply] = {
    "*124#": UssdReply("Your balance is 2.50 USD, valid until 31/12/2026."),
    "*100#": UssdReply("សមតុល្យរបស់អ្នកគឺ 2.50 ដុល្លារ", ucs2=True),
    "*888#": UssdReply(
        "1 Balance 2 Data",
        menu={"1": UssdReply("Balance: 2.50 USD"), "2": UssdReply("Data: 1024 MB left")},
    ),
}


@dataclass(frozen=True, slots=True)
class SentPart:
    """One SMS-SUBMIT the simulated network accepted (answered ``+CMGS: <reference>``)."""

    at: float  # wall clock
    destination: str
    text: str  # this part's text
    reference: int  # TP-MR the modem assigned
    part: int  # 1-based
    parts: int
    concat_reference: int | None
    encoding: str
    status_report_requested: bool
    pdu: str


@dataclass(slots=True)
class CallRecord:
    id: int
    direction: Literal["in", "out"]
    state: str  # dialing, alerting, incoming, active, ended
    number: str
    started_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    end_reason: str | None = None  # local_hangup, remote_hangup, busy, no_answer, ...
    dtmf: str = ""


@dataclass(slots=True)
class _Slot:
    kind: Literal["deliver", "status_report", "submit"]
    pdu: str
    stat: int


@dataclass(slots=True)
class _Incoming:
    kind: Literal["deliver", "status_report"]
    pdu: str
    route: RouteMode = "auto"
    attempts: int = 0


@dataclass(slots=True)
class _Pending:
    """The ``> `` prompt is open for AT+CMGS / AT+CMGW."""

    command: Literal["+CMGS", "+CMGW"]
    length: int
    failure: str | None
    store_stat: int = STO_UNSENT


@dataclass(slots=True)
class _Failure:
    prefix: str
    response: str
    remaining: int


@dataclass(slots=True)
class _Timer:
    due: float
    seq: int
    callback: Callable[[], None]
    cancelled: bool = False

    def __lt__(self, other: _Timer) -> bool:
        return (self.due, self.seq) < (other.due, other.seq)

    def cancel(self) -> None:
        self.cancelled = True


@dataclass(frozen=True, slots=True)
class _Cmd:
    name: str  # "+CSQ", "^ICCID", "E", "&F", "D", "S"
    kind: Literal["exec", "read", "test", "set"]
    args: str  # after "=" for extended commands; digits for basic ones; dial string for D
    text: str  # "AT" + the command as written, for logs and fail_next


class _Final(Exception):
    """Ends the command line with this final result code (ERROR, +CME ERROR: n...)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class _ParseError(Exception):
    pass


_DEFER: list[str] = []  # identity marker: the handler answers later (prompt, delay)


def _split_args(s: str) -> list[str]:
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
        raise _Final("ERROR")
    out.append("".join(cur).strip())
    return out


def _parse_line(body: str) -> list[_Cmd]:
    """Split what follows ``AT`` into commands (basic ones, extended ones, ``D...``)."""
    cmds: list[_Cmd] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c in " ;":
            i += 1
            continue
        if c in "+^$%":
            j = i + 1
            while j < n and (body[j].isalnum() or body[j] == "_"):
                j += 1
            name = body[i:j].upper()
            if len(name) == 1:
                raise _ParseError(body)
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
                cmds.append(_Cmd(name, "exec", "", text))
            elif rest == "?":
                cmds.append(_Cmd(name, "read", "", text))
            elif rest == "=?":
                cmds.append(_Cmd(name, "test", "", text))
            elif rest.startswith("="):
                cmds.append(_Cmd(name, "set", rest[1:], text))
            else:
                raise _ParseError(body)
            i = k + 1
            continue
        upper = c.upper()
        if upper == "D":
            cmds.append(_Cmd("D", "set", body[i + 1 :], "ATD" + body[i + 1 :]))
            break
        if c == "&" and i + 1 < n and body[i + 1].isalpha():
            name = "&" + body[i + 1].upper()
            j = i + 2
            while j < n and body[j].isdigit():
                j += 1
            cmds.append(_Cmd(name, "set", body[i + 2 : j], "AT" + body[i:j].upper()))
            i = j
            continue
        if upper == "S" and i + 1 < n and body[i + 1].isdigit():
            j = i + 1
            while j < n and body[j].isdigit():
                j += 1
            if j < n and body[j] == "?":
                cmds.append(_Cmd("S", "read", body[i + 1 : j], "AT" + body[i : j + 1]))
                i = j + 1
                continue
            if j < n and body[j] == "=":
                k = j + 1
                while k < n and body[k].isdigit():
                    k += 1
                cmds.append(_Cmd("S", "set", body[i + 1 : k], "AT" + body[i:k]))
                i = k
                continue
            raise _ParseError(body)
        if c.isalpha():
            j = i + 1
            while j < n and body[j].isdigit():
                j += 1
            cmds.append(_Cmd(upper, "set", body[i + 1 : j], "AT" + body[i:j].upper()))
            i = j
            continue
        raise _ParseError(body)
    return cmds


def _int(value: str, lo: int, hi: int, *, error: str = "ERROR") -> int:
    try:
        n = int(value)
    except ValueError:
        raise _Final(error) from None
    if not lo <= n <= hi:
        raise _Final(error)
    return n


def tpdu_length(pdu_hex: str) -> int:
    """The ``<length>`` of a PDU as printed by a modem: octets after the SMSC field."""
    data = bytes.fromhex(pdu_hex)
    if not data:
        return 0
    return max(0, len(data) - 1 - data[0])


def _packed_gsm7_hex(text: str) -> str:
    septets = gsm7_septets(text)
    if len(septets) % 8 == 7:
        septets.append(CR)  # TS 23.038 §6.1.2.3.1: CR in 7 spare bits
    return pack_septets(septets).hex().upper()


# ---------------------------------------------------------------------------
# The machine
# ---------------------------------------------------------------------------


class ModemMachine:
    """A scripted GSM modem in PDU mode (see the module docstring for the rules).

    ``now`` is the monotonic clock timers use; ``wall_clock`` gives the epoch seconds
    put in SMS timestamps and the logs. Both are injected so tests can run without
    sleeping.
    """

    def __init__(
        self,
        *,
        now: Callable[[], float],
        wall_clock: Callable[[], float],
        profile: str = "huawei",
        imei: str = "861234567890123",
        iccid: str = "8985501234567890123F",
        imsi: str = "456061234567890",
        operator: str = "Smart",
        mccmnc: str = "45606",
        csq: int = 20,
        smsc: str = "+85512000000",
        storage_size: int = 10,
        pin: str | None = None,
        own_number: str | None = None,
        timing: Timing | None = None,
        require_cnma: bool = True,
        status_reports: Literal["cnmi", "cdsi"] = "cnmi",
        interleave_urcs: bool = False,
        ussd: Mapping[str, UssdReply] | None = None,
        utc_offset_hours: float = 7.0,
        name: str = "sim",
        transcript_lines: int = TRANSCRIPT_LINES,
    ) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; known: {sorted(PROFILES)}")
        if not 1 <= storage_size <= 255:
            raise ValueError("storage_size must be 1..255")
        if not 0 <= csq <= 31 and csq != 99:
            raise ValueError("csq must be 0..31 or 99")
        if pin is not None and not re.fullmatch(r"[0-9]{4,8}", pin):
            raise ValueError("pin must be 4 to 8 digits")
        if not _NUMBER_RE.fullmatch(smsc):
            raise ValueError(f"invalid SMSC {smsc!r}")
        self.profile: Profile = PROFILES[profile]
        self.name = name
        self._now = now
        self._wall = wall_clock
        self._tz = timezone(timedelta(hours=utc_offset_hours))
        self.timing = timing if timing is not None else Timing()
        self.imei = imei
        self.iccid = iccid
        self.imsi = imsi
        self.operator = operator
        self.mccmnc = mccmnc
        self.own_number = own_number
        self.require_cnma = require_cnma
        self.status_reports = status_reports
        self.interleave_urcs = interleave_urcs
        self.ussd_table: dict[str, UssdReply] = dict(DEFAULT_USSD if ussd is None else ussd)

        # --- SIM (kept across power cycles) ---
        self.sim_present = True
        self.pin = pin
        self.pin_ok = pin is None
        self.pin_attempts = 3
        self.puk = _DEFAULT_PUK
        self.smsc = smsc
        self.storage: list[_Slot | None] = [None] * storage_size
        # --- network (kept) ---
        self.network_stat = 1  # what set_registration configured (0..5)
        self.csq = csq
        self.network_queue: deque[_Incoming] = deque()
        self.outcomes: dict[str, tuple[list[int], int | None]] = {"*": ([0x00], None)}
        self.call_behaviours: dict[str, tuple[CallBehaviour, float | None]] = {}
        self.next_mr = 0
        self.sent: list[SentPart] = []
        self.status_reports_sent: list[dict[str, Any]] = []
        self.ussd_log: list[dict[str, Any]] = []
        self.call_log: list[CallRecord] = []
        self.counters: dict[str, int] = {
            "cmt_sent": 0,
            "cmt_acked": 0,
            "cmt_unacked": 0,
            "cmt_nacked": 0,
            "cmti_sent": 0,
            "cds_sent": 0,
            "cdsi_sent": 0,
            "reports_dropped": 0,
            "commands": 0,
            "swallowed_bytes": 0,
        }
        if transcript_lines < 1:
            raise ValueError("transcript_lines must be >= 1")
        self.transcript: deque[tuple[float, str, str]] = deque(maxlen=transcript_lines)

        # --- fault knobs ---
        self.powered = True
        self.booting = False
        self.unresponsive = False
        self._failures: list[_Failure] = []

        # --- I/O and timers ---
        self._out = bytearray()
        self._held: list[bytes] = []
        self._inbuf = bytearray()
        self._timers: list[_Timer] = []
        self._epoch = 0
        self._seq = itertools.count()
        self._busy = False
        self._in_command = False
        self._pending: _Pending | None = None
        self._last_line = ""
        self._outstanding: _Incoming | None = None
        self._outstanding_timer: _Timer | None = None
        self._memfull_reported = False
        self._last_reg = -1
        self._ussd_session: UssdReply | None = None
        self.calls: list[CallRecord] = []
        self.on_reboot: Callable[[], None] | None = None
        self._call_timers: dict[int, list[_Timer]] = {}

        self._reset_settings()
        self._cfun = 1
        self._cops_mode = 0
        self._last_reg = self.registration()

    # ------------------------------------------------------------------ I/O

    def receive_data(self, data: bytes) -> None:
        """Bytes the driver wrote to the port."""
        self._run_due()
        if not self.powered or self.booting:
            return
        if self.unresponsive:
            self.counters["swallowed_bytes"] += len(data)
            return
        self._inbuf += data
        self._process_input()
        self._run_due()

    def data_to_send(self) -> bytes:
        """Bytes for the driver; empties the output buffer."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`advance` should be called next (monotonic seconds), or None."""
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0].due if self._timers else None

    def advance(self) -> None:
        """Run every timer that is due by ``now()``."""
        self._run_due()

    def _run_due(self) -> None:
        now = self._now()
        while self._timers and self._timers[0].due <= now:
            timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                timer.callback()

    def _later(
        self, delay: float, callback: Callable[[], None], *, network: bool = False
    ) -> _Timer:
        """Run ``callback`` after ``delay``. Modem-side timers die with a power cycle
        (the epoch changes); ``network`` ones (arrivals, status reports) survive it."""
        if network:
            run = callback
        else:
            epoch = self._epoch

            def run() -> None:
                if self._epoch == epoch:
                    callback()

        timer = _Timer(self._now() + max(0.0, delay), next(self._seq), run)
        heapq.heappush(self._timers, timer)
        return timer

    def _emit(self, data: bytes) -> None:
        if self.powered and not self.booting and not self.unresponsive:
            self._out += data

    def _urc(self, line: str) -> None:
        self._note("urc", line)
        data = f"\r\n{line}\r\n".encode("latin-1", "replace")
        if self._in_command and not self.interleave_urcs:
            self._held.append(data)
        else:
            self._emit(data)

    def _note(self, direction: str, text: str) -> None:
        self.transcript.append((self._wall(), direction, text))

    # --------------------------------------------------------------- input

    def _process_input(self) -> None:
        while not self._busy and self.powered and not self.booting:
            if self._pending is not None:
                end = next((i for i, b in enumerate(self._inbuf) if b in (CTRL_Z, ESC)), -1)
                if end < 0:
                    if len(self._inbuf) > MAX_LINE:
                        self._inbuf.clear()
                    return
                raw = bytes(self._inbuf[:end])
                aborted = self._inbuf[end] == ESC
                del self._inbuf[: end + 1]
                if self.echo:
                    self._emit(raw)
                self._on_pdu(raw, aborted)
                continue
            end = self._inbuf.find(b"\r")
            if end < 0:
                if len(self._inbuf) > MAX_LINE:
                    log.warning("sim_line_overflow", modem=self.name, dropped=len(self._inbuf))
                    self._inbuf.clear()
                return
            line = bytes(self._inbuf[:end])
            del self._inbuf[: end + 1]
            self._on_line(line)

    def _on_line(self, raw: bytes) -> None:
        text = raw.decode("latin-1").strip(" \t\n\x00")
        if not text:
            return
        if text.upper() == "A/":
            text = self._last_line
            if not text:
                return
        if self.echo:
            self._emit(raw.lstrip(b"\n") + b"\r")
        if text[:2].upper() != "AT":
            self._note("noise", text)
            return
        self._last_line = text
        self.counters["commands"] += 1
        self._note("in", text)
        self._in_command = True
        try:
            cmds = _parse_line(text[2:])
        except _ParseError:
            self._answer([], "ERROR")
            return
        except _Final as final:
            self._answer([], final.text)
            return
        self._run_commands(cmds, [])

    def _run_commands(self, cmds: Sequence[_Cmd], collected: list[str]) -> None:
        for index, cmd in enumerate(cmds):
            failure = self._take_failure(cmd.text)
            if failure is not None and cmd.name not in ("+CMGS", "+CMGW"):
                self._answer(collected, failure)
                return
            handler = getattr(self, "_at_" + _handler_name(cmd.name), None)
            if cmd.name in self.profile.vendor_ok:
                handler = self._at_vendor_ok
            elif cmd.name in VENDOR_COMMANDS and cmd.name not in self.profile.vendor_commands:
                handler = None
            if handler is None:
                self._answer(collected, "ERROR")
                return
            try:
                result: list[str] = (
                    handler(cmd, failure) if cmd.name in ("+CMGS", "+CMGW") else handler(cmd)
                )
            except _Final as final:
                self._answer(collected, final.text)
                return
            if result is _DEFER:
                if index + 1 < len(cmds):
                    log.info("sim_chain_truncated", modem=self.name, dropped=cmds[index + 1].text)
                return
            collected.extend(result)
        self._answer(collected, "OK")

    def _answer(self, lines: Sequence[str], final: str) -> None:
        """The final result of a command line, after ``timing.command_delay``."""
        if self.timing.command_delay > 0:
            self._finish_later(self.timing.command_delay, lines, final)
        else:
            self._finish(lines, final)

    def _finish(self, lines: Sequence[str], final: str) -> None:
        """Write the information lines and the final result code; end the command."""
        out = ""
        if lines:
            out += "\r\n" + "\r\n".join(lines) + "\r\n"
        if final:
            out += f"\r\n{final}\r\n"
        for line in lines:
            self._note("out", line)
        self._note("final", final or "(no response)")
        self._emit(out.encode("latin-1", "replace"))
        self._in_command = False
        self._busy = False
        held, self._held = self._held, []
        for data in held:
            self._emit(data)

    def _finish_later(self, delay: float, lines: Sequence[str], final: str) -> None:
        self._busy = True
        lines = list(lines)

        def done() -> None:
            if self._busy:
                self._finish(lines, final)
                self._process_input()

        self._later(delay, done)

    def _take_failure(self, text: str) -> str | None:
        upper = text.upper()
        for failure in self._failures:
            if upper.startswith(failure.prefix):
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
                log.info(
                    "sim_failing_command", modem=self.name, command=text, response=failure.response
                )
                return failure.response
        return None

    # ------------------------------------------------------------- errors

    def _cme(self, code: int) -> _Final:
        if self.cmee == 0:
            return _Final("ERROR")
        if self.cmee == 2:
            return _Final(f"+CME ERROR: {CME_TEXT.get(code, str(code))}")
        return _Final(f"+CME ERROR: {code}")

    def _cms(self, code: int) -> _Final:
        if self.cmee == 0:
            return _Final("ERROR")
        if self.cmee == 2:
            return _Final(f"+CMS ERROR: {CMS_TEXT.get(code, str(code))}")
        return _Final(f"+CMS ERROR: {code}")

    def _need_sim(self, *, sms: bool = False, pin: bool = True) -> None:
        if not self.sim_present:
            raise self._cms(310) if sms else self._cme(10)
        if not pin:
            return
        if self.pin_attempts <= 0:
            raise self._cms(316) if sms else self._cme(12)
        if not self.pin_ok:
            raise self._cms(311) if sms else self._cme(11)

    # ------------------------------------------------------------- settings

    def _reset_settings(self) -> None:
        self.echo = True
        self.cmee = self.profile.default_cmee
        self.cnmi = list(self.profile.default_cnmi)
        self.creg_n = 0
        self.cgreg_n = 0
        self.cereg_n = 0
        self.clip = 0
        self.crc = 0
        self.colp = 0
        self.cscs = "IRA"
        self.csms = 0
        self.cops_format = 0
        self.cusd_n = 0

    def sim_ready(self) -> bool:
        return self.sim_present and self.pin_ok and self.pin_attempts > 0

    def registration(self) -> int:
        """The <stat> AT+CREG? reports now (0 not registered ... 5 roaming)."""
        if not self.powered or self.booting or self._cfun != 1 or not self.sim_ready():
            return 0
        if self._cops_mode == 2:
            return 0
        return self.network_stat

    def registered(self) -> bool:
        return self.registration() in (1, 5)

    def _reg_changed(self) -> None:
        stat = self.registration()
        if stat == self._last_reg:
            return
        self._last_reg = stat
        for n, name, supported in (
            (self.creg_n, "+CREG", True),
            (self.cgreg_n, "+CGREG", True),
            (self.cereg_n, "+CEREG", self.profile.lte),
        ):
            if n and supported:
                self._urc(f"{name}: {self._reg_fields(n, stat, urc=True)}")
        self._pump_network()

    def _reg_fields(self, n: int, stat: int, *, urc: bool) -> str:
        head = str(stat) if urc else f"{n},{stat}"
        if n == 2 and stat in (1, 5):
            head += ',"1A2B","01C3D4"'
            if self.profile.lte:
                head += f",{self.profile.act}"
        return head

    # ------------------------------------------------------- power and faults

    def power_off(self) -> None:
        """The modem loses power (unplugged). Volatile state goes; SIM and network stay."""
        self._teardown()
        self._out.clear()
        self.powered = False
        self._reg_changed()
        log.info("sim_power_off", modem=self.name)

    def power_on(self, *, quiet: bool = True) -> None:
        """Power back (replugged). ``quiet``: no boot URCs (nobody has the port open)."""
        self.powered = True
        self.booting = False
        self._boot(quiet=quiet)
        log.info("sim_power_on", modem=self.name)

    def reboot(self) -> None:
        """What AT+CFUN=1,1 does after its OK: silence for ``reboot_time``, then boot."""
        self._teardown()
        self.booting = True
        self._reg_changed()
        if self.on_reboot is not None:  # the shell re-enumerates the port instead
            self.on_reboot()
            return
        self._later(self.timing.reboot_time, lambda: self._boot(quiet=False), network=True)
        log.info("sim_rebooting", modem=self.name, seconds=self.timing.reboot_time)

    def _teardown(self) -> None:
        self._epoch += 1  # pending answers, rings, USSD replies... never happen
        self._inbuf.clear()
        self._held.clear()
        self._pending = None
        self._busy = False
        self._in_command = False
        self._ussd_session = None
        if self._outstanding is not None:
            self.network_queue.appendleft(self._outstanding)
            self._outstanding = None
            self._outstanding_timer = None
        for call in list(self.calls):
            self._end_call(call, "power_loss", urc=False)

    def _boot(self, *, quiet: bool) -> None:
        self.booting = False
        self._reset_settings()
        self._cfun = 1
        self._cops_mode = 0
        if self.pin is not None:
            self.pin_ok = False
        if not quiet:
            for line in self.profile.boot_urcs:
                self._urc(line)
            if self.profile.cpin_urc:
                self._urc(f"+CPIN: {self._cpin_state()}")
            if self.sim_ready():
                for line in self.profile.sim_ready_urcs:
                    self._urc(line)
        self._reg_changed()
        self._pump_network()

    def _cpin_state(self) -> str:
        if not self.sim_present:
            return "NOT INSERTED"
        if self.pin_attempts <= 0:
            return "SIM PUK"
        return "READY" if self.pin_ok else "SIM PIN"

    def set_unresponsive(self, value: bool) -> None:
        self.unresponsive = bool(value)
        if not value:
            self._inbuf.clear()
        log.info("sim_unresponsive", modem=self.name, value=self.unresponsive)

    def fail_next(self, prefix: str, response: str = "ERROR", count: int = 1) -> None:
        """The next ``count`` commands starting with ``prefix`` answer ``response``.

        ``prefix`` may omit the ``AT`` ("+CMGS" is "AT+CMGS"). ``response`` is the final
        result code line ("ERROR", "+CMS ERROR: 500", "NO CARRIER"...); "" gives no
        answer at all (a command the modem silently drops). For AT+CMGS / AT+CMGW the
        prompt is still given and the failure answers the PDU, as a network would.
        """
        if "\r" in response or "\n" in response:
            raise ValueError("response must be a single line")
        if count < 1:
            raise ValueError("count must be >= 1")
        norm = prefix.strip().upper()
        if not norm.startswith("AT"):
            norm = "AT" + norm
        self._failures.append(_Failure(norm, response, count))

    def clear_failures(self) -> int:
        """Forget every pending :meth:`fail_next`; how many were left."""
        left = sum(f.remaining for f in self._failures)
        self._failures.clear()
        return left

    def garbage(self, data: bytes) -> None:
        """Raw bytes on the line (noise), written even while unresponsive."""
        if self.powered and not self.booting:
            self._out += data

    def set_signal(self, csq: int) -> None:
        if not (0 <= csq <= 31 or csq == 99):
            raise ValueError("csq must be 0..31 or 99")
        self.csq = csq
        if self.profile.rssi_urc:
            self._urc(f"^RSSI: {csq}")

    def set_registration(self, stat: int) -> None:
        if not 0 <= stat <= 5:
            raise ValueError("registration stat must be 0..5")
        self.network_stat = stat
        self._reg_changed()

    def remove_sim(self) -> None:
        self.sim_present = False
        for call in list(self.calls):
            self._end_call(call, "sim_removed", urc=True)
        if self.profile.cpin_urc:
            self._urc("+CPIN: NOT INSERTED")
        self._reg_changed()

    def insert_sim(self) -> None:
        self.sim_present = True
        self.pin_ok = self.pin is None
        if self.profile.cpin_urc:
            self._urc(f"+CPIN: {self._cpin_state()}")
        if self.sim_ready():
            for line in self.profile.sim_ready_urcs:
                self._urc(line)
        self._reg_changed()

    def set_outcome(
        self,
        destination: str,
        outcome: str | int | Sequence[str | int] = "delivered",
        *,
        submit_error: int | None = None,
    ) -> None:
        """What happens to SMS sent to ``destination`` ("*" = every other number).

        ``outcome``: "delivered" | "pending" | "failed" or a TP-ST value, or a list of
        them: one status report each, ``timing.report_delay`` apart (e.g.
        ``["pending", "delivered"]``). ``submit_error``: AT+CMGS answers
        ``+CMS ERROR: <submit_error>`` instead (nothing is sent).
        """
        items = [outcome] if isinstance(outcome, str | int) else list(outcome)
        statuses: list[int] = []
        for item in items:
            if isinstance(item, str):
                if item not in STATUS_CODES:
                    raise ValueError(f"outcome must be one of {sorted(STATUS_CODES)}")
                statuses.append(STATUS_CODES[item])
            elif isinstance(item, int) and 0 <= item <= 0xFF:
                statuses.append(item)
            else:
                raise ValueError(f"invalid outcome {item!r}")
        if submit_error is not None and not 0 <= submit_error <= 511:
            raise ValueError("submit_error must be a +CMS ERROR code (0..511)")
        self.outcomes[destination] = (statuses, submit_error)

    def set_ussd(self, code: str, reply: UssdReply) -> None:
        self.ussd_table[code] = reply

    def set_call_behaviour(
        self, number: str, behaviour: CallBehaviour, *, delay: float | None = None
    ) -> None:
        """How the far end of an outgoing call to ``number`` ("*" = default) behaves."""
        if behaviour not in ("answer", "busy", "no_answer", "reject", "ring"):
            raise ValueError(f"unknown call behaviour {behaviour!r}")
        self.call_behaviours[number] = (behaviour, delay)

    # ------------------------------------------------------------ network side

    def deliver_sms(
        self,
        sender: str,
        text: str,
        *,
        order: Sequence[int] | None = None,
        duplicate: Sequence[int] | None = None,
        drop: Sequence[int] | None = None,
        mode: RouteMode = "auto",
        ucs2: bool = False,
        timestamp: datetime | float | None = None,
        reference: int | None = None,
        interval: float = 0.0,
    ) -> tuple[int, list[str]]:
        """The network sends an SMS: (number of parts, PDUs in the order delivered).

        Parts are numbered from 1. ``order`` lists part numbers in delivery order (parts
        it omits are not delivered); ``duplicate`` parts are delivered once more after
        the rest; ``drop`` parts are never delivered. ``mode``: "auto" routes by AT+CNMI,
        "cmti" stores in the SIM whatever CNMI says (like a class-2 SMS), "cmt" always
        gives ``+CMT``. ``interval`` spaces the parts in time.
        """
        if mode not in ("auto", "cmti", "cmt"):
            raise ValueError("mode must be 'auto', 'cmti' or 'cmt'")
        if timestamp is None:
            ts = datetime.fromtimestamp(self._wall(), self._tz)
        elif isinstance(timestamp, datetime):
            ts = timestamp
        else:
            ts = datetime.fromtimestamp(float(timestamp), self._tz)
        pdus = encode_deliver(
            sender, text, timestamp=ts, smsc=self.smsc, reference=reference, force_ucs2=ucs2
        )
        count = len(pdus)
        sequence = list(order) if order is not None else list(range(1, count + 1))
        sequence += list(duplicate or [])
        dropped = set(drop or [])
        for part in [*sequence, *dropped]:
            if not isinstance(part, int) or not 1 <= part <= count:
                raise ValueError(f"part number {part!r} out of range 1..{count}")
        chosen = [pdus[p - 1] for p in sequence if p not in dropped]
        log.info(
            "sim_sms_incoming", modem=self.name, sender=sender, parts=count, delivered=len(chosen)
        )
        self._queue_incoming([_Incoming("deliver", pdu, mode) for pdu in chosen], interval)
        return count, chosen

    def deliver_raw_pdu(self, pdu: str, *, mode: RouteMode = "auto") -> str:
        """Deliver a PDU exactly as given (SMSC field first): returns its kind.

        An SMS-STATUS-REPORT is routed as a status report; anything else, undecodable
        PDUs included (to test a driver's error path), as an SMS-DELIVER.
        """
        pdu = "".join(pdu.split()).upper()
        if not _HEX_RE.fullmatch(pdu):
            raise ValueError("pdu must be hex")
        try:
            decoded = decode_pdu(pdu)
        except ProtocolError:
            decoded = None
        kind: Literal["deliver", "status_report"] = (
            "status_report" if isinstance(decoded, StatusReport) else "deliver"
        )
        self._queue_incoming([_Incoming(kind, pdu, mode)], 0.0)
        return kind

    def _queue_incoming(self, items: list[_Incoming], interval: float) -> None:
        if interval <= 0:
            self.network_queue.extend(items)
            self._pump_network()
            return
        for i, item in enumerate(items):
            if i == 0:
                self._arrive(item)
            else:
                self._later(i * interval, functools.partial(self._arrive, item), network=True)

    def _arrive(self, item: _Incoming) -> None:
        self.network_queue.append(item)
        self._pump_network()

    def _can_receive(self) -> bool:
        return self.powered and not self.booting and self.registered()

    def _pump_network(self) -> None:
        while self.network_queue and self._can_receive():
            if not self._route(self.network_queue[0]):
                return
            self.network_queue.popleft()

    def _route(self, item: _Incoming) -> bool:
        """Hand one item to the terminal side; False if it must wait."""
        length = tpdu_length(item.pdu)
        mt, ds = self.cnmi[1], self.cnmi[3]
        if item.kind == "status_report":
            if ds == 0:
                self.counters["reports_dropped"] += 1
                log.info("sim_status_report_dropped", modem=self.name, reason="CNMI ds=0")
                return True
            if ds == 1 and self.status_reports == "cnmi":
                return self._send_direct(item, f"+CDS: {length}", "cds_sent")
            return self._store_incoming(item, "+CDSI", "cdsi_sent")
        direct = item.route == "cmt" or (item.route == "auto" and mt == 2)
        if direct:
            return self._send_direct(item, f"+CMT: ,{length}", "cmt_sent")
        return self._store_incoming(item, "+CMTI" if mt else None, "cmti_sent")

    def _send_direct(self, item: _Incoming, header: str, counter: str) -> bool:
        ack = self.require_cnma or self.csms == 1
        if ack and self._outstanding is not None:
            return False
        self.counters[counter] += 1
        item.attempts += 1
        self._urc(f"{header}\r\n{item.pdu}")
        if ack:
            self._outstanding = item
            self._outstanding_timer = self._later(
                self.timing.cnma_timeout, lambda: self._ack_timeout(item)
            )
        return True

    def _ack_timeout(self, item: _Incoming) -> None:
        if self._outstanding is not item:
            return
        self._outstanding = None
        self._outstanding_timer = None
        self.counters["cmt_unacked"] += 1
        log.info("sim_cnma_timeout", modem=self.name, attempts=item.attempts)
        self.network_queue.appendleft(item)
        self._pump_network()

    def _store_incoming(self, item: _Incoming, urc: str | None, counter: str) -> bool:
        index = self._free_slot()
        if index is None:
            if not self._memfull_reported and self.profile.memfull_urc:
                self._urc(self.profile.memfull_urc)
            self._memfull_reported = True
            return False
        kind: Literal["deliver", "status_report"] = item.kind
        self.storage[index] = _Slot(kind, item.pdu, REC_UNREAD)
        if urc is not None:
            self.counters[counter] += 1
            self._urc(f'{urc}: "SM",{index + self.profile.first_index}')
        if self._free_slot() is None and self.profile.memfull_urc:
            self._urc(self.profile.memfull_urc)
            self._memfull_reported = True
        return True

    def _free_slot(self) -> int | None:
        return next((i for i, slot in enumerate(self.storage) if slot is None), None)

    def _slot(self, external: str) -> int:
        index = _int(external, -1000, 1000, error="ERROR") - self.profile.first_index
        if not 0 <= index < len(self.storage):
            raise self._cms(321)
        return index

    def _freed(self) -> None:
        self._memfull_reported = False
        self._pump_network()

    def _status_report_due(self, part: SentPart, statuses: list[int], submitted: float) -> None:
        if not statuses:
            return
        status, rest = statuses[0], statuses[1:]
        now = datetime.fromtimestamp(self._wall(), self._tz)
        pdu = encode_status_report(
            part.reference,
            part.destination,
            status,
            scts=datetime.fromtimestamp(submitted, self._tz),
            discharge=now,
            smsc=self.smsc,
        )
        self.status_reports_sent.append(
            {"reference": part.reference, "destination": part.destination, "status": status}
        )
        self._queue_incoming([_Incoming("status_report", pdu)], 0.0)
        if rest:
            self._later(
                self.timing.report_delay,
                lambda: self._status_report_due(part, rest, submitted),
                network=True,
            )

    # ------------------------------------------------------------------ calls

    def incoming_call(self, number: str, *, ring_for: float | None = None) -> int:
        """A call arrives from ``number``: RING (+CRING) and +CLIP until answered."""
        if not _DIAL_RE.fullmatch(number):
            raise ValueError(f"invalid number {number!r}")
        if self.calls:
            raise ValueError("the simulated modem handles one call at a time")
        if not self.registered():
            raise ValueError("the modem is not registered: no call can reach it")
        call = CallRecord(self._call_id(), "in", "incoming", number, self._wall())
        self.calls.append(call)
        self._ring(call)
        if ring_for is not None:
            self._call_timer(call, ring_for, lambda: self._remote_end(call, "caller_gave_up"))
        return call.id

    def _ring(self, call: CallRecord) -> None:
        if call.state != "incoming" or call not in self.calls:
            return
        self._urc("+CRING: VOICE" if self.crc else "RING")
        if self.clip:
            toa = 145 if call.number.startswith("+") else 129
            self._urc(f'+CLIP: "{call.number}",{toa},,,,0')
        self._call_timer(call, self.timing.ring_interval, lambda: self._ring(call))

    def remote_hangup(self, call_id: int | None = None) -> None:
        """The far end hangs up (or the caller gives up before an answer)."""
        for call in list(self.calls):
            if call_id is None or call.id == call_id:
                self._remote_end(call, "remote_hangup")

    def remote_answer(self, call_id: int | None = None) -> None:
        """The far end of an outgoing call answers (for behaviour "ring")."""
        for call in list(self.calls):
            if (call_id is None or call.id == call_id) and call.direction == "out":
                self._connect(call)

    def _call_id(self) -> int:
        used = {c.id for c in self.calls}
        return next(i for i in itertools.count(1) if i not in used)

    def _call_timer(self, call: CallRecord, delay: float, fn: Callable[[], None]) -> None:
        self._call_timers.setdefault(call.id, []).append(self._later(delay, fn))

    def _connect(self, call: CallRecord) -> None:
        if call not in self.calls or call.state == "active":
            return
        call.state = "active"
        call.answered_at = self._wall()
        if self.profile.huawei_call_urcs:
            self._urc(f"^CONN:{call.id},0")
        elif self.colp:
            self._urc(f'+COLP: "{call.number}",{145 if call.number.startswith("+") else 129}')

    def _remote_end(self, call: CallRecord, reason: str) -> None:
        if call not in self.calls:
            return
        urcs = {"busy": ("BUSY", 17), "no_answer": ("NO ANSWER", 19), "reject": ("NO CARRIER", 21)}
        plain, cause = urcs.get(reason, ("NO CARRIER", 16))
        self._end_call(call, reason, urc=True, plain=plain, cause=cause)

    def _end_call(
        self,
        call: CallRecord,
        reason: str,
        *,
        urc: bool,
        plain: str | None = "NO CARRIER",
        cause: int = 16,
    ) -> None:
        self.calls.remove(call)
        for timer in self._call_timers.pop(call.id, []):
            timer.cancel()
        now = self._wall()
        duration = int(now - call.answered_at) if call.answered_at is not None else 0
        call.state = "ended"
        call.ended_at = now
        call.end_reason = reason
        self.call_log.append(call)
        if urc:
            if self.profile.huawei_call_urcs:
                self._urc(f"^CEND:{call.id},{duration},104,{cause}")
            elif plain:
                self._urc(plain)
        log.info("sim_call_ended", modem=self.name, call=call.id, reason=reason)

    # ------------------------------------------------------------ the PDU prompt

    def _on_pdu(self, raw: bytes, aborted: bool) -> None:
        pending = self._pending
        self._pending = None
        if pending is None:  # pragma: no cover - guarded by _process_input
            return
        if aborted:
            self._note("in", "<ESC>")
            self._finish([], "OK")
            return
        text = "".join(raw.decode("latin-1").split())
        self._note("in", text + "<Ctrl-Z>")
        if pending.failure is not None:
            self._finish_later(self.timing.cmgs_delay, [], pending.failure)
            return
        try:
            if not _HEX_RE.fullmatch(text):
                raise ProtocolError("PDU is not hex")
            submit = decode_submit(text, tpdu_length=pending.length)
        except ProtocolError as exc:
            log.info("sim_bad_pdu", modem=self.name, error=str(exc))
            self._finish([], self._cms(304).text)
            return
        if pending.command == "+CMGW":
            index = self._free_slot()
            if index is None:
                self._finish([], self._cms(322).text)
                return
            self.storage[index] = _Slot("submit", text.upper(), pending.store_stat)
            self._finish([f"+CMGW: {index + self.profile.first_index}"], "OK")
            return
        delay = self.timing.cmgs_delay
        if not self.registered():
            self._finish_later(delay, [], self._cms(331).text)
            return
        statuses, submit_error = self.outcomes.get(submit.destination, self.outcomes["*"])
        if submit_error is not None:
            self._finish_later(delay, [], self._cms(submit_error).text)
            return
        mr = self.next_mr
        self.next_mr = (self.next_mr + 1) % 256
        part = SentPart(
            at=self._wall(),
            destination=submit.destination,
            text=submit.text,
            reference=mr,
            part=submit.concat.sequence if submit.concat else 1,
            parts=submit.concat.total if submit.concat else 1,
            concat_reference=submit.concat.reference if submit.concat else None,
            encoding=submit.encoding,
            status_report_requested=submit.status_report_requested,
            pdu=text.upper(),
        )
        self._busy = True

        def accepted() -> None:
            if not self._busy:
                return
            self.sent.append(part)
            log.info(
                "sim_sms_sent",
                modem=self.name,
                destination=part.destination,
                reference=mr,
                part=part.part,
                parts=part.parts,
            )
            self._finish([f"+CMGS: {mr}"], "OK")
            if part.status_report_requested:
                submitted = self._wall()
                self._later(
                    self.timing.report_delay,
                    lambda: self._status_report_due(part, list(statuses), submitted),
                    network=True,
                )
            self._process_input()

        self._later(delay, accepted)

    # ------------------------------------------------------------ AT commands
    # Handlers: _at_<name>(cmd) -> info lines (OK follows), or raise _Final, or return
    # _DEFER when they answer later. Names: "+CSQ" -> _at_csq, "^SYSINFO" -> _at_h_sysinfo.

    def _at_vendor_ok(self, cmd: _Cmd) -> list[str]:
        return []

    def _at_h_iccid(self, cmd: _Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        self._need_sim(pin=False)
        return [f"{cmd.name}: {self.iccid}"]

    _at_qccid = _at_h_iccid

    # --- basic commands

    def _at_e(self, cmd: _Cmd) -> list[str]:
        self.echo = _int(cmd.args or "0", 0, 1) == 1
        return []

    def _at_v(self, cmd: _Cmd) -> list[str]:
        _int(cmd.args or "0", 1, 1)  # only verbose result codes are simulated
        return []

    def _at_q(self, cmd: _Cmd) -> list[str]:
        _int(cmd.args or "0", 0, 0)
        return []

    def _at_z(self, cmd: _Cmd) -> list[str]:
        self._reset_settings()
        return []

    _at_amp_f = _at_z

    def _at_amp_w(self, cmd: _Cmd) -> list[str]:
        return []

    _at_amp_c = _at_amp_d = _at_amp_k = _at_x = _at_l = _at_m = _at_amp_w

    def _at_s(self, cmd: _Cmd) -> list[str]:
        return ["000"] if cmd.kind == "read" else []

    def _at_i(self, cmd: _Cmd) -> list[str]:
        return [line.format(imei=self.imei) for line in self.profile.ati]

    # --- identity

    def _identity(self, cmd: _Cmd, value: str) -> list[str]:
        if cmd.kind == "test":
            return []
        if cmd.kind != "exec":
            raise _Final("ERROR")
        return [value]

    def _at_cgmi(self, cmd: _Cmd) -> list[str]:
        return self._identity(cmd, self.profile.manufacturer)

    def _at_cgmm(self, cmd: _Cmd) -> list[str]:
        return self._identity(cmd, self.profile.model)

    def _at_cgmr(self, cmd: _Cmd) -> list[str]:
        return self._identity(cmd, self.profile.revision)

    def _at_cgsn(self, cmd: _Cmd) -> list[str]:
        return self._identity(cmd, self.imei)

    _at_gmi, _at_gmm, _at_gmr, _at_gsn = _at_cgmi, _at_cgmm, _at_cgmr, _at_cgsn

    def _at_gcap(self, cmd: _Cmd) -> list[str]:
        return self._identity(cmd, "+GCAP: +CGSM,+DS,+ES")

    def _at_cimi(self, cmd: _Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        self._need_sim()
        return self._identity(cmd, self.imsi)

    def _at_ccid(self, cmd: _Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        self._need_sim(pin=False)
        return [f"{self.profile.ccid_prefix}{self.iccid}"]

    def _at_cnum(self, cmd: _Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        self._need_sim()
        if self.own_number is None:
            return []
        toa = 145 if self.own_number.startswith("+") else 129
        return [f'+CNUM: "","{self.own_number}",{toa}']

    # --- SIM

    def _at_cpin(self, cmd: _Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        if cmd.kind == "read":
            self._need_sim(pin=False)
            return [f"+CPIN: {self._cpin_state()}"]
        if cmd.kind != "set":
            raise _Final("ERROR")
        self._need_sim(pin=False)
        args = _split_args(cmd.args)
        if self.pin_attempts <= 0:
            if len(args) != 2 or args[0] != self.puk or not re.fullmatch(r"[0-9]{4,8}", args[1]):
                raise self._cme(16)
            self.pin, self.pin_attempts, self.pin_ok = args[1], 3, True
        elif self.pin_ok:
            raise self._cme(3)
        elif args[0] == self.pin:
            self.pin_ok = True
            self.pin_attempts = 3
        else:
            self.pin_attempts -= 1
            raise self._cme(16)
        self._later(self.timing.ready_delay, self._sim_unlocked)
        return []

    def _sim_unlocked(self) -> None:
        if self.profile.cpin_urc:
            self._urc("+CPIN: READY")
        for line in self.profile.sim_ready_urcs:
            self._urc(line)
        self._reg_changed()

    # --- general settings

    def _at_cmee(self, cmd: _Cmd) -> list[str]:
        if cmd.kind == "test":
            return ["+CMEE: (0-2)"]
        if cmd.kind == "read":
            return [f"+CMEE: {self.cmee}"]
        if cmd.kind == "set":
            self.cmee = _int(cmd.args, 0, 2)
            return []
        raise _Final("ERROR")

    def _at_cscs(self, cmd: _Cmd) -> list[str]:
        if cmd.kind == "test":
            return ['+CSCS: ("IRA","GSM","UCS2","HEX")']
        if cmd.kind == "read":
            return [f'+CSCS: "{self.cscs}"']
        if cmd.kind == "set":
            value = _split_args(cmd.args)[0].upper()
            if value not in ("IRA", "GSM", "UCS2", "HEX"):
                raise self._cme(4)
            self.cscs = value
            return []
        raise _Final("ERROR")

    def _at_cfun(self, cmd: _Cmd) -> list[str]:
        if cmd.kind == "test":
            return ["+CFUN: (0,1,4),(0-1)"]
        if cmd.kind == "read":
            return [f"+CFUN: {self._cfun}"]
        if cmd.kind != "set":
            raise _Final("ERROR")
        args = _split_args(cmd.args)
        fun = _int(args[0], 0, 4)
        if fun not in (0, 1, 4):
            raise self._cme(4)
        reset = _int(args[1], 0, 1) if len(args) > 1 and args[1] else 0
        if reset:
            self._finish([], "OK")
            self.reboot()
            return _DEFER
        self._cfun = fun
        self._reg_changed()
        return []

    def _at_cpas(self, cmd: _Cmd) -> list[str]:
        if cmd.kind == "test":
            return ["+CPAS: (0-5)"]
        if any(c.state == "incoming" for c in self.calls):
            return ["+CPAS: 3"]
        return ["+CPAS: 4"] if self.calls else ["+CPAS: 0"]

    def _at_cclk(self, cmd: _Cmd) -> list[str]:
        if cmd.kind == "set":
            return []
        now = datetime.fromtimestamp(self._wall(), self._tz)
        offset = now.utcoffset() or timedelta()
        quarters = int(offset.total_seconds() // 900)
        return [f'+CCLK: "{now:%y/%m/%d,%H:%M:%S}{quarters:+03d}"']

    # --- network

    def _at_csq(self, cmd: _Cmd) -> list[str]:
        if cmd.kind == "test":
            return ["+CSQ: (0-31,99),(0-7,99)"]
        if cmd.kind != "exec":
            raise _Final("ERROR")
        return [f"+CSQ: {self.csq if self._cfun == 1 else 99},99"]

    def _registration_cmd(self, cmd: _Cmd, name: str, attr: str) -> list[str]:
        if cmd.kind == "test":
            return [f"{name}: (0-2)"]
        if cmd.kind == "read":
            return [
                f"{name}: {self._reg_fields(getattr(self, attr), self.registration(), urc=False)}"
            ]
        if cmd.kind == "set":
            setattr(self, attr, _int(cmd.args or "0", 0, 2))
            return []
        raise _Final("ERROR")

    def _at_creg(self, cmd: _Cmd) -> list[str]:
        return self._registration_cmd(cmd, "+CREG", "creg_n")

    def _at_cgreg(self, cmd: _Cmd) -> list[str]:
        return self._registration_cmd(cmd, "+CGREG", "cgreg_n")

    def _at_cereg(self, cmd: _Cmd) -> list[str]:
        if not self.profile.lte:
            raise _Final("ERROR")
        return self._registration_cmd(cmd, "+CEREG", "cereg_n")

    def _at_cops(self, cmd: _Cmd) -> list[str]:
        if cmd.kind == "test":
            return [
                f'+COPS: (2,"{self.operator}","{self.operator}","{self.mccmnc}",'
                f"{self.profile.act}),,(0-4),(0-2)"
            ]
        if cmd.kind == "read":
            if not self.registered():
                return [f"+COPS: {self._cops_mode}"]
            name = self.mccmnc if self.cops_format == 2 else self.operator
            return [f'+COPS: {self._cops_mode},{self.cops_format},"{name}",{self.profile.act}']
        if cmd.kind != "set":
            raise _Final("ERROR")
        args = _split_args(cmd.args)
        mode = _int(args[0] or "0", 0, 4)
        if len(args) > 1 and args[1]:
            self.cops_format = _int(args[1], 0, 2)
        if mode == 3:
            return []
        if mode in (1, 4) and len(args) > 2 and args[2] not in (self.operator, self.mccmnc):
            raise self._cme(30)
        self._need_sim()
        self._cops_mode = 2 if mode == 2 else 0
        self._reg_changed()
        return []

    def _at_h_sysinfo(self, cmd: _Cmd) -> list[str]:
        service = 2 if self.registered() else 0
        roam = 1 if self.registration() == 5 else 0
        sim = 1 if self.sim_ready() else (255 if not self.sim_present else 0)
        return [f"^SYSINFO: {service},3,{roam},5,{sim},,4"]

    # --- SMS settings

    def _at_cmgf(self, cmd: _Cmd) -> list[str]:
        if cmd.kind == "test":
            return ["+CMGF: (0)"]
        if cmd.kind == "read":
            return ["+CMGF: 0"]
        if cmd.kind == "set" and cmd.args.strip() == "0":
            return []
        raise _Final("ERROR")  # text mode is not simulated

    def _at_csms(self, cmd: _Cmd) -> list[str]:
        if cmd.kind == "test":
            return ["+CSMS: (0,1)"]
        if cmd.kind == "read":
            return [f"+CSMS: {self.csms},1,1,1"]
        if cmd.kind == "set":
            self.csms = _int(cmd.args, 0, 1)
            return ["+CSMS: 1,1,1"]
        raise _Final("ERROR")

    def _at_csca(self, cmd: _Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        self._need_sim(sms=True)
        if cmd.kind == "read":
            return [f'+CSCA: "{self.smsc}",{145 if self.smsc.startswith("+") else 129}']
        if cmd.kind != "set":
            raise _Final("ERROR")
        number = _split_args(cmd.args)[0]
        if not _NUMBER_RE.fullmatch(number):
            raise self._cms(304)
        self.smsc = number
        return []

    def _at_csmp(self, cmd: _Cmd) -> list[str]:
        return ["+CSMP: 17,167,0,0"] if cmd.kind == "read" else []

    def _at_csdh(self, cmd: _Cmd) -> list[str]:
        return ["+CSDH: 0"] if cmd.kind == "read" else []

    def _at_cpms(self, cmd: _Cmd) -> list[str]:
        if cmd.kind == "test":
            return ['+CPMS: ("SM"),("SM"),("SM")']
        self._need_sim(sms=True)
        used, total = sum(s is not None for s in self.storage), len(self.storage)
        if cmd.kind == "read":
            return [f'+CPMS: "SM",{used},{total},"SM",{used},{total},"SM",{used},{total}']
        if cmd.kind != "set":
            raise _Final("ERROR")
        memories = [m.upper() for m in _split_args(cmd.args)]
        if not 1 <= len(memories) <= 3 or any(m != "SM" for m in memories):
            raise self._cms(302)
        return [f"+CPMS: {','.join([f'{used},{total}'] * len(memories))}"]

    def _at_cnmi(self, cmd: _Cmd) -> list[str]:
        if cmd.kind == "test":
            return ["+CNMI: (0-3),(0-3),(0-3),(0-2),(0,1)"]
        if cmd.kind == "read":
            return ["+CNMI: " + ",".join(map(str, self.cnmi))]
        if cmd.kind != "set":
            raise _Final("ERROR")
        args = _split_args(cmd.args)
        limits = (3, 3, 3, 2, 1)
        if len(args) > 5:
            raise self._cms(303)
        values = list(self.cnmi)
        for i, arg in enumerate(args):
            if arg:
                values[i] = _int(arg, 0, limits[i], error=self._cms(303).text)
        self.cnmi = values
        if self._outstanding is not None and values[1] != 2 and self._outstanding.kind == "deliver":
            # routing to the TE switched off before the ack: the message goes to the SIM
            item, self._outstanding = self._outstanding, None
            if self._outstanding_timer is not None:
                self._outstanding_timer.cancel()
            self.network_queue.appendleft(item)
        self._later(0, self._pump_network)
        return []

    def _at_cnma(self, cmd: _Cmd) -> list[str]:
        if cmd.kind == "test":
            return ["+CNMA: (0-2)"]
        if cmd.kind not in ("exec", "set"):
            raise _Final("ERROR")
        n = _int(_split_args(cmd.args)[0] or "0", 0, 2) if cmd.kind == "set" else 0
        item = self._outstanding
        if item is None:
            raise self._cms(340)
        self._outstanding = None
        if self._outstanding_timer is not None:
            self._outstanding_timer.cancel()
            self._outstanding_timer = None
        if n == 2:
            self.counters["cmt_nacked"] += 1
            self._later(self.timing.cnma_timeout, lambda: self._arrive_front(item), network=True)
        else:
            self.counters["cmt_acked"] += 1
            self._later(0, self._pump_network)
        return []

    def _arrive_front(self, item: _Incoming) -> None:
        self.network_queue.appendleft(item)
        self._pump_network()

    # --- SMS storage

    def _at_cmgr(self, cmd: _Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        if cmd.kind != "set":
            raise _Final("ERROR")
        self._need_sim(sms=True)
        index = self._slot(_split_args(cmd.args)[0])
        slot = self.storage[index]
        if slot is None:
            if self.profile.empty_read_ok:
                return []
            raise self._cms(321)
        lines = [f"+CMGR: {slot.stat},,{tpdu_length(slot.pdu)}", slot.pdu]
        if slot.stat == REC_UNREAD:
            slot.stat = REC_READ
        return lines

    def _at_cmgl(self, cmd: _Cmd) -> list[str]:
        if cmd.kind == "test":
            return ["+CMGL: (0-4)"]
        if cmd.kind not in ("exec", "set"):
            raise _Final("ERROR")
        self._need_sim(sms=True)
        wanted = _int(_split_args(cmd.args)[0] or "0", 0, 4) if cmd.kind == "set" else 0
        lines: list[str] = []
        for i, slot in enumerate(self.storage):
            if slot is None or (wanted != 4 and slot.stat != wanted):
                continue
            index = i + self.profile.first_index
            lines += [f"+CMGL: {index},{slot.stat},,{tpdu_length(slot.pdu)}", slot.pdu]
            if slot.stat == REC_UNREAD:
                slot.stat = REC_READ
        return lines

    def _at_cmgd(self, cmd: _Cmd) -> list[str]:
        first = self.profile.first_index
        if cmd.kind == "test":
            used = [str(i + first) for i, s in enumerate(self.storage) if s is not None]
            return [f"+CMGD: ({','.join(used)}),(0-4)"]
        if cmd.kind != "set":
            raise _Final("ERROR")
        self._need_sim(sms=True)
        args = _split_args(cmd.args)
        flag = _int(args[1], 0, 4) if len(args) > 1 and args[1] else 0
        if flag == 0:
            self.storage[self._slot(args[0])] = None
        else:
            doomed = {1: {REC_READ}, 2: {REC_READ, STO_SENT}, 3: {REC_READ, STO_SENT, STO_UNSENT}}
            for i, slot in enumerate(self.storage):
                if slot is not None and (flag == 4 or slot.stat in doomed[flag]):
                    self.storage[i] = None
        self._later(0, self._freed)
        return []

    def _at_cmgs(self, cmd: _Cmd, failure: str | None) -> list[str]:
        if cmd.kind == "test":
            return []
        if cmd.kind != "set":
            raise _Final("ERROR")
        self._need_sim(sms=True)
        length = _int(_split_args(cmd.args)[0], 1, 232, error=self._cms(304).text)
        return self._prompt(_Pending("+CMGS", length, failure))

    def _at_cmgw(self, cmd: _Cmd, failure: str | None) -> list[str]:
        if cmd.kind == "test":
            return []
        if cmd.kind != "set":
            raise _Final("ERROR")
        self._need_sim(sms=True)
        args = _split_args(cmd.args)
        length = _int(args[0], 1, 232, error=self._cms(304).text)
        stat = _int(args[1], 2, 3, error=self._cms(304).text) if len(args) > 1 and args[1] else 2
        return self._prompt(_Pending("+CMGW", length, failure, stat))

    def _prompt(self, pending: _Pending) -> list[str]:
        self._pending = pending
        self._note("out", "> ")
        self._emit(b"\r\n> ")
        return _DEFER

    # --- USSD

    def _at_cusd(self, cmd: _Cmd) -> list[str]:
        if cmd.kind == "test":
            return ["+CUSD: (0-2)"]
        if cmd.kind == "read":
            return [f"+CUSD: {self.cusd_n}"]
        if cmd.kind != "set":
            raise _Final("ERROR")
        args = _split_args(cmd.args)
        n = _int(args[0] or "0", 0, 2)
        if n == 2:
            self._ussd_session = None
            return []
        self.cusd_n = n
        if len(args) < 2 or not args[1]:
            return []
        self._need_sim()
        if not self.registered():
            raise self._cme(30)
        dcs = _int(args[2], 0, 255) if len(args) > 2 and args[2] else 15
        try:
            request = decode_ussd(args[1], dcs)
        except ProtocolError:
            raise self._cme(4) from None
        session, self._ussd_session = self._ussd_session, None
        table: Mapping[str, UssdReply] = (
            session.menu if session is not None and session.menu else self.ussd_table
        )
        reply = table.get(request)
        self.ussd_log.append(
            {"request": request, "payload": args[1], "dcs": dcs, "answered": reply is not None}
        )
        log.info("sim_ussd", modem=self.name, request=request, known=reply is not None)
        self._later(self.timing.ussd_delay, lambda: self._ussd_answer(reply))
        return []

    def _ussd_answer(self, reply: UssdReply | None) -> None:
        if reply is None:
            self._urc("+CUSD: 4")
            return
        m = 1 if reply.menu else 0
        self._ussd_session = reply if reply.menu else None
        ucs2 = reply.ucs2 or not can_encode_gsm7(reply.text)
        if self.profile.ussd_packed_hex:
            payload = (
                encode_ucs2(reply.text).hex().upper() if ucs2 else _packed_gsm7_hex(reply.text)
            )
        elif ucs2 or self.cscs == "UCS2":
            payload = encode_ucs2(reply.text).hex().upper()
        else:
            payload = reply.text
        self._urc(f'+CUSD: {m},"{payload}",{72 if ucs2 else 15}')

    # --- calls

    def _at_d(self, cmd: _Cmd) -> list[str]:
        dial = cmd.args.strip()
        if not dial.endswith(";"):
            raise _Final("NO CARRIER")  # data calls are not simulated
        number = dial[:-1].strip()
        if not _DIAL_RE.fullmatch(number):
            raise _Final("ERROR")
        self._need_sim()
        if self.calls:
            raise self._cme(3)
        if not self.registered():
            raise _Final("NO CARRIER")
        call = CallRecord(self._call_id(), "out", "dialing", number, self._wall())
        self.calls.append(call)
        if self.profile.huawei_call_urcs:
            self._urc(f"^ORIG:{call.id},0")
        behaviour, delay = self.call_behaviours.get(
            number, self.call_behaviours.get("*", ("answer", None))
        )
        self._call_timer(
            call, self.timing.dial_delay, lambda: self._alerting(call, behaviour, delay)
        )
        log.info("sim_call_dialled", modem=self.name, number=number, behaviour=behaviour)
        return []

    def _alerting(self, call: CallRecord, behaviour: CallBehaviour, delay: float | None) -> None:
        if call not in self.calls:
            return
        call.state = "alerting"
        if self.profile.huawei_call_urcs:
            self._urc(f"^CONF:{call.id}")
        wait = self.timing.answer_delay if delay is None else delay
        if behaviour == "answer":
            self._call_timer(call, wait, lambda: self._connect(call))
        elif behaviour in ("busy", "no_answer", "reject"):
            self._call_timer(call, wait, lambda: self._remote_end(call, behaviour))

    def _at_a(self, cmd: _Cmd) -> list[str]:
        call = next((c for c in self.calls if c.state == "incoming"), None)
        if call is None:
            raise _Final("NO CARRIER")
        for timer in self._call_timers.pop(call.id, []):
            timer.cancel()
        call.state = "active"
        call.answered_at = self._wall()
        if self.profile.huawei_call_urcs:
            self._urc(f"^CONN:{call.id},1")
        return []

    def _at_h(self, cmd: _Cmd) -> list[str]:
        for call in list(self.calls):
            self._end_call(call, "local_hangup", urc=self.profile.huawei_call_urcs)
        return []

    def _at_chup(self, cmd: _Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        return self._at_h(cmd)

    def _at_clcc(self, cmd: _Cmd) -> list[str]:
        if cmd.kind in ("test", "set"):
            return []
        lines = []
        for call in self.calls:
            toa = 145 if call.number.startswith("+") else 129
            direction = 0 if call.direction == "out" else 1
            stat = CLCC_STAT[call.state]
            lines.append(f'+CLCC: {call.id},{direction},{stat},0,0,"{call.number}",{toa}')
        return lines

    def _at_vts(self, cmd: _Cmd) -> list[str]:
        if cmd.kind == "test":
            return ["+VTS: (0-9,*,#,A,B,C,D)"]
        if cmd.kind != "set":
            raise _Final("ERROR")
        args = _split_args(cmd.args)
        digits = args[0].replace(",", "")
        if not _DTMF_RE.fullmatch(digits):
            raise _Final("ERROR")
        call = next((c for c in self.calls if c.state == "active"), None)
        if call is None:
            raise self._cme(3)
        call.dtmf += digits.upper()
        return []

    def _flag(self, cmd: _Cmd, name: str, attr: str, read: str) -> list[str]:
        if cmd.kind == "test":
            return [f"{name}: (0,1)"]
        if cmd.kind == "read":
            return [read.format(getattr(self, attr))]
        if cmd.kind == "set":
            setattr(self, attr, _int(cmd.args, 0, 1))
            return []
        raise _Final("ERROR")

    def _at_clip(self, cmd: _Cmd) -> list[str]:
        return self._flag(cmd, "+CLIP", "clip", "+CLIP: {},1")

    def _at_crc(self, cmd: _Cmd) -> list[str]:
        return self._flag(cmd, "+CRC", "crc", "+CRC: {}")

    def _at_colp(self, cmd: _Cmd) -> list[str]:
        return self._flag(cmd, "+COLP", "colp", "+COLP: {},1")

    # ------------------------------------------------------------------ state

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able view of everything a test may want to check."""
        first = self.profile.first_index
        slots = [
            {"index": i + first, "stat": s.stat, "kind": s.kind, "pdu": s.pdu}
            for i, s in enumerate(self.storage)
            if s is not None
        ]
        return {
            "profile": self.profile.name,
            "imei": self.imei,
            "iccid": self.iccid,
            "imsi": self.imsi,
            "powered": self.powered,
            "booting": self.booting,
            "responsive": not self.unresponsive,
            "sim": self._cpin_state().lower().replace(" ", "_"),
            "registration": self.registration(),
            "csq": self.csq,
            "cfun": self._cfun,
            "smsc": self.smsc,
            "settings": {
                "echo": self.echo,
                "cmee": self.cmee,
                "cnmi": list(self.cnmi),
                "creg": self.creg_n,
                "cscs": self.cscs,
                "clip": self.clip,
            },
            "storage": {"used": len(slots), "total": len(self.storage), "slots": slots},
            "network_pending": len(self.network_queue),
            "cmt": {
                "sent": self.counters["cmt_sent"],
                "acked": self.counters["cmt_acked"],
                "unacked": self.counters["cmt_unacked"],
                "nacked": self.counters["cmt_nacked"],
                "outstanding": self._outstanding is not None,
            },
            "counters": dict(self.counters),
            "sent": [asdict(p) for p in self.sent],
            "sent_messages": self.sent_messages(),
            "status_reports": list(self.status_reports_sent),
            "calls": [asdict(c) for c in self.calls],
            "call_log": [asdict(c) for c in self.call_log],
            "ussd": list(self.ussd_log),
            "next_mr": self.next_mr,
        }

    def sent_messages(self) -> list[dict[str, Any]]:
        """Sent parts grouped into messages (by destination and concat reference)."""
        groups: dict[tuple[str, int | None, int], list[SentPart]] = {}
        order: list[tuple[str, int | None, int]] = []
        for index, part in enumerate(self.sent):
            key = (part.destination, part.concat_reference, part.parts)
            if part.concat_reference is None or part.parts == 1:
                key = (part.destination, None, -index)  # single parts never merge
            if key not in groups:
                groups[key] = []
                order.append(key)
            groups[key].append(part)
        out = []
        for key in order:
            parts = sorted(groups[key], key=lambda p: p.part)
            unique = {p.part: p for p in parts}
            total = parts[0].parts
            out.append(
                {
                    "destination": key[0],
                    "text": "".join(unique[i].text for i in sorted(unique)),
                    "parts": total,
                    "complete": len(unique) == total,
                    "references": [p.reference for p in parts],
                }
            )
        return out


def _handler_name(name: str) -> str:
    return (
        name.lower()
        .replace("+", "")
        .replace("^", "h_")
        .replace("&", "amp_")
        .replace("$", "d_")
        .replace("%", "p_")
    )
