"""Voice calls of the simulated modem: one at a time, both directions, sans-IO.

Incoming: :meth:`Calls.incoming_call` rings (``RING`` or ``+CRING: VOICE`` with
AT+CRC=1, and ``+CLIP`` with AT+CLIP=1) every ``timing.ring_interval`` until ``ATA``,
the caller giving up (``ring_for``) or :meth:`Calls.remote_hangup`. Outgoing:
``ATD<number>;`` is dialling, alerting after ``timing.dial_delay``, then the far end
does what :meth:`Calls.set_call_behaviour` says for that number ("answer" after
``timing.answer_delay``, "busy", "no_answer", "reject", or "ring" until
:meth:`Calls.remote_answer`). Huawei reports progress with ``^ORIG ^CONF ^CONN ^CEND``
(no ``NO CARRIER`` / ``BUSY``); the others with the plain result codes and ``+COLP``.
Ended calls go to :attr:`Calls.call_log`; a call's timers die with it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import structlog

from drivers.gsm.simulator.atparse import Cmd, Final, int_arg, split_args
from drivers.gsm.simulator.core import ModemCore, Timer
from drivers.gsm.simulator.network import Network
from drivers.gsm.simulator.sim import SimCard

__all__ = ["CALL_BEHAVIOURS", "CLCC_STAT", "CallBehaviour", "CallRecord", "Calls"]

log = structlog.get_logger("gsm.simulator")

CallBehaviour = Literal["answer", "busy", "no_answer", "reject", "ring"]
CALL_BEHAVIOURS = ("answer", "busy", "no_answer", "reject", "ring")

# +CLCC <stat> (TS 27.007 §7.18).
CLCC_STAT = {"active": 0, "held": 1, "dialing": 2, "alerting": 3, "incoming": 4, "waiting": 5}

# how the far end refusing shows: plain result code, and the ^CEND cause on Huawei
_REMOTE_END = {"busy": ("BUSY", 17), "no_answer": ("NO ANSWER", 19), "reject": ("NO CARRIER", 21)}

DIAL_RE = re.compile(r"\+?[0-9*#]{1,40}")
_DTMF_RE = re.compile(r"[0-9*#A-Da-d]+")


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


def _toa(number: str) -> int:
    return 145 if number.startswith("+") else 129


class Calls:
    """The calls in progress, the call log and the far ends' behaviour."""

    def __init__(self, core: ModemCore, sim: SimCard, network: Network) -> None:
        self._core = core
        self._sim = sim
        self._network = network
        self.calls: list[CallRecord] = []
        self.call_log: list[CallRecord] = []
        self.behaviours: dict[str, tuple[CallBehaviour, float | None]] = {}
        self._timers: dict[int, list[Timer]] = {}

    def snapshot(self) -> dict[str, Any]:
        return {
            "calls": [asdict(c) for c in self.calls],
            "call_log": [asdict(c) for c in self.call_log],
        }

    def active(self) -> bool:
        return any(c.state == "active" for c in self.calls)

    # ------------------------------------------------------------ the far end

    def incoming_call(self, number: str, *, ring_for: float | None = None) -> int:
        """A call arrives from ``number``: RING (+CRING) and +CLIP until answered."""
        if not DIAL_RE.fullmatch(number):
            raise ValueError(f"invalid number {number!r}")
        if self.calls:
            raise ValueError("the simulated modem handles one call at a time")
        if not self._network.registered():
            raise ValueError("the modem is not registered: no call can reach it")
        call = CallRecord(self._call_id(), "in", "incoming", number, self._core.wall())
        self.calls.append(call)
        self._ring(call)
        if ring_for is not None:
            self._timer(call, ring_for, lambda: self._remote_end(call, "caller_gave_up"))
        return call.id

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

    def set_call_behaviour(
        self, number: str, behaviour: CallBehaviour, *, delay: float | None = None
    ) -> None:
        """How the far end of an outgoing call to ``number`` ("*" = default) behaves."""
        if behaviour not in CALL_BEHAVIOURS:
            raise ValueError(f"unknown call behaviour {behaviour!r}")
        self.behaviours[number] = (behaviour, delay)

    def end_all(self, reason: str, *, urc: bool) -> None:
        """Every call ends (power loss, SIM removed...)."""
        for call in list(self.calls):
            self._end(call, reason, urc=urc)

    # ------------------------------------------------------------ progress

    def _ring(self, call: CallRecord) -> None:
        if call.state != "incoming" or call not in self.calls:
            return
        settings = self._core.settings
        self._core.urc("+CRING: VOICE" if settings.crc else "RING")
        if settings.clip:
            self._core.urc(f'+CLIP: "{call.number}",{_toa(call.number)},,,,0')
        self._timer(call, self._core.timing.ring_interval, lambda: self._ring(call))

    def _call_id(self) -> int:
        used = {c.id for c in self.calls}
        return next(i for i in itertools.count(1) if i not in used)

    def _timer(self, call: CallRecord, delay: float, fn: Callable[[], None]) -> None:
        self._timers.setdefault(call.id, []).append(self._core.later(delay, fn))

    def _alerting(self, call: CallRecord, behaviour: CallBehaviour, delay: float | None) -> None:
        if call not in self.calls:
            return
        call.state = "alerting"
        if self._core.profile.huawei_call_urcs:
            self._core.urc(f"^CONF:{call.id}")
        wait = self._core.timing.answer_delay if delay is None else delay
        if behaviour == "answer":
            self._timer(call, wait, lambda: self._connect(call))
        elif behaviour in ("busy", "no_answer", "reject"):
            self._timer(call, wait, lambda: self._remote_end(call, behaviour))

    def _connect(self, call: CallRecord) -> None:
        if call not in self.calls or call.state == "active":
            return
        call.state = "active"
        call.answered_at = self._core.wall()
        if self._core.profile.huawei_call_urcs:
            self._core.urc(f"^CONN:{call.id},0")
        elif self._core.settings.colp:
            self._core.urc(f'+COLP: "{call.number}",{_toa(call.number)}')

    def _remote_end(self, call: CallRecord, reason: str) -> None:
        if call not in self.calls:
            return
        plain, cause = _REMOTE_END.get(reason, ("NO CARRIER", 16))
        self._end(call, reason, urc=True, plain=plain, cause=cause)

    def _end(
        self,
        call: CallRecord,
        reason: str,
        *,
        urc: bool,
        plain: str | None = "NO CARRIER",
        cause: int = 16,
    ) -> None:
        self.calls.remove(call)
        for timer in self._timers.pop(call.id, []):
            timer.cancel()
        now = self._core.wall()
        duration = int(now - call.answered_at) if call.answered_at is not None else 0
        call.state = "ended"
        call.ended_at = now
        call.end_reason = reason
        self.call_log.append(call)
        if urc:
            if self._core.profile.huawei_call_urcs:
                self._core.urc(f"^CEND:{call.id},{duration},104,{cause}")
            elif plain:
                self._core.urc(plain)
        log.info("sim_call_ended", modem=self._core.name, call=call.id, reason=reason)

    # ------------------------------------------------------------ commands

    def at_d(self, cmd: Cmd) -> list[str]:
        dial = cmd.args.strip()
        if not dial.endswith(";"):
            raise Final("NO CARRIER")  # data calls are not simulated
        number = dial[:-1].strip()
        if not DIAL_RE.fullmatch(number):
            raise Final("ERROR")
        self._sim.require()
        if self.calls:
            raise self._core.cme(3)
        if not self._network.registered():
            raise Final("NO CARRIER")
        call = CallRecord(self._call_id(), "out", "dialing", number, self._core.wall())
        self.calls.append(call)
        if self._core.profile.huawei_call_urcs:
            self._core.urc(f"^ORIG:{call.id},0")
        behaviour, delay = self.behaviours.get(number, self.behaviours.get("*", ("answer", None)))
        self._timer(
            call, self._core.timing.dial_delay, lambda: self._alerting(call, behaviour, delay)
        )
        log.info("sim_call_dialled", modem=self._core.name, number=number, behaviour=behaviour)
        return []

    def at_a(self, cmd: Cmd) -> list[str]:
        call = next((c for c in self.calls if c.state == "incoming"), None)
        if call is None:
            raise Final("NO CARRIER")
        for timer in self._timers.pop(call.id, []):
            timer.cancel()
        call.state = "active"
        call.answered_at = self._core.wall()
        if self._core.profile.huawei_call_urcs:
            self._core.urc(f"^CONN:{call.id},1")
        return []

    def at_h(self, cmd: Cmd) -> list[str]:
        self.end_all("local_hangup", urc=self._core.profile.huawei_call_urcs)
        return []

    def at_chup(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        return self.at_h(cmd)

    def at_clcc(self, cmd: Cmd) -> list[str]:
        if cmd.kind in ("test", "set"):
            return []
        lines = []
        for call in self.calls:
            direction = 0 if call.direction == "out" else 1
            stat = CLCC_STAT[call.state]
            lines.append(
                f'+CLCC: {call.id},{direction},{stat},0,0,"{call.number}",{_toa(call.number)}'
            )
        return lines

    def at_vts(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return ["+VTS: (0-9,*,#,A,B,C,D)"]
        if cmd.kind != "set":
            raise Final("ERROR")
        digits = split_args(cmd.args)[0].replace(",", "")
        if not _DTMF_RE.fullmatch(digits):
            raise Final("ERROR")
        call = next((c for c in self.calls if c.state == "active"), None)
        if call is None:
            raise self._core.cme(3)
        call.dtmf += digits.upper()
        return []

    def at_cpas(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return ["+CPAS: (0-5)"]
        if any(c.state == "incoming" for c in self.calls):
            return ["+CPAS: 3"]
        return ["+CPAS: 4"] if self.calls else ["+CPAS: 0"]

    def _flag(self, cmd: Cmd, name: str, attr: str, read: str) -> list[str]:
        settings = self._core.settings
        if cmd.kind == "test":
            return [f"{name}: (0,1)"]
        if cmd.kind == "read":
            return [read.format(getattr(settings, attr))]
        if cmd.kind == "set":
            setattr(settings, attr, int_arg(cmd.args, 0, 1))
            return []
        raise Final("ERROR")

    def at_clip(self, cmd: Cmd) -> list[str]:
        return self._flag(cmd, "+CLIP", "clip", "+CLIP: {},1")

    def at_crc(self, cmd: Cmd) -> list[str]:
        return self._flag(cmd, "+CRC", "crc", "+CRC: {}")

    def at_colp(self, cmd: Cmd) -> list[str]:
        return self._flag(cmd, "+COLP", "colp", "+COLP: {},1")
