"""The modem driver: the asyncio I/O shell around :mod:`drivers.gsm.engine` for one port.

Theory of operation
-------------------
:meth:`Modem.run` owns the port until it is cancelled. It opens the port with pyserial
(``timeout=0``; the fd is watched with ``loop.add_reader``, no thread), feeds what it
reads to the sans-IO :class:`~drivers.gsm.engine.AtEngine`, writes what the engine has
to say, and wakes the engine at its deadlines. Around that loop:

- **Initialise**: ``AT`` probes, ``ATE0``, ``AT+CMEE=1``, identity (``AT+CGSN``, maker,
  model), ``AT+CPIN?`` (a configured PIN is tried once, never twice), ICCID (per
  profile), ``AT+CIMI``, ``AT+CMGF=0``, ``AT+CPMS``, ``AT+CNMI`` (per profile),
  ``AT+CSCA`` (set from config if given, then read), ``AT+CLIP=1``, ``AT+CREG=2``
  (``AT+CEREG=2`` on LTE), the profile's vendor strings, then a health check and an
  ``AT+CMGL=4`` sweep of the SIM.
- **Health**: every ``poll_interval`` ``AT+CSQ`` (→ dBm), ``AT+CREG?`` / ``AT+CEREG?``,
  ``AT+COPS?``, ``AT+CPMS?``; every change of :class:`ModemStatus` goes to the sink.
- **SMS in, store before delete**: ``+CMTI`` → ``AT+CMGR`` → decode → reassembler; a
  complete (or timed-out incomplete) message → ``await sink.sms_received``; only after
  it returns are its SIM slots deleted (``AT+CMGD``), duplicates' slots included. If the
  sink raises, nothing is deleted and the message is offered again on the next sweep
  (a crash in between leaves the parts on the SIM: the sweep at the next start delivers
  them again with the same idempotency key, which the core records once). ``+CMT`` is
  acknowledged (``AT+CNMA``, where the profile needs it) only after the sink returned.
- **SMS out**: ``AT+CMGS=<len>``, ``>``, PDU + Ctrl-Z per part → TP-MR per part.
- **Recovery**, escalating, with backoff: a modem that stops answering (two command
  timeouts in a row) or reboots is re-initialised on the same port; if that fails,
  ``AT+CFUN=1,1`` and the port is closed and reopened; then the port is reopened
  (waiting for an unplugged device's path to come back) each round. After
  ``MAX_ROUNDS`` rounds the state is ``failed``; the driver keeps trying, slowly.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import serial
import structlog

from base.errors import ChannelUnavailable, ProtocolError, SwitchError
from drivers.gsm.engine import (
    LONG_TIMEOUT,
    AtEngine,
    Command,
    Done,
    Event,
    Garbage,
    Timeout,
    Urc,
    atd,
    cmgd,
    cmgl,
    cmgr,
    cmgs,
    cpin,
    csca,
    cusd,
    number_arg,
    simple,
    technician,
    vts,
)
from drivers.gsm.lifecycle import IllegalTransition, next_state
from drivers.gsm.pdu import Deliver, StatusReport, decode_pdu, encode_submit, pdu_fingerprint
from drivers.gsm.profiles import Profile, load_profile
from drivers.gsm.reassembly import CompleteMessage, Reassembler
from drivers.gsm.settings import ModemSettings
from drivers.gsm.types import (
    Check,
    DeliveryReport,
    GsmCallEvent,
    InboundSms,
    ModemSink,
    ModemStatus,
)
from drivers.gsm.ussd import decode_ussd, encode_ussd_request

__all__ = [
    "MAX_ROUNDS",
    "PERMANENT_CMS",
    "Check",
    "DeliveryReport",
    "GsmCallEvent",
    "InboundSms",
    "Modem",
    "ModemSink",
    "ModemStatus",
    "SmsSendError",
    "csq_to_dbm",
]

# +CMS ERROR codes after which sending the same message again is pointless
# (27.005 §3.2.5; 24.011 annex E/8.2.5.4 RP causes; 23.040 §9.2.3.22 TP-FCS):
# unassigned/unknown/barred/rejected destination, facility not supported/subscribed,
# invalid or unsupported PDU contents, and the ME's own "invalid parameter" family.
PERMANENT_CMS = frozenset(
    {1, 8, 10, 21, 27, 28, 29, 30, 38, 50, 69, 81, 95, 96, 97, 98, 99, 111, 127}
    | {128, 129, 130, 143, 144, 145, 159, 160, 161, 175, 176, 303, 304, 305, 306, 325}
)
MAX_ROUNDS = 3
_STORED_GROUPS = 512  # recently stored multipart keys, for late duplicate parts


class SmsSendError(SwitchError):
    """The modem or network refused an SMS (``+CMS ERROR``); ``permanent``: don't retry."""

    def __init__(self, message: str, code: int | None, permanent: bool) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent


class _PortGone(Exception):
    pass


class _Unresponsive(Exception):
    pass


def csq_to_dbm(rssi: int) -> int | None:
    """AT+CSQ rssi 0..31 → -113 + 2·rssi dBm; 99 (unknown) → None."""
    return -113 + 2 * rssi if 0 <= rssi <= 31 else None


@dataclass(frozen=True, slots=True)
class _Part:
    slot: int | None  # SIM index, None for +CMT
    fingerprint: str
    timestamp: datetime | None
    group: tuple[str, int, int] | None  # (sender, concat reference, total)


@dataclass(slots=True)
class _Call:
    id: str
    number: str | None
    direction: str
    announced: bool = False
    answered: bool = False
    ringing: bool = False
    hanging_up: bool = False  # ATH sent: whatever end URC follows is our own hangup
    rings: int = 0
    audio_enabled: bool = False  # the profile's enable_audio was sent for this call


