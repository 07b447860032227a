"""The simulated modem's brain, sans-IO: AT bytes in, AT bytes out, time as an argument.

:class:`ModemMachine` owns no pty, no socket and no event loop.
:class:`drivers.gsm.simulator.port.SimulatedModem` feeds it what the driver wrote
(:meth:`ModemMachine.receive_data`), writes what it has to say
(:meth:`ModemMachine.data_to_send`) and wakes it at :meth:`ModemMachine.next_deadline`
(:meth:`ModemMachine.advance`). Unit tests can do the same with a fake clock.

The machine runs the terminal side and wires the parts: :mod:`.atparse` (command lines),
:mod:`.commands` (the table from command name to handler), :mod:`.core` (what the parts
share: clocks, timers, output, settings, power flags), :mod:`.sim` (identity, PIN,
storage slots), :mod:`.network` (registration, signal), :mod:`.smsc` (incoming SMS and
status reports per AT+CNMI, +CNMA, AT+CMGS), :mod:`.calls`, :mod:`.ussd`.

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
  waits in the buffer, as on a real modem. A handler returns its information lines or
  an effect as data (open the prompt, reboot after OK); the machine performs it.
- **URCs.** Unsolicited result codes (``+CMTI``, ``+CMT``, ``RING``, ``+CUSD``...) are
  written at once when no command is in progress; during a command they are held and
  written after its final result code, unless ``interleave_urcs`` is set, in which case
  they go out immediately (between an echo and its response, or while the prompt is
  open) so drivers can be tested against the worst case.
- **Network delivery** follows AT+CNMI (:mod:`.smsc`). When the SIM is full, when the
  modem is off, booting, has no usable SIM, or is not registered, items wait in the
  network queue (in order) and go out once possible.
- **Power.** ``power_off`` (unplug) and ``AT+CFUN=1,1`` (reboot) forget everything
  volatile (settings, calls, the half-typed command, the un-acked ``+CMT``, which goes
  back to the network) and keep what a SIM or the network keeps (SIM storage, SMSC,
  message references, sent log, the network queue).
- **Faults** are explicit knobs: unresponsive (input and output both vanish), a scripted
  failure for the next command matching a prefix, raw garbage on the line.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import structlog

from base.errors import ProtocolError
from drivers.gsm.pdu import decode_submit
from drivers.gsm.simulator.atparse import CTRL_Z, ESC, MAX_LINE, Cmd, Final, ParseError, parse_line
from drivers.gsm.simulator.calls import CallBehaviour, CallRecord, Calls
from drivers.gsm.simulator.commands import BasicCommands, command_table
from drivers.gsm.simulator.core import TRANSCRIPT_LINES, ModemCore, OpenPrompt, Settings, Timing
from drivers.gsm.simulator.delivery import DEFAULT_DELIVERY, Delivery, RouteMode
from drivers.gsm.simulator.network import Network
from drivers.gsm.simulator.profiles import PROFILES, Profile
from drivers.gsm.simulator.sim import SimCard, Slot
from drivers.gsm.simulator.smsc import HEX_RE, Incoming, SmsCenter
from drivers.gsm.simulator.ussd import Ussd, UssdReply

__all__ = ["ModemMachine"]

log = structlog.get_logger("gsm.simulator")


@dataclass(slots=True)
class _Failure:
    prefix: str
    response: str
    remaining: int


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
        self.profile: Profile = PROFILES[profile]
        self.name = name
        self.imei = imei
        self.core = core = ModemCore(
            name=name,
            profile=self.profile,
            now=now,
            wall_clock=wall_clock,
            utc_offset_hours=utc_offset_hours,
            timing=timing if timing is not None else Timing(),
            interleave_urcs=interleave_urcs,
            transcript_lines=transcript_lines,
        )
        self.sim = SimCard(
            core,
            iccid=iccid,
            imsi=imsi,
            own_number=own_number,
            pin=pin,
            smsc=smsc,
            storage_size=storage_size,
        )
        self.network = Network(core, self.sim, operator=operator, mccmnc=mccmnc, csq=csq)
        self.sms = SmsCenter(
            core,
            self.sim,
            self.network,
            require_cnma=require_cnma,
            status_reports=status_reports,
        )
        self.voice = Calls(core, self.sim, self.network)
        self.ussd = Ussd(core, self.sim, self.network, ussd)
        self.sim.on_ready = self.network.changed
        self.sim.on_freed = self.sms.storage_freed
        self.network.on_change = self.sms.pump
        self._commands = command_table(
            self.profile,
            BasicCommands(core, imei=imei),
            self.sim,
            self.network,
            self.sms,
            self.voice,
            self.ussd,
        )
        self.on_reboot: Callable[[], None] | None = None  # the shell replugs the port
        self._failures: list[_Failure] = []
        self._inbuf = bytearray()
        self._busy = False
        self._pending: tuple[OpenPrompt, str | None] | None = None  # prompt, failure
        self._last_line = ""

    # ------------------------------------------------------------------ views

    @property
    def timing(self) -> Timing:
        return self.core.timing

    @property
    def powered(self) -> bool:
        return self.core.powered

    @property
    def counters(self) -> dict[str, int]:
        return self.core.counters

    @property
    def transcript(self) -> deque[tuple[float, str, str]]:
        return self.core.transcript

    @property
    def calls(self) -> list[CallRecord]:
        """Calls in progress."""
        return self.voice.calls

    @property
    def storage(self) -> list[Slot | None]:
        return self.sim.storage

    @property
    def network_queue(self) -> deque[Incoming]:
        return self.sms.queue

    @property
    def next_mr(self) -> int:
        """The TP-MR the next accepted SMS-SUBMIT gets."""
        return self.sms.next_mr

    @next_mr.setter
    def next_mr(self, value: int) -> None:
        self.sms.next_mr = value

    @property
    def require_cnma(self) -> bool:
        return self.sms.require_cnma

    @require_cnma.setter
    def require_cnma(self, value: bool) -> None:
        self.sms.require_cnma = value

    def registered(self) -> bool:
        return self.network.registered()

    # ------------------------------------------------------------------ I/O

    def receive_data(self, data: bytes) -> None:
        """Bytes the driver wrote to the port."""
        core = self.core
        core.run_due()
        if not core.powered or core.booting:
            return
        if core.unresponsive:
            core.counters["swallowed_bytes"] += len(data)
            return
        self._inbuf += data
        self._process_input()
        core.run_due()

    def data_to_send(self) -> bytes:
        """Bytes for the driver; empties the output buffer."""
        return self.core.take_output()

    def next_deadline(self) -> float | None:
        """When :meth:`advance` should be called next (monotonic seconds), or None."""
        return self.core.next_deadline()

    def advance(self) -> None:
        """Run every timer that is due by ``now()``."""
        self.core.run_due()

    # --------------------------------------------------------------- input

    def _process_input(self) -> None:
        core = self.core
        while not self._busy and core.powered and not core.booting:
            if self._pending is not None:
                end = next((i for i, b in enumerate(self._inbuf) if b in (CTRL_Z, ESC)), -1)
                if end < 0:
                    if len(self._inbuf) > MAX_LINE:
                        self._inbuf.clear()
                    return
                raw = bytes(self._inbuf[:end])
                aborted = self._inbuf[end] == ESC
                del self._inbuf[: end + 1]
                if core.settings.echo:
                    core.emit(raw)
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
        core = self.core
        text = raw.decode("latin-1").strip(" \t\n\x00")
        if not text:
            return
        if text.upper() == "A/":
            text = self._last_line
            if not text:
                return
        if core.settings.echo:
            core.emit(raw.lstrip(b"\n") + b"\r")
        if text[:2].upper() != "AT":
            core.note("noise", text)
            return
        self._last_line = text
        core.counters["commands"] += 1
        core.note("in", text)
        core.in_command = True
        try:
            cmds = parse_line(text[2:])
        except ParseError:
            self._answer([], "ERROR")
            return
        except Final as final:
            self._answer([], final.text)
            return
        self._run_commands(cmds)

    def _run_commands(self, cmds: Sequence[Cmd]) -> None:
        collected: list[str] = []
        for index, cmd in enumerate(cmds):
            failure = self._take_failure(cmd.text)
            if failure is not None and cmd.name not in ("+CMGS", "+CMGW"):
                self._answer(collected, failure)
                return
            handler = self._commands.get(cmd.name)
            if handler is None:
                self._answer(collected, "ERROR")
                return
            try:
                reply = handler(cmd)
            except Final as final:
                self._answer(collected, final.text)
                return
            if isinstance(reply, list):
                collected.extend(reply)
                continue
            if isinstance(reply, OpenPrompt):
                self._prompt(reply, failure)
            else:  # Reboot: the OK goes out, then the modem restarts
                self._finish([], "OK")
                self.reboot()
            if index + 1 < len(cmds):
                log.info("sim_chain_truncated", modem=self.name, dropped=cmds[index + 1].text)
            return
        self._answer(collected, "OK")

    def _prompt(self, prompt: OpenPrompt, failure: str | None) -> None:
        self._pending = (prompt, failure)
        self.core.note("out", "> ")
        self.core.emit(b"\r\n> ")

    def _on_pdu(self, raw: bytes, aborted: bool) -> None:
        core = self.core
        pending, self._pending = self._pending, None
        if pending is None:  # pragma: no cover - guarded by _process_input
            return
        prompt, failure = pending
        if aborted:
            core.note("in", "<ESC>")
            self._finish([], "OK")
            return
        text = "".join(raw.decode("latin-1").split())
        core.note("in", text + "<Ctrl-Z>")
        if failure is not None:
            self._finish_later(core.timing.cmgs_delay, [], failure)
            return
        try:
            if not HEX_RE.fullmatch(text):
                raise ProtocolError("PDU is not hex")
            submit = decode_submit(text, tpdu_length=prompt.length)
        except ProtocolError as exc:
            log.info("sim_bad_pdu", modem=self.name, error=str(exc))
            self._finish([], core.cms(304).text)
            return
        if prompt.command == "+CMGW":
            try:
                lines = self.sim.write(text.upper(), prompt.store_stat)
            except Final as final:
                self._finish([], final.text)
                return
            self._finish(lines, "OK")
            return
        answer = self.sms.submit(submit, text.upper())
        self._finish_later(answer.delay, answer.lines, answer.final, answer.then)

    def _answer(self, lines: Sequence[str], final: str) -> None:
        """The final result of a command line, after ``timing.command_delay``."""
        if self.core.timing.command_delay > 0:
            self._finish_later(self.core.timing.command_delay, lines, final)
        else:
            self._finish(lines, final)

    def _finish(self, lines: Sequence[str], final: str) -> None:
        """Write the information lines and the final result code; end the command."""
        core = self.core
        out = ""
        if lines:
            out += "\r\n" + "\r\n".join(lines) + "\r\n"
        if final:
            out += f"\r\n{final}\r\n"
        for line in lines:
            core.note("out", line)
        core.note("final", final or "(no response)")
        core.emit(out.encode("latin-1", "replace"))
        self._busy = False
        core.release_held()

    def _finish_later(
        self,
        delay: float,
        lines: Sequence[str],
        final: str,
        then: Callable[[], None] | None = None,
    ) -> None:
        """Busy for ``delay``, then ``then()`` and the final result; then the next input."""
        self._busy = True
        lines = list(lines)

        def done() -> None:
            if self._busy:
                if then is not None:
                    then()
                self._finish(lines, final)
                self._process_input()

        self.core.later(delay, done)

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

    # ------------------------------------------------------- power and faults

    def power_off(self) -> None:
        """The modem loses power (unplugged). Volatile state goes; SIM and network stay."""
        self._teardown()
        self.core.drop_output(pending=True)
        self.core.powered = False
        self.network.changed()
        log.info("sim_power_off", modem=self.name)

    def power_on(self, *, quiet: bool = True) -> None:
        """Power back (replugged). ``quiet``: no boot URCs (nobody has the port open)."""
        self.core.powered = True
        self.core.booting = False
        self._boot(quiet=quiet)
        log.info("sim_power_on", modem=self.name)

    def reboot(self) -> None:
        """What AT+CFUN=1,1 does after its OK: silence for ``reboot_time``, then boot."""
        self._teardown()
        self.core.booting = True
        self.network.changed()
        if self.on_reboot is not None:  # the shell re-enumerates the port instead
            self.on_reboot()
            return
        seconds = self.core.timing.reboot_time
        self.core.later(seconds, lambda: self._boot(quiet=False), network=True)
        log.info("sim_rebooting", modem=self.name, seconds=seconds)

    def _teardown(self) -> None:
        self.core.new_epoch()  # pending answers, rings, USSD replies... never happen
        self.core.drop_output(pending=False)
        self._inbuf.clear()
        self._pending = None
        self._busy = False
        self.ussd.end_session()
        self.sms.power_lost()
        self.voice.end_all("power_loss", urc=False)

    def _boot(self, *, quiet: bool) -> None:
        core = self.core
        core.booting = False
        core.settings = Settings.defaults(self.profile)
        self.network.power_on()
        self.sim.power_on()
        if not quiet:
            for line in self.profile.boot_urcs:
                core.urc(line)
            if self.profile.cpin_urc:
                core.urc(f"+CPIN: {self.sim.cpin_state()}")
            if self.sim.ready():
                self.sim.announce_ready()
        self.network.changed()
        self.sms.pump()

    def set_unresponsive(self, value: bool) -> None:
        self.core.unresponsive = bool(value)
        if not value:
            self._inbuf.clear()
        log.info("sim_unresponsive", modem=self.name, value=self.core.unresponsive)

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
        self.core.emit_raw(data)

    def remove_sim(self) -> None:
        self.sim.present = False
        self.voice.end_all("sim_removed", urc=True)
        if self.profile.cpin_urc:
            self.core.urc("+CPIN: NOT INSERTED")
        self.network.changed()

    def insert_sim(self) -> None:
        self.sim.insert()
        if self.profile.cpin_urc:
            self.core.urc(f"+CPIN: {self.sim.cpin_state()}")
        if self.sim.ready():
            self.sim.announce_ready()
        self.network.changed()

    # ------------------------------------------------------- the parts' knobs

    def set_signal(self, csq: int) -> None:
        self.network.set_signal(csq)

    def set_registration(self, stat: int) -> None:
        self.network.set_registration(stat)

    def set_outcome(
        self,
        destination: str,
        outcome: str | int | Sequence[str | int] = "delivered",
        *,
        submit_error: int | None = None,
    ) -> None:
        """See :meth:`drivers.gsm.simulator.smsc.SmsCenter.set_outcome`."""
        self.sms.set_outcome(destination, outcome, submit_error=submit_error)

    def set_ussd(self, code: str, reply: UssdReply) -> None:
        self.ussd.set_reply(code, reply)

    def set_call_behaviour(
        self, number: str, behaviour: CallBehaviour, *, delay: float | None = None
    ) -> None:
        self.voice.set_call_behaviour(number, behaviour, delay=delay)

    def incoming_call(self, number: str, *, ring_for: float | None = None) -> int:
        return self.voice.incoming_call(number, ring_for=ring_for)

    def remote_hangup(self, call_id: int | None = None) -> None:
        self.voice.remote_hangup(call_id)

    def remote_answer(self, call_id: int | None = None) -> None:
        self.voice.remote_answer(call_id)

    def deliver_sms(
        self, sender: str, text: str, delivery: Delivery = DEFAULT_DELIVERY
    ) -> tuple[int, list[str]]:
        """The network sends an SMS: (number of parts, PDUs in the order delivered)."""
        return self.sms.deliver_sms(sender, text, delivery)

    def deliver_raw_pdu(self, pdu: str, *, mode: RouteMode = "auto") -> str:
        """Deliver a PDU as given: "deliver" or "status_report" (see SmsCenter)."""
        return self.sms.deliver_raw_pdu(pdu, mode=mode)

    def sent_messages(self) -> list[dict[str, Any]]:
        return self.sms.sent_messages()

    # ------------------------------------------------------------------ state

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able view of everything a test may want to check."""
        core, settings = self.core, self.core.settings
        return {
            "profile": self.profile.name,
            "imei": self.imei,
            "powered": core.powered,
            "booting": core.booting,
            "responsive": not core.unresponsive,
            **self.sim.snapshot(),
            **self.network.snapshot(),
            "settings": {
                "echo": settings.echo,
                "cmee": settings.cmee,
                "cnmi": list(settings.cnmi),
                "creg": settings.creg_n,
                "cscs": settings.cscs,
                "clip": settings.clip,
            },
            **self.sms.snapshot(),
            "counters": dict(core.counters),
            **self.voice.snapshot(),
            "ussd": list(self.ussd.log),
        }
