"""What every part of the simulated modem shares, sans-IO.

:class:`ModemCore` holds the clocks and the timer heap, the AT output (URCs held while
a command runs), the volatile settings (:class:`Settings`, reset at power-on and by
ATZ), the power flags, the counters and the transcript. The parts (SIM card, network,
SMS service, calls, USSD) each get the core and nothing else of the machine; the
machine (:mod:`drivers.gsm.simulator.machine`) wires them together.

A command handler (:data:`Handler`) takes the parsed command and returns its
information lines, or an effect as data the machine performs: :class:`OpenPrompt`
(``AT+CMGS`` / ``AT+CMGW`` give the ``> `` prompt) or :class:`Reboot` (``AT+CFUN=1,1``).
It ends the line with an error by raising :class:`drivers.gsm.simulator.atparse.Final`.

Timers: a callback runs when :meth:`ModemCore.run_due` finds it due by ``now()``.
Modem-side timers die with a power cycle (:meth:`ModemCore.new_epoch`); ``network``
ones (arrivals, status reports) survive it, as the network does.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from typing import Literal

from drivers.gsm.simulator.atparse import Cmd, Final, cme_error, cms_error
from drivers.gsm.simulator.profiles import Profile

__all__ = [
    "COUNTERS",
    "TRANSCRIPT_LINES",
    "Handler",
    "ModemCore",
    "OpenPrompt",
    "Reboot",
    "Reply",
    "Settings",
    "Timer",
    "Timing",
]

TRANSCRIPT_LINES = 500

COUNTERS = (
    "cmt_sent",
    "cmt_acked",
    "cmt_unacked",
    "cmt_nacked",
    "cmti_sent",
    "cds_sent",
    "cdsi_sent",
    "reports_dropped",
    "commands",
    "swallowed_bytes",
)


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


@dataclass(slots=True)
class Settings:
    """The volatile AT settings: lost at power-off, reset by ATZ / AT&F."""

    echo: bool = True
    cmee: int = 1
    cnmi: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0])
    creg_n: int = 0
    cgreg_n: int = 0
    cereg_n: int = 0
    clip: int = 0
    crc: int = 0
    colp: int = 0
    cscs: str = "IRA"
    csms: int = 0
    cops_format: int = 0
    cusd_n: int = 0

    @classmethod
    def defaults(cls, profile: Profile) -> Settings:
        return cls(cmee=profile.default_cmee, cnmi=list(profile.default_cnmi))


@dataclass(frozen=True, slots=True)
class OpenPrompt:
    """Give the ``> `` prompt; the PDU typed after it (up to Ctrl-Z) ends the command."""

    command: Literal["+CMGS", "+CMGW"]
    length: int  # the TPDU length the command announced
    store_stat: int = 2  # AT+CMGW: the <stat> to store with (2 STO UNSENT, 3 STO SENT)


@dataclass(frozen=True, slots=True)
class Reboot:
    """Answer OK, then restart the modem (AT+CFUN=1,1)."""


Reply = list[str] | OpenPrompt | Reboot
Handler = Callable[[Cmd], Reply]


@dataclass(slots=True)
class Timer:
    due: float
    seq: int
    callback: Callable[[], None]
    cancelled: bool = False

    def __lt__(self, other: Timer) -> bool:
        return (self.due, self.seq) < (other.due, other.seq)

    def cancel(self) -> None:
        self.cancelled = True


class ModemCore:
    """Clocks, timers, AT output, settings, power flags and counters of one modem.

    ``now`` is the monotonic clock timers use; ``wall_clock`` gives the epoch seconds
    put in SMS timestamps, the call log and the transcript.
    """

    def __init__(
        self,
        *,
        name: str,
        profile: Profile,
        now: Callable[[], float],
        wall_clock: Callable[[], float],
        utc_offset_hours: float,
        timing: Timing,
        interleave_urcs: bool,
        transcript_lines: int = TRANSCRIPT_LINES,
    ) -> None:
        if transcript_lines < 1:
            raise ValueError("transcript_lines must be >= 1")
        self.name = name
        self.profile = profile
        self.now = now
        self.wall = wall_clock
        self.tz = timezone(timedelta(hours=utc_offset_hours))
        self.timing = timing
        self.interleave_urcs = interleave_urcs
        self.settings = Settings.defaults(profile)
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.transcript: deque[tuple[float, str, str]] = deque(maxlen=transcript_lines)
        self.powered = True
        self.booting = False
        self.unresponsive = False
        self.in_command = False  # URCs are held until the final result code
        self._out = bytearray()
        self._held: list[bytes] = []
        self._timers: list[Timer] = []
        self._epoch = 0
        self._seq = itertools.count()

    # ------------------------------------------------------------ clocks

    def local_time(self, epoch_seconds: float | None = None) -> datetime:
        """``epoch_seconds`` (the wall clock's now if None) in the modem's time zone."""
        seconds = self.wall() if epoch_seconds is None else epoch_seconds
        return datetime.fromtimestamp(seconds, self.tz)

    # ------------------------------------------------------------ timers

    def later(self, delay: float, callback: Callable[[], None], *, network: bool = False) -> Timer:
        """Run ``callback`` after ``delay``. Modem-side timers die with a power cycle
        (:meth:`new_epoch`); ``network`` ones (arrivals, status reports) survive it."""
        if network:
            run = callback
        else:
            epoch = self._epoch

            def run() -> None:
                if self._epoch == epoch:
                    callback()

        timer = Timer(self.now() + max(0.0, delay), next(self._seq), run)
        heapq.heappush(self._timers, timer)
        return timer

    def new_epoch(self) -> None:
        """A power cycle: every pending modem-side timer is void."""
        self._epoch += 1

    def next_deadline(self) -> float | None:
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0].due if self._timers else None

    def run_due(self) -> None:
        now = self.now()
        while self._timers and self._timers[0].due <= now:
            timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                timer.callback()

    # ------------------------------------------------------------ output

    def emit(self, data: bytes) -> None:
        """Bytes for the driver, unless the modem is off, booting or hung."""
        if self.powered and not self.booting and not self.unresponsive:
            self._out += data

    def emit_raw(self, data: bytes) -> None:
        """Bytes for the driver even while hung (line noise)."""
        if self.powered and not self.booting:
            self._out += data

    def urc(self, line: str) -> None:
        """An unsolicited result code: now, or after the running command's final result."""
        self.note("urc", line)
        data = f"\r\n{line}\r\n".encode("latin-1", "replace")
        if self.in_command and not self.interleave_urcs:
            self._held.append(data)
        else:
            self.emit(data)

    def release_held(self) -> None:
        """The command ended: the URCs it held go out."""
        self.in_command = False
        held, self._held = self._held, []
        for data in held:
            self.emit(data)

    def drop_output(self, *, pending: bool) -> None:
        """Forget held URCs (and, with ``pending``, unread output too): power is gone."""
        self._held.clear()
        self.in_command = False
        if pending:
            self._out.clear()

    def take_output(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def note(self, direction: str, text: str) -> None:
        self.transcript.append((self.wall(), direction, text))

    # ------------------------------------------------------------ errors

    def cme(self, code: int) -> Final:
        return cme_error(self.settings.cmee, code)

    def cms(self, code: int) -> Final:
        return cms_error(self.settings.cmee, code)
