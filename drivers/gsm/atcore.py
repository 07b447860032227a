"""A sans-IO AT command engine (3GPP TS 27.007 / 27.005 dialogue), in the style of h11.

Theory of operation
-------------------
The engine owns no port and no clock. The driver calls :meth:`AtEngine.send` to queue a
command, writes whatever :meth:`AtEngine.data_to_send` returns, feeds every chunk it
reads to :meth:`AtEngine.receive_data` and gets events back: :class:`Done` (a command's
final result with its response lines), :class:`Urc` (an unsolicited result code, at any
moment, also in the middle of a response), :class:`Timeout` and :class:`Garbage`.

Rules:
- one command in flight; the rest wait in order;
- a line belongs to the running command's response when it carries the command's own
  prefix (``+CSQ:`` for ``AT+CSQ``), when it is the PDU line after a ``+CMGR:``/``+CMGL:``
  line, or when it is a bare information line (IMEI, ICCID); a line with a URC prefix
  that is not the command's own is a URC, so a ``+CMTI`` arriving between two ``+CMGL``
  entries never corrupts the listing;
- ``+CMT:`` and ``+CDS:`` are two-line URCs: the next line is their PDU;
- the ``>`` prompt of ``AT+CMGS`` is answered with the PDU and Ctrl-Z;
- received bytes never raise: what cannot be understood becomes :class:`Garbage`.

Nothing from outside reaches the wire unvalidated: :func:`command_for` and the typed
builders accept only digits, PDU hex or vetted technician lines.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from switch.errors import ProtocolError

DEFAULT_TIMEOUT = 5.0
LONG_TIMEOUT = 60.0  # CMGS, ATD, CUSD

FINAL_OK = "OK"
FINAL_ERRORS = ("ERROR", "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE")
URC_PREFIXES = (
    "+CMTI:",
    "+CMT:",
    "+CDS:",
    "+CDSI:",
    "+CUSD:",
    "+CRING:",
    "+CLIP:",
    "+CREG:",
    "+CEREG:",
    "+CGREG:",
    "+CPIN:",
    "+CIEV:",
    "+QIND:",
    "+CSQN:",
    "^ORIG:",
    "^CONF:",
    "^CONN:",
    "^CEND:",
    "^RSSI:",
    "^BOOT:",
    "^MODE:",
    "^SRVST:",
    "^SIMST:",
    "^SYSSTART",
    "^SMMEMFULL",
    "^HCSQ:",
    "^DSFLOWRPT:",
    "^CSNR:",
)
URC_WORDS = ("RING", "RDY", "SMS Ready", "Call Ready", "+PBREADY", "NORMAL POWER DOWN")
TWO_LINE_URCS = ("+CMT:", "+CDS:")
_HEX = re.compile(r"[0-9A-Fa-f]+")
_DIGITS = re.compile(r"\+?[0-9*#]{1,32}")
_DTMF = re.compile(r"[0-9*#A-D]")
_TECH = re.compile(r"AT[\x20-\x7e]{0,200}", re.IGNORECASE)


@dataclass(slots=True)
class Command:
    line: str
    timeout: float = DEFAULT_TIMEOUT
    pdu: str | None = None  # sent after the "> " prompt, then Ctrl-Z
    tag: object = None  # for the caller (e.g. a future)

    @property
    def prefix(self) -> str | None:
        """The response prefix of this command: ``AT+CSQ`` -> ``+CSQ:``."""
        m = re.match(r"^AT([+^][A-Z0-9]+)", self.line.upper())
        return f"{m.group(1)}:" if m else None


@dataclass(frozen=True, slots=True)
class Done:
    command: Command
    ok: bool
    lines: list[str]
    final: str
    cme: int | None = None  # +CME ERROR code
    cms: int | None = None  # +CMS ERROR code

    @property
    def error(self) -> str | None:
        return None if self.ok else self.final


@dataclass(frozen=True, slots=True)
class Urc:
    kind: str  # "+CMTI", "RING", "^CEND"...
    text: str  # the whole line
    args: str  # what follows "kind:" (stripped)
    pdu: str | None = None


@dataclass(frozen=True, slots=True)
class Timeout:
    command: Command


@dataclass(frozen=True, slots=True)
class Garbage:
    line: str


Event = Done | Urc | Timeout | Garbage


@dataclass
class AtEngine:
    _queue: deque[Command] = field(default_factory=deque)
    _current: Command | None = None
    _deadline: float | None = None
    _lines: list[str] = field(default_factory=list)
    _awaiting_prompt: bool = False
    _after_listing: bool = False  # the next line is a PDU of +CMGR/+CMGL
    _pending_urc: tuple[str, str, str] | None = None
    _inbuf: bytearray = field(default_factory=bytearray)
    _out: bytearray = field(default_factory=bytearray)
    _now: float = 0.0

    # ------------------------------------------------------------------ API

    def send(self, command: Command, now: float) -> None:
        if any(c in command.line for c in "\r\n\x1a\x1b"):
            raise ProtocolError(f"control character in command {command.line!r}")
        if command.pdu is not None and not _HEX.fullmatch(command.pdu):
            raise ProtocolError("PDU must be hex")
        self._now = now
        self._queue.append(command)
        self._start_next()

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    @property
    def busy(self) -> bool:
        return self._current is not None

    def next_deadline(self) -> float | None:
        return self._deadline

    def check_timeouts(self, now: float) -> list[Event]:
        self._now = now
        if self._current is not None and self._deadline is not None and now >= self._deadline:
            command = self._current
            self._finish()
            return [Timeout(command)]
        return []

    def reset(self) -> list[Command]:
        """Forget everything (port reopened); the commands that were waiting."""
        lost = ([self._current] if self._current else []) + list(self._queue)
        self._queue.clear()
        self._current = None
        self._deadline = None
        self._lines = []
        self._awaiting_prompt = False
        self._after_listing = False
        self._pending_urc = None
        self._inbuf.clear()
        self._out.clear()
        return lost

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        self._now = now
        events: list[Event] = []
        self._inbuf += data
        while True:
            if self._awaiting_prompt:
                stripped = bytes(self._inbuf).lstrip(b"\r\n")
                if stripped.startswith(b">"):
                    self._inbuf = bytearray(stripped[1:].lstrip(b" "))
                    assert self._current is not None and self._current.pdu is not None
                    self._out += self._current.pdu.encode() + b"\x1a"
                    self._awaiting_prompt = False
                    continue
            cut = _line_end(self._inbuf)
            if cut is None:
                if len(self._inbuf) > 8192:  # runaway line: drop it
                    events.append(Garbage(self._inbuf[:80].decode("latin-1")))
                    self._inbuf.clear()
                break
            raw, self._inbuf = self._inbuf[:cut], self._inbuf[cut:]
            while self._inbuf and self._inbuf[0] in (13, 10):
                del self._inbuf[:1]
            line = raw.decode("latin-1").strip()
            if line:
                events.extend(self._line(line))
        events.extend(self.check_timeouts(now))
        return events

    # ------------------------------------------------------------- internals

    def _start_next(self) -> None:
        if self._current is not None or not self._queue:
            return
        command = self._queue.popleft()
        self._current = command
        self._deadline = self._now + command.timeout
        self._lines = []
        self._after_listing = False
        self._out += command.line.encode("ascii") + b"\r"
        self._awaiting_prompt = command.pdu is not None

    def _finish(self) -> None:
        self._current = None
        self._deadline = None
        self._lines = []
        self._awaiting_prompt = False
        self._after_listing = False
        self._start_next()

    def _line(self, line: str) -> list[Event]:
        if self._pending_urc is not None:
            kind, text, args = self._pending_urc
            self._pending_urc = None
            if _HEX.fullmatch(line):
                return [Urc(kind, text, args, pdu=line)]
            # not a PDU after all: report the header alone, then look at this line
            events: list[Event] = [Urc(kind, text, args)]
            return events + self._line(line)
        command = self._current
        if command is not None:
            if line == command.line or line.upper() == command.line.upper():
                return []  # echo
            if self._after_listing:
                self._after_listing = False
                if _HEX.fullmatch(line):
                    self._lines.append(line)
                    return []
            if line == FINAL_OK:
                return [self._done(True, line)]
            if line in FINAL_ERRORS or line.startswith(("+CME ERROR", "+CMS ERROR")):
                return [self._done(False, line)]
            prefix = command.prefix
            if prefix and line.upper().startswith(prefix):
                self._lines.append(line)
                if prefix in ("+CMGR:", "+CMGL:"):
                    self._after_listing = True
                return []
            urc = self._urc(line)
            if urc is not None:
                return urc
            self._lines.append(line)  # information text without prefix (IMEI, ICCID...)
            return []
        urc = self._urc(line)
        if urc is not None:
            return urc
        if line in FINAL_ERRORS:  # NO CARRIER after a call: a URC in practice
            return [Urc(line, line, "")]
        return [Garbage(line)]

    def _urc(self, line: str) -> list[Event] | None:
        for prefix in URC_PREFIXES:
            if line.startswith(prefix):
                kind = prefix.rstrip(":")
                args = line[len(prefix) :].strip()
                if prefix in TWO_LINE_URCS:
                    self._pending_urc = (kind, line, args)
                    return []
                return [Urc(kind, line, args)]
        if line in URC_WORDS:
            return [Urc(line, line, "")]
        return None

    def _done(self, ok: bool, final: str) -> Done:
        command = self._current
        assert command is not None
        cme = cms = None
        m = re.match(r"^\+(CME|CMS) ERROR:\s*(\d+)", final)
        if m:
            cme, cms = (int(m.group(2)), None) if m.group(1) == "CME" else (None, int(m.group(2)))
        done = Done(command, ok, list(self._lines), final, cme, cms)
        self._finish()
        return done


def _line_end(buf: bytearray) -> int | None:
    for i, b in enumerate(buf):
        if b in (13, 10):
            return i
    return None


# ------------------------------------------------------------ typed builders


def number_arg(number: str) -> str:
    """A dialled/SMS number as it may appear on a command line (digits, + * # only)."""
    if not _DIGITS.fullmatch(number):
        raise ValueError(f"not a phone number: {number!r}")
    return number


def cmgs(pdu_hex: str, tpdu_length: int) -> Command:
    if not _HEX.fullmatch(pdu_hex) or not 0 < tpdu_length <= 176:
        raise ValueError("invalid PDU")
    return Command(f"AT+CMGS={tpdu_length}", LONG_TIMEOUT, pdu=pdu_hex)


def index_command(verb: str, index: int) -> Command:
    if verb not in ("CMGR", "CMGD") or not 0 <= index < 10000:
        raise ValueError("invalid SIM slot command")
    return Command(f"AT+{verb}={index}")


def atd(number: str) -> Command:
    return Command(f"ATD{number_arg(number)};", LONG_TIMEOUT)


def vts(digit: str) -> Command:
    if not _DTMF.fullmatch(digit):
        raise ValueError(f"not a DTMF digit: {digit!r}")
    return Command(f"AT+VTS={digit}")


def cusd(payload: str, dcs: int) -> Command:
    if not re.fullmatch(r"[0-9A-Fa-f*#+]{1,182}", payload) or not 0 <= dcs <= 255:
        raise ValueError("invalid USSD payload")
    return Command(f'AT+CUSD=1,"{payload}",{dcs}', LONG_TIMEOUT)


def technician(line: str) -> Command:
    """A raw line typed by a technician: printable ASCII after ``AT``, nothing else."""
    if not _TECH.fullmatch(line) or any(c in line for c in "\r\n\x1a\x1b"):
        raise ValueError("a raw command is one line of printable ASCII starting with AT")
    upper = line.upper()
    long = upper.startswith(("AT+CMGS", "ATD", "AT+CUSD", "AT+COPS=", "AT+CFUN"))
    if upper.startswith(("AT+CMGS", "AT+CMGW")):
        raise ValueError("sending SMS by hand is not allowed; use the messages API")
    return Command(line, LONG_TIMEOUT if long else DEFAULT_TIMEOUT)
