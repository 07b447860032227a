"""The driver of one modem: :class:`Modem`, which composes the parts of this package.

Theory of operation
-------------------
:meth:`Modem.run` owns the port until it is cancelled (it never raises on modem
trouble). Each round: open the port (:mod:`~drivers.gsm.modem.shell`), set the modem up
(:mod:`~drivers.gsm.modem.initialise`), note the SMS settings as set up and check the
health (:mod:`~drivers.gsm.modem.health`), then serve until the shell reports trouble,
and escalate (:mod:`~drivers.gsm.modem.recovery`). While serving, three tasks run:

- the *worker*: one job at a time, in order — reading and sweeping the SIM, storing and
  deleting (:mod:`~drivers.gsm.modem.receiver` around the sans-IO
  :mod:`~drivers.gsm.modem.inbox`), status reports, registration and signal changes,
  call events to the sink. URCs (:mod:`~drivers.gsm.modem.urc`) become jobs, except the
  ones that only move state (USSD answers, call signals, a restart);
- the *poll*: every ``poll_interval`` the health check (signal, registration, operator,
  SMS settings read back and restored if a reset lost them), then a sweep of the SIM
  when it holds more than the inbox does, so no SMS depends on a URC arriving; a SIM
  that asked for its PIN is retried;
- the *housekeeping*: wakes the worker when the inbox has something due (a message
  whose parts stopped coming, a store to retry) and polls ``AT+CLCC`` during calls on
  modems without call URCs.

Sending (:mod:`~drivers.gsm.modem.outbox`), USSD
(:mod:`~drivers.gsm.modem.ussd_session`), calls (:mod:`~drivers.gsm.modem.voice`) and
``diagnose`` (:mod:`~drivers.gsm.modem.diagnosis`) are called by the core at any time;
they need the modem ``ready`` (``ChannelUnavailable`` otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import serial
import structlog

from base.backoff import Backoff
from base.errors import ChannelUnavailable, ProtocolError
from drivers.gsm.engine import Urc, technician
from drivers.gsm.modem.diagnosis import Facts, checks
from drivers.gsm.modem.health import Health
from drivers.gsm.modem.inbox import Inbox
from drivers.gsm.modem.initialise import Setup
from drivers.gsm.modem.outbox import Outbox
from drivers.gsm.modem.receiver import Receiver
from drivers.gsm.modem.recovery import Recovery
from drivers.gsm.modem.shell import PortGone, SerialShell, Unresponsive
from drivers.gsm.modem.status import StatusBoard
from drivers.gsm.modem.urc import (
    CallSignal,
    RegistrationUrc,
    ReportDirect,
    ReportOnSim,
    Restarted,
    SignalUrc,
    SimFull,
    SmsDirect,
    SmsOnSim,
    UssdAnswer,
    parse,
)
from drivers.gsm.modem.ussd_session import UssdSession
from drivers.gsm.modem.voice import Voice
from drivers.gsm.profiles import Profile, load_profile
from drivers.gsm.settings import ModemSettings
from drivers.gsm.types import Check, GsmCallEvent, ModemSink, ModemStatus

__all__ = ["Modem"]

# Seconds a technician's raw command may wait for its turn before it is withdrawn unsent.
TECHNICIAN_QUEUE_WAIT = 15.0


# Jobs for the worker besides the URC events it takes as they are (SmsOnSim, ReportOnSim,
# SmsDirect, ReportDirect, SignalUrc).


@dataclass(frozen=True, slots=True)
class Sweep:
    """``AT+CMGL=4``: read whatever the SIM holds."""


@dataclass(frozen=True, slots=True)
class InboxDue:
    """The inbox has something due (an incomplete message, a retry)."""


@dataclass(frozen=True, slots=True)
class RegistrationChanged:
    """A +CREG/+CEREG URC changed what we know of the registration."""


@dataclass(frozen=True, slots=True)
class EmitCall:
    event: GsmCallEvent


@dataclass(frozen=True, slots=True)
class EnableAudio:
    """The call became active: the profile's enable_audio, once."""


