"""A sans-IO AT command engine (3GPP TS 27.007 / 27.005 dialogue), in the style of h11.

Theory of operation
-------------------
The engine owns no port, no clock and no event loop (STYLE.md §3). The I/O shell:

- queues a command with :meth:`AtEngine.send` (only typed :class:`Command` values, built
  by the validating builders below);
- writes whatever :meth:`AtEngine.data_to_send` returns to the port;
- feeds every chunk it reads to :meth:`AtEngine.receive_data` ``(data, now)`` and acts on
  the events it gets back;
- wakes at :meth:`AtEngine.next_deadline` and calls :meth:`AtEngine.check_timeouts`.

Events: :class:`Done` (a command's final result with its response lines and the
``+CME``/``+CMS`` error code), :class:`Urc` (an unsolicited result code, at any moment,
also in the middle of a response or while the ``>`` prompt is open), :class:`Timeout`
(the command in flight got no final result in time; the engine moves on) and
:class:`Garbage` (a line nobody can place).

Rules
-----
- One command in flight; the others wait in order. A command's deadline starts when it
  is written (``now`` of :meth:`send`, or of the call that started it).
- Final results: ``OK``; ``ERROR``, ``+CME ERROR: <n>``, ``+CMS ERROR: <n>`` (failures);
  ``NO CARRIER``, ``BUSY``, ``NO ANSWER``, ``NO DIALTONE`` end ``ATD``/``ATA`` (and
  technician lines); during any other command, or with none in flight, they are URCs
  (a call ended).
- A line belongs to the running command's response when it carries the command's own
  prefix (``+CSQ:`` for ``AT+CSQ``), when it is the PDU line after a ``+CMGR:`` /
  ``+CMGL:`` line, or when it is a bare information line of a command that has them
  (``AT+CGSN``, ``AT+CCID``... and technician lines). Any other ``+XXX:`` / ``^XXX:``
  line is a URC, so a ``+CMTI`` between two ``+CMGL`` entries never corrupts the listing.
  ``AT+CUSD=`` does not own ``+CUSD:``: the network's answer is always a URC.
- ``+CMT:`` and ``+CDS:`` are two-line URCs: the next line is their PDU.
- ``RING``, ``NO CARRIER`` outside a command, ``RDY``, ``SMS Ready``... are URCs.
- The ``>`` prompt of ``AT+CMGS`` is answered with the PDU and Ctrl-Z; if the command
  times out with the prompt open, ESC is written to abort it. A modem gives the prompt
  at once: waiting for it is bounded by ``PROMPT_TIMEOUT``, and only the network's
  answer after the PDU gets the command's own (long) timeout, so a modem that stopped
  answering is noticed in seconds even while SMS are going out.
- The echo of a command (and of a PDU) is recognised and dropped.
- :meth:`receive_data` never raises: what cannot be understood becomes :class:`Garbage`.

No injection: nothing from outside reaches the wire except validated digits or PDU hex.
:meth:`AtEngine.send` refuses control characters and non-ASCII in any command line.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from base.errors import ProtocolError

DEFAULT_TIMEOUT = 5.0
LONG_TIMEOUT = 60.0  # CMGS, ATD, CUSD
PROMPT_TIMEOUT = DEFAULT_TIMEOUT  # the "> " of AT+CMGS (the network's answer gets the rest)
MAX_LINE = 4096

FINAL_OK = "OK"
CALL_FINALS = ("NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE")
FINAL_FAILURES = ("ERROR", *CALL_FINALS)
TWO_LINE_URCS = ("+CMT", "+CDS")
URC_WORDS = (
    "RING",
    "RDY",
    "SMS Ready",
    "Call Ready",
    "PB DONE",
    "+PBREADY",
    "NORMAL POWER DOWN",
    "POWERED DOWN",
    "^SYSSTART",
    "^SMMEMFULL",
)
# A URC with a payload: "+XXX:" or "^XXX:" (vendor URCs too: +QIND, ^RSSI, ^CEND...).
_URC = re.compile(r"^([+^][A-Z][A-Z0-9]*):\s*(.*)$")
_HEX = re.compile(r"[0-9A-Fa-f]+")
_NUMBER = re.compile(r"\+?[0-9*#]{1,32}")
_DTMF = re.compile(r"[0-9*#A-D]")
_CTRL = re.compile(r"[^\x20-\x7e]")
_ERROR_CODE = re.compile(r"^\+(CME|CMS) ERROR:\s*(\d+)")
# Commands whose answer is a bare line (no prefix).
_INFO_COMMANDS = re.compile(
    r"^AT(\+CGSN|\+GSN|\+CIMI|\+CCID|\+CICCID|\+CGMI|\+GMI|\+CGMM|\+GMM|\+CGMR|\+GMR|I\d?)$",
    re.IGNORECASE,
)
_CTRL_Z = b"\x1a"
_ESC = b"\x1b"


@dataclass(slots=True, eq=False)
class Command:
    """One AT command line. Build it with the helpers below, not from outside text."""

    line: str
    timeout: float = DEFAULT_TIMEOUT
    pdu: str | None = None  # written after the "> " prompt, then Ctrl-Z
    info: bool | None = None  # bare information lines belong to the response
    owns_prefix: bool = True  # "+XXX:" lines of this command are its response
    tag: object = None  # for the caller (e.g. a future)

    @property
    def prefix(self) -> str | None:
        """The response prefix of this command: ``AT+CSQ`` -> ``+CSQ``."""
        m = re.match(r"^AT([+^][A-Z0-9]+)", self.line.upper())
        return m.group(1) if m and self.owns_prefix else None

    @property
    def call(self) -> bool:
        """ATD/ATA (and technician lines) end with NO CARRIER / BUSY as a final result."""
        upper = self.line.upper()
        return upper.startswith(("ATD", "ATA")) or self.info is True

    @property
    def takes_info(self) -> bool:
        return self.info if self.info is not None else bool(_INFO_COMMANDS.match(self.line))


@dataclass(frozen=True, slots=True)
class Done:
    command: Command
    ok: bool
    lines: tuple[str, ...]
    final: str
    cme: int | None = None  # +CME ERROR code
    cms: int | None = None  # +CMS ERROR code

    @property
    def error(self) -> str | None:
        return None if self.ok else self.final


@dataclass(frozen=True, slots=True)
class Urc:
    kind: str  # "+CMTI", "RING", "^CEND", "NO CARRIER"...
    text: str  # the whole line
    args: str  # what follows "kind:" (stripped)
    pdu: str | None = None  # the second line of +CMT / +CDS


@dataclass(frozen=True, slots=True)
class Timeout:
    command: Command


@dataclass(frozen=True, slots=True)
class Garbage:
    line: str


Event = Done | Urc | Timeout | Garbage


@dataclass(eq=False)
class AtEngine:
    _queue: deque[Command] = field(default_factory=deque)
    _current: Command | None = None
    _deadline: float | None = None
    _lines: list[str] = field(default_factory=list)
    _awaiting_prompt: bool = False
    _pdu_sent: bool = False
    _after_listing: bool = False  # the next line is the PDU of a +CMGR/+CMGL entry
    _pending_urc: tuple[str, str, str] | None = None
    _inbuf: bytearray = field(default_factory=bytearray)
    _out: bytearray = field(default_factory=bytearray)
    _now: float = 0.0

    # ------------------------------------------------------------------ API

    def send(self, command: Command, now: float | None = None) -> None:
        """Queue a command; raises ProtocolError for a line that must not reach the wire."""
        validate_line(command.line)
        if command.pdu is not None and not _HEX.fullmatch(command.pdu):
            raise ProtocolError("PDU must be hex")
        if now is not None:
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

    @property
    def current(self) -> Command | None:
        return self._current

    @property
    def queued(self) -> int:
        return len(self._queue)

    def next_deadline(self) -> float | None:
        return self._deadline

    def check_timeouts(self, now: float) -> list[Event]:
        self._now = now
        events: list[Event] = []
        while self._current is not None and self._deadline is not None and now >= self._deadline:
            command = self._current
            if self._awaiting_prompt or (command.pdu is not None and not self._pdu_sent):
                self._out += _ESC  # leave the prompt, or the modem eats the next command
            self._finish()
            events.append(Timeout(command))
        return events

    def reset(self) -> list[Command]:
        """Forget everything (port reopened); returns the commands that were waiting."""
        lost = ([self._current] if self._current else []) + list(self._queue)
        self._queue.clear()
        self._current = None
        self._deadline = None
        self._lines = []
        self._awaiting_prompt = False
        self._pdu_sent = False
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
            if self._awaiting_prompt and self._prompt():
                continue
            cut = _line_end(self._inbuf)
            if cut is None:
                if len(self._inbuf) > MAX_LINE:  # runaway line: drop it
                    events.append(Garbage(_text(bytes(self._inbuf[:80]))))
                    self._inbuf.clear()
                break
            raw = bytes(self._inbuf[:cut])
            del self._inbuf[: cut + 1]
            # Ctrl-Z and ESC come back only as the echo of our own (end of a PDU, the ESC
            # that leaves a stuck prompt): not the modem's words.
            line = _text(raw).replace("\x1a", "").replace("\x1b", "").strip()
            if line:
                events.extend(self._line(line))
        events.extend(self.check_timeouts(now))
        return events

    # ------------------------------------------------------------- internals

    def _prompt(self) -> bool:
        i = 0
        while i < len(self._inbuf) and self._inbuf[i] in (10, 13, 32):
            i += 1
        if i < len(self._inbuf) and self._inbuf[i] == ord(">"):
            del self._inbuf[: i + 1]
            if self._inbuf[:1] == b" ":
                del self._inbuf[:1]
            command = self._current
            assert command is not None and command.pdu is not None
            self._out += command.pdu.encode("ascii") + _CTRL_Z
            self._awaiting_prompt = False
            self._pdu_sent = True
            self._deadline = self._now + command.timeout  # now the network's turn
            return True
        return False

    def _start_next(self) -> None:
        if self._current is not None or not self._queue:
            return
        command = self._queue.popleft()
        self._current = command
        wait = command.timeout if command.pdu is None else min(command.timeout, PROMPT_TIMEOUT)
        self._deadline = self._now + wait
        self._lines = []
        self._after_listing = False
        self._pdu_sent = False
        self._out += command.line.encode("ascii") + b"\r"
        self._awaiting_prompt = command.pdu is not None

    def _finish(self) -> None:
        self._current = None
        self._deadline = None
        self._lines = []
        self._awaiting_prompt = False
        self._pdu_sent = False
        self._after_listing = False
        self._start_next()

    def _line(self, line: str) -> list[Event]:
        if self._pending_urc is not None:
            kind, text, args = self._pending_urc
            self._pending_urc = None
            if _HEX.fullmatch(line):
                return [Urc(kind, text, args, pdu=line.upper())]
            # not a PDU after all: the header alone, then look at this line afresh
            return [Urc(kind, text, args), *self._line(line)]
        command = self._current
        if command is None:
            urc = self._urc(line)
            if urc is not None:
                return urc
            if line in FINAL_FAILURES:  # NO CARRIER / BUSY after a call: a URC in practice
                return [Urc(line, line, "")]
            return [Garbage(line)]
        if line.upper() == command.line.upper() or (
            command.pdu is not None and line.upper() == command.pdu.upper()
        ):
            return []  # echo
        if self._after_listing:
            self._after_listing = False
            if _HEX.fullmatch(line):
                self._lines.append(line.upper())
                return []
        if line == FINAL_OK:
            return [self._done(True, line)]
        if line in CALL_FINALS and not command.call:
            return [Urc(line, line, "")]  # a call ended while another command ran
        if line in FINAL_FAILURES or line.startswith(("+CME ERROR", "+CMS ERROR")):
            return [self._done(False, line)]
        m = _URC.match(line)
        prefix = command.prefix
        if m and prefix and m.group(1).upper() == prefix:
            self._lines.append(line)
            if prefix in ("+CMGR", "+CMGL"):
                self._after_listing = True
            return []
        urc = self._urc(line)
        if urc is not None:
            return urc
        if command.takes_info:
            self._lines.append(line)  # bare information text (IMEI, ICCID, ATI...)
            return []
        return [Garbage(line)]

    def _urc(self, line: str) -> list[Event] | None:
        if line in URC_WORDS or line.startswith("^SYSSTART"):
            return [Urc(line, line, "")]
        m = _URC.match(line)
        if m is None:
            if line.startswith(("RING", "+CRING")):
                return [Urc("RING", line, "")]
            return None
        kind, args = m.group(1), m.group(2).strip()
        if kind in TWO_LINE_URCS:
            self._pending_urc = (kind, line, args)
            return []
        return [Urc(kind, line, args)]

    def _done(self, ok: bool, final: str) -> Done:
        command = self._current
        assert command is not None
        cme = cms = None
        m = _ERROR_CODE.match(final)
        if m:
            code = int(m.group(2))
            cme, cms = (code, None) if m.group(1) == "CME" else (None, code)
        done = Done(command, ok, tuple(self._lines), final, cme, cms)
        self._finish()
        return done


def _line_end(buf: bytearray) -> int | None:
    for i, b in enumerate(buf):
        if b in (13, 10):
            return i
    return None


def _text(raw: bytes) -> str:
    return raw.decode("latin-1")


# ------------------------------------------------------------ typed builders


def validate_line(line: str) -> str:
    """A command line: printable ASCII, starting with AT, nothing that ends or escapes it."""
    if not line.upper().startswith("AT") or _CTRL.search(line) or len(line) > 540:
        raise ProtocolError(f"refusing to write command line {line[:60]!r}")
    return line


def number_arg(number: str) -> str:
    """A dialled/SMS number as it may appear on a command line (digits, + * # only)."""
    if not isinstance(number, str) or not _NUMBER.fullmatch(number):
        raise ValueError(f"not a phone number: {number!r}")
    return number


def simple(line: str, timeout: float = DEFAULT_TIMEOUT) -> Command:
    """A fixed command from the driver's own code (constants only)."""
    return Command(validate_line(line), timeout)


def cmgs(pdu_hex: str, tpdu_length: int) -> Command:
    if not _HEX.fullmatch(pdu_hex) or not 0 < tpdu_length <= 176:
        raise ValueError("invalid PDU")
    return Command(f"AT+CMGS={tpdu_length}", LONG_TIMEOUT, pdu=pdu_hex.upper())


def cmgr(index: int) -> Command:
    return Command(f"AT+CMGR={_slot(index)}")


def cmgd(index: int) -> Command:
    return Command(f"AT+CMGD={_slot(index)}")


def cmgl(stat: int = 4, timeout: float = 30.0) -> Command:
    if stat not in (0, 1, 2, 3, 4):
        raise ValueError("invalid CMGL status")
    return Command(f"AT+CMGL={stat}", timeout)


def cpin(pin: str) -> Command:
    if not re.fullmatch(r"[0-9]{4,8}", pin):
        raise ValueError("a PIN is 4 to 8 digits")
    return Command(f'AT+CPIN="{pin}"', 10.0)


def csca(smsc: str) -> Command:
    if not re.fullmatch(r"\+?[0-9]{3,20}", smsc):
        raise ValueError(f"not an SMSC number: {smsc!r}")
    return Command(f'AT+CSCA="{smsc}",{145 if smsc.startswith("+") else 129}')


def atd(number: str) -> Command:
    return Command(f"ATD{number_arg(number)};", LONG_TIMEOUT)


def vts(digit: str) -> Command:
    if not isinstance(digit, str) or not _DTMF.fullmatch(digit):
        raise ValueError(f"not a DTMF digit: {digit!r}")
    return Command(f"AT+VTS={digit}")


def cusd(payload: str, dcs: int) -> Command:
    if not re.fullmatch(r"[0-9A-Fa-f*#+]{1,182}", payload) or not 0 <= dcs <= 255:
        raise ValueError("invalid USSD payload")
    return Command(f'AT+CUSD=1,"{payload}",{dcs}', LONG_TIMEOUT, owns_prefix=False)


def technician(line: str) -> Command:
    """A raw line typed by a technician: one line of printable ASCII starting with AT.

    ValueError for CR, LF, Ctrl-Z, ESC, any other control or non-ASCII character, and
    for SMS submission by hand (the prompt would take the next line as a PDU).
    """
    if not isinstance(line, str) or _CTRL.search(line) or len(line) > 200:
        raise ValueError("a raw command is one line of printable ASCII")
    if not line.upper().startswith("AT"):
        raise ValueError("a raw command starts with AT")
    upper = line.upper()
    if "CMGS" in upper or "CMGW" in upper:
        raise ValueError("sending SMS by hand is not allowed; use the messages API")
    long = upper.startswith(("ATD", "AT+CUSD", "AT+COPS=", "AT+CFUN", "AT+CMGL"))
    return Command(line, LONG_TIMEOUT if long else DEFAULT_TIMEOUT, info=True)


def _slot(index: int) -> int:
    if not isinstance(index, int) or not 0 <= index < 10000:
        raise ValueError("invalid SIM slot")
    return index