@dataclass(slots=True)
class _Pending:
    """A message handed to the sink that did not come back stored: retried later."""

    message: CompleteMessage
    cnma: bool = False
    attempts: int = 0
    extra_slots: list[int] = field(default_factory=list)


class Modem:
    def __init__(
        self,
        config: ModemSettings,
        sink: ModemSink,
        *,
        clock: Callable[[], float] = time.monotonic,
        poll_interval: float = 15.0,
        reassembly_timeout: float = 600.0,
        retry_delay: float = 1.0,
        max_backoff: float = 60.0,
        command_timeout: float = 5.0,
        resweep_delay: float = 5.0,
    ) -> None:
        self.config = config
        self.sink = sink
        self.clock = clock
        self.poll_interval = poll_interval
        self.retry_delay = retry_delay
        self.max_backoff = max_backoff
        self.command_timeout = command_timeout
        self.resweep_delay = resweep_delay
        self.profile: Profile = load_profile(config.profile)
        self.log = structlog.get_logger("gsm").bind(modem_id=config.id)
        self.engine = AtEngine()
        self._status = ModemStatus(config.id, "initialising")
        self._serial: Any = None
        self._fd: int | None = None
        self._outbuf = bytearray()
        self._port_dead: str | None = None  # why the open port stopped working
        self._trouble: asyncio.Future[str] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._reassembler = Reassembler(reassembly_timeout)
        self._held: set[int] = set()  # slots read and not yet deleted
        self._dup_slots: dict[tuple[str, int, int], list[int]] = {}
        self._stored_groups: OrderedDict[tuple[str, int, int], None] = OrderedDict()
        self._undelivered: list[_Pending] = []
        self._jobs: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[Any]] = []
        self._ussd: asyncio.Future[str] | None = None
        self._ussd_lock = asyncio.Lock()
        self._send_lock = asyncio.Lock()
        self._timeouts = 0
        self._pin_tried = False
        self._cnma_ok = self.profile.cnma
        self._errors: deque[str] = deque(maxlen=10)
        self._reg: dict[str, int] = {}
        self._call: _Call | None = None
        self._call_seq = 0
        self._smsc: str | None = None
        self._storage: tuple[int, int] | None = None

    # ------------------------------------------------------------------ state

    def status(self) -> ModemStatus:
        return self._status

    async def _set(self, event: str | None = None, **changes: Any) -> None:
        old = self._status
        state = old.state
        if event is not None:
            try:
                state = next_state(old.state, event)
            except IllegalTransition as exc:
                self.log.error("modem_illegal_transition", error=str(exc))
        values = {f.name: getattr(old, f.name) for f in fields(old)}
        values.update(changes)
        values["state"] = state
        values["registered"] = bool(values["registered"]) and state == "ready"
        new = ModemStatus(**values)
        if new == old:
            return
        self._status = new
        if new.state != old.state:
            self.log.info("modem_state", state=new.state, previous=old.state)
        try:
            await self.sink.modem_status(new)
        except Exception as exc:
            self.log.warning("modem_status_sink_failed", error=repr(exc))

    def _error(self, text: str) -> None:
        self._errors.append(text)
        values = {f.name: getattr(self._status, f.name) for f in fields(self._status)}
        values["last_error"] = text
        self._status = ModemStatus(**values)

    def _troubled(self, why: str) -> None:
        if self._trouble is not None and not self._trouble.done():
            self._trouble.set_result(why)

    # ----------------------------------------------------------------- run loop

    async def run(self) -> None:
        """Own the port until cancelled; modem trouble is recovered from, never raised."""
        rounds = 0
        while True:
            if self._trouble is not None and self._trouble.done():
                self._trouble.exception()  # mark it retrieved: handled below
            self._trouble = asyncio.get_running_loop().create_future()
            loss = "port_lost"
            try:
                if self._fd is None:
                    self._open()
                else:
                    self._reset_engine()  # re-init on the same port
                await self._set("port_opened")
                await self._initialise()
                rounds = 0
                await self._serve()
            except asyncio.CancelledError:
                self._stop_tasks()
                self._close()
                raise
            except (_PortGone, OSError, serial.SerialException) as exc:
                self._error(f"port: {exc}")
                self.log.warning("modem_port_lost", error=str(exc))
                self._close()
            except (_Unresponsive, ChannelUnavailable, ProtocolError) as exc:
                self._stop_tasks()
                if self._port_dead:  # the commands failed because the port went away
                    self._error(f"port: {self._port_dead}")
                    self.log.warning("modem_port_lost", error=self._port_dead)
                    self._close()
                else:
                    loss = "unresponsive"
                    self._error(f"unresponsive: {exc}")
                    self.log.warning("modem_unresponsive", error=str(exc), round=rounds + 1)
                    # escalation: 1st round re-init on the same port; 2nd AT+CFUN=1,1 and
                    # reopen; later rounds reopen the port (waiting for it to come back)
                    if rounds == 1 and self._fd is not None:
                        await self._hard_reset()
                    if rounds >= 1:
                        self._close()
            except Exception as exc:  # a bug of ours: log it, recover like a lost port
                self._error(f"internal: {exc!r}")
                self.log.error("modem_driver_error", error=repr(exc), exc_info=exc)
                self._close()
            finally:
                self._stop_tasks()
            rounds += 1
            await self._set(loss)
            if rounds >= MAX_ROUNDS:
                await self._set("gave_up")
            await asyncio.sleep(self._backoff(rounds))

    def _backoff(self, rounds: int) -> float:
        return float(min(self.max_backoff, self.retry_delay * 2.0 ** min(max(rounds - 1, 0), 8)))

    async def _hard_reset(self) -> None:
        self.log.warning("modem_reset", command="AT+CFUN=1,1")
        self._reset_engine()
        with contextlib.suppress(ChannelUnavailable, ProtocolError):
            await self._q("AT+CFUN=1,1", min(10.0, 2 * self.command_timeout))

    def _open(self) -> None:
        if not os.path.exists(self.config.port):
            raise _PortGone(f"{self.config.port} does not exist")
        ser = serial.Serial(self.config.port, self.config.baudrate, timeout=0)
        self._serial = ser
        self._fd = ser.fileno()
        self._port_dead = None
        self._reset_engine()
        asyncio.get_running_loop().add_reader(self._fd, self._readable)
        self.log.info("modem_port_opened", port=self.config.port)

    def _reset_engine(self) -> None:
        for command in self.engine.reset():
            _fail(command, ChannelUnavailable("modem connection reset"))
        self._outbuf.clear()
        self._timeouts = 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _close(self) -> None:
        loop = asyncio.get_running_loop()
        if self._fd is not None:
            with contextlib.suppress(Exception):
                loop.remove_reader(self._fd)
            with contextlib.suppress(Exception):
                loop.remove_writer(self._fd)
        self._reset_engine()
        if self._serial is not None:
            with contextlib.suppress(Exception):
                self._serial.close()
        self._serial = None
        self._fd = None
        self._port_dead = None

    def _stop_tasks(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks = []

    async def _serve(self) -> None:
        assert self._trouble is not None
        name = f"modem:{self.config.id}"
        self._tasks = [
            asyncio.create_task(self._inbox(), name=f"{name}:inbox"),
            asyncio.create_task(self._poll(), name=f"{name}:poll"),
            asyncio.create_task(self._housekeeping(), name=f"{name}:housekeeping"),
        ]
        self._jobs.put_nowait(("sweep", None))
        why = await self._trouble
        raise _Unresponsive(why)

    # ------------------------------------------------------------------- I/O

    def _readable(self) -> None:
        if self._fd is None:
            return
        try:
            data = os.read(self._fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._port_lost(str(exc))
            return
        if not data:
            self._port_lost("end of file")
            return
        self._dispatch(self.engine.receive_data(data, self.clock()))

    def _port_lost(self, why: str) -> None:
        self.log.warning("modem_port_error", error=why)
        self._port_dead = why or "port lost"
        loop = asyncio.get_running_loop()
        if self._fd is not None:
            with contextlib.suppress(Exception):
                loop.remove_reader(self._fd)
        if self._trouble is not None and not self._trouble.done():
            self._trouble.set_exception(_PortGone(why))
        for command in self.engine.reset():
            _fail(command, ChannelUnavailable(f"modem port lost: {why}"))

    def _flush(self) -> None:
        self._outbuf += self.engine.data_to_send()
        if self._outbuf and self._fd is not None:
            try:
                written = os.write(self._fd, bytes(self._outbuf))
            except (BlockingIOError, InterruptedError):
                written = 0
            except OSError as exc:
                self._port_lost(str(exc))
                return
            del self._outbuf[:written]
            if self._outbuf:
                asyncio.get_running_loop().add_writer(self._fd, self._writable)
        self._arm()

    def _writable(self) -> None:
        if self._fd is not None:
            asyncio.get_running_loop().remove_writer(self._fd)
        self._flush()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.engine.next_deadline()
        if deadline is not None:
            delay = max(0.0, deadline - self.clock())
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_deadline)

    def _on_deadline(self) -> None:
        self._timer = None
        self._dispatch(self.engine.check_timeouts(self.clock()))

    def _dispatch(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Done):
                self._timeouts = 0
                future = event.command.tag
                if isinstance(future, asyncio.Future) and not future.done():
                    future.set_result(event)
            elif isinstance(event, Timeout):
                self._timeouts += 1
                self._error(f"no answer to {event.command.line}")
                _fail(event.command, ChannelUnavailable(f"no answer to {event.command.line}"))
                if self._timeouts >= 2:
                    self._troubled("the modem stopped answering")
            elif isinstance(event, Urc):
                try:
                    self._urc(event)
                except Exception as exc:  # a malformed URC must not stop the driver
                    self.log.warning("modem_bad_urc", urc=event.text[:200], error=repr(exc))
            elif isinstance(event, Garbage):
                self.log.info("modem_garbage", line=event.line[:120])
        self._flush()

    async def _at(self, command: Command) -> Done:
        if self._fd is None:
            raise ChannelUnavailable(f"modem {self.config.id} is not connected")
        future: asyncio.Future[Done] = asyncio.get_running_loop().create_future()
        command.tag = future
        self.engine.send(command, self.clock())
        self._flush()
        return await future

    async def _q(self, line: str, timeout: float | None = None) -> Done:
        return await self._at(simple(line, timeout or self.command_timeout))

    # ------------------------------------------------------------ initialise

    async def _initialise(self) -> None:
        # A "> " prompt left open (a switch killed in the middle of AT+CMGS, a Ctrl-Z lost
        # on the line) swallows every command as PDU text: ESC leaves it without sending,
        # and an idle modem ignores ESC and the empty line.
        self._outbuf += b"\x1b\r"
        self._flush()
        await asyncio.sleep(0.05)
        probe = min(2.0, self.command_timeout)
        for _ in range(3):
            try:
                if (await self._q("AT", probe)).ok:
                    break
            except ChannelUnavailable:
                continue
        else:
            raise _Unresponsive("no answer to AT")
        self._timeouts = 0
        await self._q("ATE0")
        await self._q("AT+CMEE=1")
        imei = _digits(_info(await self._q("AT+CGSN")))
        manufacturer = _info(await self._q("AT+CGMI"))
        model = _info(await self._q("AT+CGMM"))
        await self._set(imei=imei, manufacturer=manufacturer, model=model)
        if await self._sim_ready():
            await self._sim_setup()
        if self._trouble is not None and self._trouble.done() and not self._port_dead:
            # timeouts during set-up that it survived (a command the model ignores)
            self._trouble = asyncio.get_running_loop().create_future()
        self._timeouts = 0

    async def _sim_ready(self) -> bool:
        for _ in range(5):
            done = await self._q("AT+CPIN?")
            text = " ".join(done.lines).upper()
            if done.ok and "READY" in text:
                await self._set("sim_ready")
                return True
            if done.cme == 14 or "BUSY" in done.final.upper():  # SIM busy: wait
                await asyncio.sleep(min(1.0, self.retry_delay))
                continue
            if "PIN" in text and "PUK" not in text and "PIN2" not in text:
                if self.config.pin and not self._pin_tried:
                    self._pin_tried = True  # never twice: a wrong PIN retried locks the SIM
                    result = await self._at(cpin(self.config.pin))
                    if result.ok:
                        await asyncio.sleep(min(1.0, self.retry_delay))
                        continue
                    self._error(f"SIM PIN refused ({result.final})")
                elif not self.config.pin:
                    self._error("the SIM asks for a PIN and none is configured")
                await self._set("pin_needed")
                return False
            if "PUK" in text:
                self._error("the SIM is locked (PUK required)")
                await self._set("pin_needed")
                return False
            self._error(f"SIM not usable: {text or done.final}")
            await self._set("sim_missing")
            return False
        self._error("the SIM stays busy")
        await self._set("sim_missing")
        return False

    async def _sim_setup(self) -> None:
        iccid = None
        for line in self.profile.iccid_commands:
            done = await self._q(line)
            if done.ok:
                iccid = _iccid(done.lines)
                if iccid:
                    break
        imsi = _digits(_info(await self._q("AT+CIMI")))
        await self._set(iccid=iccid, imsi=imsi)
        for line in ("AT+CMGF=0", 'AT+CPMS="SM","SM","SM"', self.profile.cnmi):
            done = await self._q(line)
            if not done.ok:
                self._error(f"{line} refused: {done.final}")
                self.log.warning("modem_setting_refused", command=line, answer=done.final)
        if self.config.smsc:
            done = await self._at(csca(self.config.smsc))
            if not done.ok:
                self._error(f"setting the SMS centre refused: {done.final}")
        done = await self._q("AT+CSCA?")
        m = re.search(r'"([^"]*)"', " ".join(done.lines))
        self._smsc = m.group(1) if m and m.group(1) else None
        setup = ["AT+CLIP=1", "AT+CREG=2"]
        if self.profile.lte:
            setup.append("AT+CEREG=2")
        for line in (*setup, *self.profile.extra_init):
            done = await self._q(line)
            if not done.ok:
                self.log.info("modem_setting_refused", command=line, answer=done.final)
        await self._health()

    # ------------------------------------------------------------------ health

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                if self._status.state in ("no_sim", "pin_required"):
                    if await self._sim_ready():
                        await self._sim_setup()
                        self._jobs.put_nowait(("sweep", None))
                else:
                    await self._health()
            except ChannelUnavailable as exc:
                self.log.info("modem_poll_failed", error=str(exc))

    async def _housekeeping(self) -> None:
        """Incomplete multipart messages whose wait is over; a call's state (CLCC)."""
        while True:
            deadline = self._reassembler.next_deadline()
            delay = 1.0 if deadline is None else max(0.05, min(1.0, deadline - self.clock()))
            await asyncio.sleep(delay)
            deadline = self._reassembler.next_deadline()
            if deadline is not None and deadline <= self.clock():
                self._jobs.put_nowait(("expire", None))
            if self._call is not None and self.profile.urc_dialect == "clcc":
                self._jobs.put_nowait(("clcc", None))

    async def _health(self) -> None:
        csq = await self._q("AT+CSQ")
        m = re.search(r"\+CSQ:\s*(\d+)", " ".join(csq.lines))
        signal = csq_to_dbm(int(m.group(1))) if m else None
        for query in self.profile.registration or ("AT+CREG?",):
            done = await self._q(query)
            for line in done.lines:
                kind, stat = _registration_line(line, solicited=True)
                if kind is not None and stat is not None:
                    self._reg[kind] = stat
        cops = await self._q("AT+COPS?")
        m2 = re.search(r'"([^"]*)"', " ".join(cops.lines))
        operator = m2.group(1) if m2 else None
        cpms = await self._q("AT+CPMS?")
        m3 = re.search(r'"SM",\s*(\d+),\s*(\d+)', " ".join(cpms.lines))
        self._storage = (int(m3.group(1)), int(m3.group(2))) if m3 else None
        await self._registration(signal_dbm=signal, operator=operator)
        if self._storage and self._storage[1] and self._storage[0] >= self._storage[1]:
            self.log.warning("sim_storage_full", used=self._storage[0], total=self._storage[1])
            self._jobs.put_nowait(("sweep", None))

    async def _registration(self, **changes: Any) -> None:
        stats = set(self._reg.values())
        registered = bool(stats & {1, 5})
        if registered:
            event = "registered"
        elif stats and stats <= {3}:
            event = "denied"
        else:
            event = "searching"
        if self._status.state in ("no_sim", "pin_required", "disconnected", "failed"):
            await self._set(None, **changes)
            return
        await self._set(event, registered=registered, **changes)

    # ------------------------------------------------------------------- URCs

    def _urc(self, urc: Urc) -> None:
        kind, args = urc.kind, urc.args
        if kind == "+CMTI":
            self._jobs.put_nowait(("read", _index(args)))
        elif kind == "+CDSI":
            self._jobs.put_nowait(("cdsi", _index(args)))
        elif kind == "+CMT":
            if urc.pdu:
                self._jobs.put_nowait(("cmt", urc.pdu))
        elif kind == "+CDS":
            if urc.pdu:
                self._jobs.put_nowait(("cds", urc.pdu))
        elif kind == "+CUSD":
            self._ussd_answer(args)
        elif kind in ("+CREG", "+CEREG"):
            _, stat = _registration_line(urc.text, solicited=False)
            if stat is not None:
                self._reg[kind] = stat
                self._jobs.put_nowait(("registration", None))
        elif kind == "^RSSI":
            m = re.match(r"(\d+)", args)
            if m:
                self._jobs.put_nowait(("signal", csq_to_dbm(int(m.group(1)))))
        elif kind == "^SMMEMFULL" or (kind == "+CIEV" and "SMSFULL" in args.upper()):
            self._jobs.put_nowait(("sweep", None))
        elif kind in ("RING", "+CRING"):
            self._ring()
        elif kind == "+CLIP":
            m = re.match(r'"([^"]*)"', args)
            self._clip(m.group(1) if m and m.group(1) else None)
        elif kind == "^ORIG":
            if self._call is not None:
                self._emit_call("dialing")
        elif kind == "^CONF":
            if self._call is not None and not self._call.ringing:
                self._call.ringing = True
                self._emit_call("ringing")
        elif kind == "^CONN":
            if self._call is not None and not self._call.answered:
                self._call.answered = True
                self._jobs.put_nowait(("enable_audio", None))
                self._emit_call("answered")
        elif kind == "^CEND":
            self._ended(_cend_cause(args))
        elif kind in ("NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE"):
            cause = {"NO CARRIER": "remote_hangup"}.get(kind, kind.lower().replace(" ", "_"))
            self._ended(cause)
        elif kind in ("RDY", "^SYSSTART") and self._status.state in (
            "ready",
            "searching",
            "denied",
        ):
            self.log.warning("modem_rebooted", urc=kind)
            self._troubled("the modem restarted")

    # ------------------------------------------------------------------ calls

    def _new_call(self, number: str | None, direction: str, call_id: str | None = None) -> _Call:
        self._call_seq += 1
        self._call = _Call(call_id or f"{self.config.id}-{self._call_seq}", number, direction)
        return self._call

    @property
    def in_call(self) -> bool:
        """A call (incoming, outgoing, ringing or active) holds the modem's voice channel."""
        return self._call is not None

    def _ring(self) -> None:
        call = self._call or self._new_call(None, "in")
        call.rings += 1
        if not call.announced and call.rings >= 2:  # no +CLIP came: number withheld
            call.announced = True
            self._emit_call("incoming")

    def _clip(self, number: str | None) -> None:
        call = self._call or self._new_call(number, "in")
        if number and not call.number:
            call.number = number
        if not call.announced:
            call.announced = True
            self._emit_call("incoming")

    def _ended(self, cause: str | None) -> None:
        if self._call is not None:
            self._emit_call("ended", "local_hangup" if self._call.hanging_up else cause)
            self._call = None

    def _emit_call(self, kind: str, cause: str | None = None) -> None:
        call = self._call
        assert call is not None
        event = GsmCallEvent(self.config.id, call.id, kind, call.number, cause)
        self._jobs.put_nowait(("call", event))

    def _clcc(self, done: Done) -> None:
        call = self._call
        if call is None or not done.ok:
            return
        stats = []
        for line in done.lines:
            m = re.match(r"\+CLCC:\s*\d+,\d+,(\d+)", line)
            if m:
                stats.append(int(m.group(1)))
        if not stats:
            self._ended("remote_hangup")
        elif 0 in stats and not call.answered:
            call.answered = True
            self._jobs.put_nowait(("enable_audio", None))
            self._emit_call("answered")
        elif 3 in stats and not call.ringing:  # alerting: the far end rings
            call.ringing = True
            self._emit_call("ringing")

    # ------------------------------------------------------------------ USSD

    def _ussd_answer(self, args: str) -> None:
        future = self._ussd
        if future is None or future.done():
            self.log.info("ussd_unsolicited", args=args[:200])
            return
        m = re.match(r'\s*(\d)\s*(?:,\s*"(.*)"\s*(?:,\s*(\d+))?)?\s*$', args)
        if not m or m.group(2) is None:
            status = m.group(1) if m else "?"
            reason = {"2": "the network ended the session", "4": "not supported"}.get(
                status, f"status {status}"
            )
            future.set_exception(ChannelUnavailable(f"USSD without an answer: {reason}"))
            return
        try:
            future.set_result(decode_ussd(m.group(2), int(m.group(3) or 15)))
        except ProtocolError as exc:
            future.set_exception(exc)

    # ------------------------------------------------------------------ inbox

    async def _inbox(self) -> None:
        while True:
            job, arg = await self._jobs.get()
            try:
                await self._job(job, arg)
            except ChannelUnavailable as exc:
                self.log.warning("modem_job_failed", job=job, error=str(exc))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the sink or a decoder failed: the SIM keeps it
                self.log.error("modem_job_crashed", job=job, error=repr(exc), exc_info=exc)

    async def _job(self, job: str, arg: Any) -> None:
        if job == "read":
            if arg is None or arg in self._held:
                return
            done = await self._at(cmgr(arg))
            pdu = _pdu_of(done.lines)
            if done.ok and pdu:
                await self._part(pdu, arg)
        elif job == "sweep":
            await self._retry_undelivered()
            done = await self._at(cmgl(4))
            if not done.ok:
                self.log.warning("sms_sweep_failed", answer=done.final)
            for index, pdu in _listing(done.lines):
                if index not in self._held:
                    await self._part(pdu, index)
        elif job == "cmt":
            await self._part(arg, None)
        elif job == "cds":
            await self._report(arg)
            await self._cnma()
        elif job == "cdsi":
            if arg is None:
                return
            done = await self._at(cmgr(arg))
            pdu = _pdu_of(done.lines)
            if done.ok and pdu:
                await self._report(pdu)
            await self._at(cmgd(arg))
        elif job == "expire":
            for message in self._reassembler.expire(self.clock()):
                await self._deliver(_Pending(message))
        elif job == "registration":
            await self._registration()
        elif job == "signal":
            await self._set(None, signal_dbm=arg)
        elif job == "call":
            await self.sink.call_event(arg)
        elif job == "enable_audio":
            await self._enable_audio()
        elif job == "clcc" and self._call is not None:
            self._clcc(await self._q("AT+CLCC"))

    async def _cnma(self) -> None:
        if not self._cnma_ok:
            return
        done = await self._q("AT+CNMA")
        if done.cms == 340:  # "no +CNMA acknowledgement expected": this modem needs none
            self._cnma_ok = False

    async def _part(self, pdu: str, slot: int | None) -> None:
        try:
            decoded = decode_pdu(pdu)
        except ProtocolError as exc:
            # Nothing readable in it: log the whole PDU (so it is never silently lost),
            # then free the slot, or one bad PDU would fill the SIM for ever.
            self.log.error("sms_undecodable_dropped", slot=slot, pdu=pdu[:800], error=str(exc))
            self._error(f"undecodable SMS dropped (slot {slot})")
            if slot is not None:
                await self._delete(slot)
            else:
                await self._cnma()
            return
        if isinstance(decoded, StatusReport):
            await self._report_decoded(decoded)
            if slot is not None:
                await self._delete(slot)
            else:
                await self._cnma()
            return
        assert isinstance(decoded, Deliver)
        fingerprint = pdu_fingerprint(pdu)
        part_stored = getattr(self.sink, "part_stored", None)
        if callable(part_stored) and part_stored(self._part_key(fingerprint)):
            # Already part of a stored message: only its delete was missing.
            self.log.info("sms_part_already_stored", slot=slot)
            if slot is not None:
                await self._delete(slot)
            else:
                await self._cnma()
            return
        concat = decoded.concat
        group = (
            (decoded.sender, concat.reference, concat.total)
            if concat is not None and concat.total > 1
            else None
        )
        if slot is not None:
            self._held.add(slot)
        stamp = decoded.timestamp if decoded.timestamp_valid else None
        meta = _Part(slot, fingerprint, stamp, group)
        complete = self._reassembler.add(
            decoded.sender, decoded.concat, decoded.text, self.clock(), meta
        )
        for dup in self._reassembler.take_discarded():
            if not isinstance(dup, _Part):
                continue
            if dup.group is not None and dup.group in self._stored_groups:
                if dup.slot is not None:
                    await self._delete(dup.slot)
            elif dup.group is not None and dup.slot is not None:
                self._dup_slots.setdefault(dup.group, []).append(dup.slot)
        if complete is not None:
            await self._deliver(_Pending(complete, cnma=slot is None))
        elif slot is None:
            await self._cnma()  # held in memory (reassembly) or a duplicate

    async def _deliver(self, pending: _Pending) -> bool:
        message = pending.message
        metas = [m for m in message.metas if isinstance(m, _Part)]
        identity = self._identity()
        fingerprints = sorted(m.fingerprint for m in metas)
        key = hashlib.sha256("|".join([identity, *fingerprints]).encode()).hexdigest()
        stamp = next((m.timestamp for m in metas if m.timestamp is not None), None)
        sms = InboundSms(
            modem_id=self.config.id,
            sender=message.sender,
            text=message.text,
            parts=message.parts,
            incomplete=message.incomplete,
            missing=tuple(message.missing),
            idempotency_key=key,
            smsc_timestamp=stamp,
            received_at=time.time(),
            part_keys=tuple(self._part_key(m.fingerprint) for m in metas),
        )
        slots = [m.slot for m in metas if m.slot is not None]
        group = next((m.group for m in metas if m.group is not None), None)
        try:
            await self.sink.sms_received(sms)
        except Exception as exc:
            # Not stored: every part stays on the SIM (held, so the sweep does not feed
            # it twice); the message is offered again on the next sweep.
            pending.attempts += 1
            self._error(f"the core did not store an SMS: {exc!r}")
            self.log.error(
                "sms_not_stored_kept_on_sim", slots=slots, attempt=pending.attempts, error=repr(exc)
            )
            self._undelivered.append(pending)
            loop = asyncio.get_running_loop()
            delay = min(self.max_backoff, self.resweep_delay * 2 ** min(pending.attempts - 1, 6))
            loop.call_later(delay, self._jobs.put_nowait, ("sweep", None))
            return False
        self.log.info("sms_stored", parts=message.parts, slots=slots, incomplete=message.incomplete)
        if group is not None:
            self._stored_groups[group] = None
            while len(self._stored_groups) > _STORED_GROUPS:
                self._stored_groups.popitem(last=False)
            slots += self._dup_slots.pop(group, [])
        slots += pending.extra_slots
        for slot in slots:
            await self._delete(slot)
        if pending.cnma:
            await self._cnma()
        return True

    async def _retry_undelivered(self) -> None:
        pending, self._undelivered = self._undelivered, []
        for item in pending:
            await self._deliver(item)

    async def _delete(self, slot: int) -> None:
        done = await self._at(cmgd(slot))
        if done.ok:
            self._held.discard(slot)
        else:
            # Left on the SIM: the next sweep sees it again (same idempotency key).
            self._held.discard(slot)
            self._error(f"deleting SIM slot {slot} failed: {done.final}")

    def _identity(self) -> str:
        st = self._status
        return st.imsi or st.iccid or st.imei or self.config.id

    def _part_key(self, fingerprint: str) -> str:
        return hashlib.sha256(f"{self._identity()}|{fingerprint}".encode()).hexdigest()

    async def _report(self, pdu: str) -> None:
        try:
            decoded = decode_pdu(pdu)
        except ProtocolError as exc:
            self.log.error("status_report_undecodable", pdu=pdu[:400], error=str(exc))
            return
        if isinstance(decoded, StatusReport):
            await self._report_decoded(decoded)
        else:
            self.log.warning("status_report_expected", kind=type(decoded).__name__)

    async def _report_decoded(self, report: StatusReport) -> None:
        await self.sink.status_report(
            self.config.id,
            DeliveryReport(
                self.config.id,
                report.message_reference,
                report.recipient,
                report.outcome,
                report.status,
            ),
        )

    # ------------------------------------------------------------ outbound

    def _require_ready(self) -> None:
        if self._status.state != "ready" or self._fd is None:
            raise ChannelUnavailable(f"modem {self.config.id} is {self._status.state}")

    async def send_sms(
        self, to: str, text: str, *, reference: int, status_report: bool = True
    ) -> list[int]:
        """Send one SMS (split in parts as needed); the TP-MR of each part."""
        number_arg(to)  # ValueError before anything else: only + and digits
        parts = encode_submit(to, text, reference=reference, request_status_report=status_report)
        self._require_ready()
        references: list[int] = []
        async with self._send_lock:
            for part in parts:
                self._require_ready()
                done = await self._at(cmgs(part.hex, part.tpdu_length))
                if not done.ok:
                    permanent = done.cms in PERMANENT_CMS
                    self._error(f"SMS to {to} refused: {done.final}")
                    raise SmsSendError(
                        f"part {part.part}/{part.parts}: {done.final}", done.cms, permanent
                    )
                m = re.search(r"\+CMGS:\s*(\d+)", " ".join(done.lines))
                if not m:
                    raise SmsSendError("the modem gave no message reference", None, False)
                references.append(int(m.group(1)))
        return references

    async def ussd(self, code: str, timeout: float = 60.0) -> str:
        payload, dcs = encode_ussd_request(code, hex_mode=self.profile.ussd_hex)
        self._require_ready()
        async with self._ussd_lock:
            future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            self._ussd = future
            try:
                done = await self._at(cusd(payload, dcs))
                if not done.ok:
                    raise ChannelUnavailable(f"USSD refused: {done.final}")
                return await asyncio.wait_for(future, timeout)
            except TimeoutError:
                with contextlib.suppress(ChannelUnavailable):
                    await self._q("AT+CUSD=2")
                raise ChannelUnavailable(f"no USSD answer within {timeout:.0f} s") from None
            finally:
                self._ussd = None

    async def raw_at(self, line: str) -> list[str]:
        """A technician's command; ValueError for CR/LF/Ctrl-Z/ESC/non-ASCII/CMGS."""
        command = technician(line)
        done = await self._at(command)
        return [*done.lines, done.final]

    async def dial(self, number: str, *, call_id: str | None = None) -> str:
        """ATD: the call's id (``call_id`` when given: the caller can route the call's
        events before the first one is emitted)."""
        command = atd(number)
        self._require_ready()
        if self._call is not None:
            raise ChannelUnavailable("a call is already in progress on this modem")
        call = self._new_call(number, "out", call_id)
        done = await self._at(command)
        if not done.ok:
            cause = done.final.lower().replace(" ", "_")
            self._ended(cause)
            raise ChannelUnavailable(f"dial failed: {done.final}")
        if self._call is not None and self.profile.urc_dialect != "huawei":
            self._emit_call("dialing")
        return call.id

    async def answer(self) -> None:
        done = await self._at(Command("ATA", LONG_TIMEOUT))
        if not done.ok:
            raise ChannelUnavailable(f"answer failed: {done.final}")
        await self._enable_audio()
        if self._call is not None and not self._call.answered:
            self._call.answered = True
            self._emit_call("answered")

    async def _enable_audio(self) -> None:
        """The profile's ``[voice] enable_audio`` (``AT^DDSETEX=2``...), once per call,
        when the call has become active: the models that need it want it after connect."""
        call, line = self._call, self.profile.enable_audio
        if call is None or call.audio_enabled or not line or not self.profile.voice:
            return
        call.audio_enabled = True
        try:
            done = await self._q(line)
        except ChannelUnavailable as exc:  # the call goes on; its audio may stay silent
            self._error(f"{line}: {exc}")
            self.log.warning("modem_audio_not_enabled", command=line, error=str(exc))
            return
        if done.ok:
            self.log.info("modem_audio_enabled", command=line, call_id=call.id)
        else:
            self._error(f"{line} refused: {done.final}")
            self.log.warning("modem_audio_refused", command=line, answer=done.final)

    async def hangup(self) -> None:
        if self._call is not None:
            self._call.hanging_up = True
        done = await self._q("ATH")
        if not done.ok:
            await self._q("AT+CHUP")
        self._ended("local_hangup")

    async def send_dtmf(self, digits: str) -> None:
        commands = [vts(d) for d in digits]  # validate all first
        for command in commands:
            await self._at(command)

    # ------------------------------------------------------------- diagnose

    async def diagnose(self) -> list[Check]:
        """Plain-language checks for a technician (queries the modem when it answers)."""
        if self._fd is not None and self._status.state not in ("disconnected", "failed"):
            with contextlib.suppress(ChannelUnavailable, ProtocolError):
                done = await self._q("AT+CPMS?")
                m = re.search(r'"SM",\s*(\d+),\s*(\d+)', " ".join(done.lines))
                if m:
                    self._storage = (int(m.group(1)), int(m.group(2)))
                done = await self._q("AT+CSCA?")
                m = re.search(r'"([^"]*)"', " ".join(done.lines))
                self._smsc = m.group(1) if m and m.group(1) else None
        st = self._status
        checks: list[Check] = []
        if self._fd is not None:
            checks.append(Check("port", "ok", f"{self.config.port} is open"))
        else:
            why = st.last_error or "not connected"
            checks.append(Check("port", "fail", f"{self.config.port} is not open ({why})"))
        checks.append(
            Check(
                "modem",
                "ok" if st.imei else "warn",
                f"{st.manufacturer or 'unknown maker'} {st.model or 'unknown model'}, "
                f"IMEI {st.imei or 'unknown'} (profile {self.profile.name})",
            )
        )
        if st.state == "no_sim":
            checks.append(Check("sim", "fail", "no usable SIM card: check it is inserted"))
        elif st.iccid or st.imsi:
            checks.append(Check("sim", "ok", f"SIM present, ICCID {st.iccid or 'unknown'}"))
        else:
            checks.append(Check("sim", "warn", "SIM state unknown yet"))
        if st.state == "pin_required":
            checks.append(
                Check(
                    "pin",
                    "fail",
                    "the SIM asks for a PIN"
                    + (" and the configured PIN was refused" if self.config.pin else "")
                    + " (set pin in the config, or remove the PIN with a phone)",
                )
            )
        else:
            checks.append(Check("pin", "ok", "no PIN needed (or PIN accepted)"))
        if st.registered:
            checks.append(Check("registration", "ok", f"registered on {st.operator or 'network'}"))
        elif st.state == "denied":
            checks.append(Check("registration", "fail", "the network refused the SIM"))
        else:
            checks.append(Check("registration", "warn", "not registered: searching a network"))
        if st.signal_dbm is None:
            checks.append(Check("signal", "warn", "signal unknown (no antenna or no network?)"))
        elif st.signal_dbm >= -95:
            checks.append(Check("signal", "ok", f"{st.signal_dbm} dBm"))
        else:
            checks.append(
                Check("signal", "warn", f"{st.signal_dbm} dBm: weak, move the modem or antenna")
            )
        if self._smsc:
            checks.append(Check("smsc", "ok", f"SMS centre {self._smsc}"))
        else:
            checks.append(Check("smsc", "fail", "no SMS centre set: set smsc in the config"))
        if self._storage:
            used, total = self._storage
            full = total and used >= total
            checks.append(
                Check(
                    "storage",
                    "warn" if full else "ok",
                    f"{used} of {total} SIM message slots used" + (" (full)" if full else ""),
                )
            )
        else:
            checks.append(Check("storage", "warn", "SIM storage unknown"))
        errors = list(self._errors)[-3:]
        checks.append(Check("last_errors", "warn" if errors else "ok", "; ".join(errors) or "none"))
        return checks


# ----------------------------------------------------------------- parsing


def _fail(command: Command, exc: Exception) -> None:
    future = command.tag
    if isinstance(future, asyncio.Future) and not future.done():
        future.set_exception(exc)


def _info(done: Done) -> str | None:
    for line in done.lines:
        text = line.split(":", 1)[1].strip() if line.startswith(("+", "^")) else line.strip()
        if text:
            return text.strip('"')
    return None


def _digits(text: str | None) -> str | None:
    if not text:
        return None
    digits = re.sub(r"[^0-9]", "", text)
    return digits or None


def _iccid(lines: tuple[str, ...]) -> str | None:
    """The ICCID as digits only (the trailing F padding and quotes stripped)."""
    for line in lines:
        text = line.split(":", 1)[1] if ":" in line else line
        m = re.search(r"([0-9]{18,20})[Ff]*", text.replace('"', "").strip())
        if m:
            return m.group(1)
    return None


def _index(args: str) -> int | None:
    m = re.search(r",\s*(\d+)\s*$", args)
    return int(m.group(1)) if m else None


def _registration_line(line: str, *, solicited: bool) -> tuple[str | None, int | None]:
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


def _cend_cause(args: str) -> str:
    """^CEND: <id>,<duration>,<end_status>,<cc_cause>: 16 normal, 17 busy, 18/19 no answer,
    21 rejected."""
    fields_ = [f.strip() for f in args.split(",")]
    cc = fields_[3] if len(fields_) > 3 else ""
    causes = {
        "16": "remote_hangup",
        "17": "busy",
        "18": "no_answer",
        "19": "no_answer",
        "21": "rejected",
    }
    return causes.get(cc, f"cc_cause_{cc}" if cc else "ended")


def _pdu_of(lines: tuple[str, ...]) -> str | None:
    for i, line in enumerate(lines):
        if line.startswith("+CMGR:") and i + 1 < len(lines):
            candidate = lines[i + 1]
            if re.fullmatch(r"[0-9A-Fa-f]+", candidate):
                return candidate
    return None


def _listing(lines: tuple[str, ...]) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for i, line in enumerate(lines):
        if line.startswith("+CMGL:") and i + 1 < len(lines):
            m = re.match(r"\+CMGL:\s*(\d+)", line)
            if m and re.fullmatch(r"[0-9A-Fa-f]+", lines[i + 1]):
                out.append((int(m.group(1)), lines[i + 1]))
    return out