@dataclass(frozen=True, slots=True)
class PollCalls:
    """``AT+CLCC`` (modems whose calls give no URC for answered/alerting)."""


Job = (
    SmsOnSim
    | ReportOnSim
    | SmsDirect
    | ReportDirect
    | SignalUrc
    | Sweep
    | InboxDue
    | RegistrationChanged
    | EmitCall
    | EnableAudio
    | PollCalls
)


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
        self.command_timeout = command_timeout
        self.profile: Profile = load_profile(config.profile)
        self.log = structlog.get_logger("gsm").bind(modem_id=config.id)
        self._status = StatusBoard(config.id, sink, self.log)
        self.shell = SerialShell(
            config.id,
            config.port,
            config.baudrate,
            clock=clock,
            command_timeout=command_timeout,
            on_urc=self._on_urc,
            on_error=self._status.error,
            log=self.log,
        )
        self.setup = Setup(
            self.shell,
            self._status,
            config,
            self.profile,
            retry_delay=retry_delay,
            command_timeout=command_timeout,
            log=self.log,
        )
        self.health = Health(
            self.shell, self._status, self.profile, restore=self.setup.restore, log=self.log
        )
        self.inbox = Inbox(
            config.id, reassembly_timeout, Backoff(initial=resweep_delay, maximum=max_backoff)
        )
        self.receiver = Receiver(
            self.shell,
            self._status,
            sink,
            self.inbox,
            clock=clock,
            cnma=self.profile.cnma,
            log=self.log,
        )
        self.outbox = Outbox(self.shell, self._status, require_ready=self._require_ready)
        self.ussd_session = UssdSession(
            self.shell,
            hex_mode=self.profile.ussd_hex,
            require_ready=self._require_ready,
            log=self.log,
        )
        self.voice = Voice(
            self.shell,
            self._status,
            self.profile,
            require_ready=self._require_ready,
            emit=lambda event: self._jobs.put_nowait(EmitCall(event)),
            enable_audio_soon=lambda: self._jobs.put_nowait(EnableAudio()),
            log=self.log,
        )
        self.recovery = Recovery(retry_delay, max_backoff)
        self._jobs: asyncio.Queue[Job] = asyncio.Queue()
        self._tasks: list[asyncio.Task[Any]] = []
        self._due_queued = False

    # ------------------------------------------------------------ state

    def status(self) -> ModemStatus:
        return self._status.current

    @property
    def in_call(self) -> bool:
        """A call (incoming, outgoing, ringing or active) holds the modem's voice channel."""
        return self.voice.in_call

    def _require_ready(self) -> None:
        if self._status.state != "ready" or not self.shell.is_open:
            raise ChannelUnavailable(f"modem {self.config.id} is {self._status.state}")

    # ------------------------------------------------------------ run loop

    async def run(self) -> None:
        """Own the port until cancelled; modem trouble is recovered from, never raised."""
        while True:
            self.shell.new_round()
            loss = "port_lost"
            try:
                if not self.shell.is_open:
                    self.shell.open()
                else:
                    self.shell.reset_engine()  # re-init on the same port
                await self._status.set("port_opened")
                await self._initialise()
                self.recovery.succeeded()
                await self._serve()
            except asyncio.CancelledError:
                self._stop_tasks()
                self.shell.close()
                raise
            except (PortGone, OSError, serial.SerialException) as exc:
                self._status.error(f"port: {exc}")
                self.log.warning("modem_port_lost", error=str(exc))
                self.shell.close()
            except (Unresponsive, ChannelUnavailable, ProtocolError) as exc:
                self._stop_tasks()
                if self.shell.port_dead:  # the commands failed because the port went away
                    self._status.error(f"port: {self.shell.port_dead}")
                    self.log.warning("modem_port_lost", error=self.shell.port_dead)
                    self.shell.close()
                else:
                    loss = "unresponsive"
                    step = self.recovery.step()
                    self._status.error(f"unresponsive: {exc}")
                    self.log.warning(
                        "modem_unresponsive",
                        error=str(exc),
                        round=self.recovery.rounds + 1,
                        step=step.name,
                    )
                    if step.hard_reset and self.shell.is_open:
                        await self._hard_reset()
                    if step.reopen:
                        self.shell.close()
            except Exception as exc:  # a bug of ours: log it, recover like a lost port
                self._status.error(f"internal: {exc!r}")
                self.log.error("modem_driver_error", error=repr(exc), exc_info=exc)
                self.shell.close()
            finally:
                self._stop_tasks()
            delay = self.recovery.failed()
            await self._status.set(loss)
            if self.recovery.gave_up:
                await self._status.set("gave_up")
            await asyncio.sleep(delay)

    async def _initialise(self) -> None:
        if await self.setup.modem():
            await self._sim_set_up()
        self.shell.forgive()

    async def _sim_set_up(self) -> None:
        """After the SIM's set-up: the settings as they are meant to stay, then health."""
        await self.health.set_baseline()
        await self.health.check()

    async def _hard_reset(self) -> None:
        self.log.warning("modem_reset", command="AT+CFUN=1,1")
        self.shell.reset_engine()
        with contextlib.suppress(ChannelUnavailable, ProtocolError):
            await self.shell.q("AT+CFUN=1,1", min(10.0, 2 * self.command_timeout))

    def _stop_tasks(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks = []

    async def _serve(self) -> None:
        trouble = self.shell.trouble
        assert trouble is not None
        name = f"modem:{self.config.id}"
        self._tasks = [
            asyncio.create_task(self._work(), name=f"{name}:worker"),
            asyncio.create_task(self._poll(), name=f"{name}:poll"),
            asyncio.create_task(self._housekeeping(), name=f"{name}:housekeeping"),
        ]
        self._jobs.put_nowait(Sweep())
        why = await trouble
        raise Unresponsive(why)

    # ------------------------------------------------------------ URCs

    def _on_urc(self, urc: Urc) -> None:
        event = parse(urc)
        if isinstance(event, SmsOnSim | ReportOnSim | SmsDirect | ReportDirect | SignalUrc):
            self._jobs.put_nowait(event)
        elif isinstance(event, UssdAnswer):
            self.ussd_session.answer(event.args)
        elif isinstance(event, RegistrationUrc):
            self.health.reg[event.kind] = event.stat
            self._jobs.put_nowait(RegistrationChanged())
        elif isinstance(event, SimFull):
            self._jobs.put_nowait(Sweep())
        elif isinstance(event, CallSignal):
            self.voice.signal(event)
        elif isinstance(event, Restarted) and self._status.state in (
            "ready",
            "searching",
            "denied",
        ):
            self.log.warning("modem_rebooted", urc=event.urc)
            self.shell.troubled("the modem restarted")

    # ------------------------------------------------------------ tasks

    async def _work(self) -> None:
        await self.receiver.start()
        while True:
            job = await self._jobs.get()
            try:
                await self._job(job)
            except ChannelUnavailable as exc:
                self.log.warning("modem_job_failed", job=type(job).__name__, error=str(exc))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the sink or a decoder failed: the SIM keeps it
                self.log.error(
                    "modem_job_crashed", job=type(job).__name__, error=repr(exc), exc_info=exc
                )

    async def _job(self, job: Job) -> None:
        if isinstance(job, SmsOnSim):
            await self.receiver.read(job.slot)
        elif isinstance(job, Sweep):
            await self.receiver.sweep()
        elif isinstance(job, SmsDirect):
            await self.receiver.direct(job.pdu)
        elif isinstance(job, ReportDirect):
            await self.receiver.report_direct(job.pdu)
        elif isinstance(job, ReportOnSim):
            await self.receiver.report_on_sim(job.slot)
        elif isinstance(job, InboxDue):
            self._due_queued = False
            await self.receiver.due()
        elif isinstance(job, RegistrationChanged):
            await self.health.registration()
        elif isinstance(job, SignalUrc):
            await self._status.set(None, signal_dbm=job.dbm)
        elif isinstance(job, EmitCall):
            await self.sink.call_event(job.event)
        elif isinstance(job, EnableAudio):
            await self.voice.enable_audio()
        elif isinstance(job, PollCalls):
            await self.voice.poll()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                if self._status.state in ("no_sim", "pin_required"):
                    if await self.setup.sim_ready():
                        await self.setup.sim_setup()
                        await self._sim_set_up()
                        self._jobs.put_nowait(Sweep())
                else:
                    await self.health.check()
                    # every round, not only on +CMTI: an SMS stored while the modem was
                    # not telling us (CNMI lost, a URC lost on the line) is found anyway.
                    # Only when AT+CPMS? counts more than we hold: a listing can take
                    # seconds, and a modem dying meanwhile would be noticed that late.
                    storage = self.health.storage
                    if storage is None or storage[0] > self.inbox.held():
                        self._jobs.put_nowait(Sweep())
            except ChannelUnavailable as exc:
                self.log.info("modem_poll_failed", error=str(exc))

    async def _housekeeping(self) -> None:
        """Wake the worker when the inbox has something due; a call's state (CLCC)."""
        while True:
            deadline = self.inbox.next_deadline()
            delay = 1.0 if deadline is None else max(0.05, min(1.0, deadline - self.clock()))
            await asyncio.sleep(delay)
            deadline = self.inbox.next_deadline()
            if deadline is not None and deadline <= self.clock() and not self._due_queued:
                self._due_queued = True
                self._jobs.put_nowait(InboxDue())
            if self.voice.in_call and self.profile.urc_dialect == "clcc":
                self._jobs.put_nowait(PollCalls())

    # ------------------------------------------------------------ the core's calls

    async def send_sms(
        self, to: str, text: str, *, reference: int, status_report: bool = True
    ) -> list[int]:
        """Send one SMS (split in parts as needed); the TP-MR of each part."""
        return await self.outbox.send(to, text, reference=reference, status_report=status_report)

    async def ussd(self, code: str, timeout: float = 60.0) -> str:
        return await self.ussd_session.request(code, timeout)

    async def raw_at(self, line: str) -> list[str]:
        """A technician's command; ValueError for CR/LF/Ctrl-Z/ESC/non-ASCII/CMGS.
        It waits at most :data:`TECHNICIAN_QUEUE_WAIT` for its turn (behind SMS being
        sent, a set-up in progress...), so a person gets an answer in bounded time."""
        done = await self.shell.at(technician(line), queue_wait=TECHNICIAN_QUEUE_WAIT)
        return [*done.lines, done.final]

    async def dial(self, number: str, *, call_id: str | None = None) -> str:
        """ATD: the call's id (``call_id`` when given: the caller can route the call's
        events before the first one is emitted)."""
        return await self.voice.dial(number, call_id=call_id)

    async def answer(self) -> None:
        await self.voice.answer()

    async def hangup(self) -> None:
        await self.voice.hangup()

    async def send_dtmf(self, digits: str) -> None:
        await self.voice.send_dtmf(digits)

    async def diagnose(self) -> list[Check]:
        """Plain-language checks for a technician (queries the modem when it answers);
        SMS settings a reset lost are restored on the way, and reported."""
        if self.shell.is_open and self._status.state not in ("disconnected", "failed"):
            with contextlib.suppress(ChannelUnavailable, ProtocolError):
                if await self.health.verify_settings():
                    self._jobs.put_nowait(Sweep())
                await self.setup.read_smsc()
        facts = Facts(
            port=self.config.port,
            port_open=self.shell.is_open,
            profile=self.profile.name,
            pin_configured=bool(self.config.pin),
            status=self._status.current,
            smsc=self.setup.smsc,
            storage=self.health.storage,
            settings=self.health.baseline,
            repairs=tuple(self.health.repairs),
            repaired=self.health.repaired,
            errors=tuple(self._status.errors),
        )
        return checks(facts)
