"""The simulated modem on a real pseudo-terminal: the I/O shell around ModemMachine.

The shell owns a pty pair and a symlink that names the slave side with a stable path
(``/tmp/x/ttySIM0 -> /dev/pts/7``). It keeps the slave open itself, so the master never
reads EIO while no driver has the port open (a switch killed with -9 and restarted
finds the modem where it left it); the slave is in raw mode with no echo, so the only
echo the driver sees is the modem's own (ATE1). :meth:`SimulatedModem.unplug` closes
both ends and removes the symlink, as a USB modem pulled out would; the driver's reads
then fail with EIO / hang-up. :meth:`SimulatedModem.replug` makes a new pty and points
the same symlink at it.

Each entry point (bytes read, a timer, a knob) runs the machine, then writes what it
produced and re-arms one loop timer for the machine's next deadline.

With ``audio=True`` a second pty is the modem's voice port (``<link>.audio``, the
symlink created and removed with the AT port's): while the machine has an active call
it carries the remote party's tone out and what the driver side writes in
(:class:`drivers.gsm.simulator.voiceport.VoicePort`, its own loop timer pacing the
frames).
"""

from __future__ import annotations

import asyncio
import errno
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import structlog

from drivers.gsm.simulator.audio import CallAudio
from drivers.gsm.simulator.calls import CallBehaviour
from drivers.gsm.simulator.control import ControlServer
from drivers.gsm.simulator.core import Timing
from drivers.gsm.simulator.delivery import DEFAULT_DELIVERY, Delivery, RouteMode
from drivers.gsm.simulator.machine import ModemMachine
from drivers.gsm.simulator.ptys import LinkedPty, close_linked_pty, open_linked_pty
from drivers.gsm.simulator.ussd import UssdReply
from drivers.gsm.simulator.voiceport import VoicePort

__all__ = ["SimulatedModem"]

log = structlog.get_logger("gsm.simulator")

MAX_PENDING_OUTPUT = 1 << 20  # bytes nobody reads (port closed, buffer full) beyond this drop


class SimulatedModem:
    """A scripted GSM modem in PDU mode behind a pty (see the package docstring)."""

    def __init__(
        self,
        link_path: str | os.PathLike[str],
        *,
        imei: str = "861234567890123",
        iccid: str = "8985501234567890123F",
        imsi: str = "456061234567890",
        operator: str = "Smart",
        mccmnc: str = "45606",
        csq: int = 20,
        smsc: str = "+85512000000",
        storage_size: int = 10,
        profile: Literal["huawei", "simcom", "quectel"] | str = "huawei",
        pin: str | None = None,
        own_number: str | None = None,
        clock: Callable[[], float] = time.time,
        timing: Timing | Mapping[str, float] | None = None,
        require_cnma: bool = True,
        status_reports: Literal["cnmi", "cdsi"] = "cnmi",
        interleave_urcs: bool = False,
        ussd: Mapping[str, UssdReply | str | dict[str, Any]] | None = None,
        utc_offset_hours: float = 7.0,
        reset_replugs: bool = False,
        name: str | None = None,
        transcript_lines: int = 500,
        audio: bool = False,
        audio_tone_hz: float = 1000.0,
        audio_amplitude: int = 8000,
    ) -> None:
        self.link_path = Path(link_path)
        if isinstance(timing, Mapping):
            t = Timing()
            t.update(**timing)
            timing = t
        table = None
        if ussd is not None:
            table = {
                code: reply if isinstance(reply, UssdReply) else UssdReply.from_json(reply)
                for code, reply in ussd.items()
            }
        self._clock = clock
        self.machine = ModemMachine(
            now=self._monotonic,
            wall_clock=clock,
            profile=profile,
            imei=imei,
            iccid=iccid,
            imsi=imsi,
            operator=operator,
            mccmnc=mccmnc,
            csq=csq,
            smsc=smsc,
            storage_size=storage_size,
            pin=pin,
            own_number=own_number,
            timing=timing,
            require_cnma=require_cnma,
            status_reports=status_reports,
            interleave_urcs=interleave_urcs,
            ussd=table,
            utc_offset_hours=utc_offset_hours,
            name=name or self.link_path.name,
            transcript_lines=transcript_lines,
        )
        self.reset_replugs = reset_replugs
        if reset_replugs:
            self.machine.on_reboot = self._reboot_replug
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pty: LinkedPty | None = None
        self._outbuf = bytearray()
        self._writer_armed = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due: float | None = None
        self._started = False
        self._control: ControlServer | None = None
        self.audio_link_path = self.link_path.with_name(f"{self.link_path.name}.audio")
        self.audio: CallAudio | None = None  # the voice port's sans-IO core (audio=True)
        self._voice: VoicePort | None = None
        if audio:
            self.audio = CallAudio(
                now=self._monotonic, tone_hz=audio_tone_hz, amplitude=audio_amplitude
            )
            self._voice = VoicePort(self.audio_link_path, self.audio, name=self.machine.name)

    # ------------------------------------------------------------- lifecycle

    @property
    def timing(self) -> Timing:
        return self.machine.timing

    @property
    def plugged(self) -> bool:
        return self._pty is not None

    @property
    def device(self) -> str | None:
        """The pty slave the symlink points to now (``/dev/pts/N``), None when unplugged."""
        return self._pty.device if self._pty is not None else None

    @property
    def audio_device(self) -> str | None:
        """The voice port's pty slave (``/dev/pts/M``); None without audio or unplugged."""
        return self._voice.device if self._voice is not None else None

    async def start(self) -> None:
        """Open the pty and create the symlink; the modem is then powered and idle."""
        if self._started:
            return
        self._loop = asyncio.get_running_loop()
        self._started = True
        self._open_pty()
        self._pump()
        log.info(
            "sim_started",
            modem=self.machine.name,
            link=str(self.link_path),
            device=self.device,
            profile=self.machine.profile.name,
        )

    async def serve_control(self, path: str | os.PathLike[str]) -> ControlServer:
        """Serve the JSON control socket at ``path`` (stopped by :meth:`stop`)."""
        if self._control is None:
            self._control = ControlServer(self, path)
            await self._control.start()
        return self._control

    async def stop(self) -> None:
        """Close the pty, remove the symlink (and the control socket). Safe to call twice."""
        if self._control is not None:
            await self._control.stop()
            self._control = None
        if not self._started:
            return
        self._started = False
        self._close_pty()
        self._sync_voice()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_due = None
        log.info("sim_stopped", modem=self.machine.name)

    async def __aenter__(self) -> SimulatedModem:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _monotonic(self) -> float:
        if self._loop is not None:
            return self._loop.time()
        return time.monotonic()

    def _open_pty(self) -> None:
        assert self._loop is not None
        self._pty = open_linked_pty(self.link_path)
        self._loop.add_reader(self._pty.master, self._on_readable)
        if self._voice is not None:
            self._voice.open(self._loop)

    def _close_pty(self) -> None:
        pty, self._pty = self._pty, None
        if pty is None:
            return
        assert self._loop is not None
        self._loop.remove_reader(pty.master)
        if self._writer_armed:
            self._loop.remove_writer(pty.master)
            self._writer_armed = False
        close_linked_pty(pty)
        self._outbuf.clear()
        if self._voice is not None:
            self._voice.close()

    # ------------------------------------------------------------------ I/O

    def _on_readable(self) -> None:
        if self._pty is None:
            return
        try:
            data = os.read(self._pty.master, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:  # should not happen: we hold the slave open
                return
            raise
        if data:
            self.machine.receive_data(data)
        self._pump()

    def _on_writable(self) -> None:
        self._flush()

    def _flush(self) -> None:
        if self._pty is None:
            self._outbuf.clear()
            return
        master = self._pty.master
        while self._outbuf:
            try:
                n = os.write(master, self._outbuf)
            except BlockingIOError:
                break
            except OSError as exc:
                log.warning("sim_write_failed", modem=self.machine.name, error=str(exc))
                self._outbuf.clear()
                break
            del self._outbuf[:n]
        assert self._loop is not None
        if self._outbuf and not self._writer_armed:
            self._loop.add_writer(master, self._on_writable)
            self._writer_armed = True
        elif not self._outbuf and self._writer_armed:
            self._loop.remove_writer(master)
            self._writer_armed = False

    def _pump(self) -> None:
        """Write what the machine produced; arm the timer for its next deadline."""
        out = self.machine.data_to_send()
        if out and self._pty is not None:
            self._outbuf += out
            if len(self._outbuf) > MAX_PENDING_OUTPUT:
                dropped = len(self._outbuf) - MAX_PENDING_OUTPUT
                del self._outbuf[:dropped]
                log.warning("sim_output_dropped", modem=self.machine.name, bytes=dropped)
            self._flush()
        self._sync_voice()
        if self._loop is None or not self._started:
            return
        due = self.machine.next_deadline()
        if due == self._timer_due:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_due = due
        if due is not None:
            self._timer = self._loop.call_at(due, self._on_timer)

    def _sync_voice(self) -> None:
        """The voice port streams while a call is active (see VoicePort.sync)."""
        if self._voice is not None:
            active = self._started and self.machine.powered and self.machine.voice.active()
            self._voice.sync(active)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_due = None
        self.machine.advance()
        self._pump()

    def _run(self, fn: Callable[[], Any]) -> Any:
        self.machine.advance()
        try:
            return fn()
        finally:
            self.machine.advance()
            self._pump()

    def _reboot_replug(self) -> None:
        # AT+CFUN=1,1 on a stick that re-enumerates: the OK goes out, then the port
        # vanishes for reboot_time and comes back (same symlink, new pty).
        assert self._loop is not None
        self._loop.call_later(0.05, self._reboot_unplug)

    def _reboot_unplug(self) -> None:
        if not self._started or self._pty is None:
            return
        self.unplug()
        assert self._loop is not None
        self._loop.call_later(self.timing.reboot_time, self._reboot_plug)

    def _reboot_plug(self) -> None:
        if self._started:
            self.replug()

    # ------------------------------------------------------------------ knobs

    def unplug(self) -> None:
        """The USB cable is pulled: symlink removed, pty closed (the driver sees EIO/HUP).

        SIM storage, sent messages and the network queue survive; SMS that arrive
        meanwhile wait in the network.
        """
        self.machine.power_off()
        self._close_pty()
        self._pump()  # (stops the voice stream: the port is gone)
        log.info("sim_unplugged", modem=self.machine.name, link=str(self.link_path))

    def replug(self) -> None:
        """Plug back: a new pty, the same symlink path; the modem starts fresh (ATE1...)."""
        if self._pty is not None:
            return
        self._open_pty()
        self._run(lambda: self.machine.power_on(quiet=True))
        log.info("sim_replugged", modem=self.machine.name, device=self.device)

    def set_unresponsive(self, value: bool = True) -> None:
        """Swallow every byte and say nothing (a hung modem) until set back to False."""
        self._run(lambda: self.machine.set_unresponsive(value))

    def fail_next(self, prefix: str, response: str = "ERROR", count: int = 1) -> None:
        """The next ``count`` commands starting with ``prefix`` answer ``response``."""
        self._run(lambda: self.machine.fail_next(prefix, response, count))

    def clear_failures(self) -> int:
        """Forget every pending :meth:`fail_next`; how many failures were left."""
        return int(self._run(self.machine.clear_failures))

    def garbage(self, data: bytes | str) -> None:
        """Write line noise to the port."""
        raw = data.encode("latin-1") if isinstance(data, str) else bytes(data)
        self._run(lambda: self.machine.garbage(raw))

    def set_signal(self, csq: int) -> None:
        self._run(lambda: self.machine.set_signal(csq))

    def set_registration(self, stat: int) -> None:
        """0 not registered, 1 home, 2 searching, 3 denied, 4 unknown, 5 roaming."""
        self._run(lambda: self.machine.set_registration(stat))

    def remove_sim(self) -> None:
        self._run(self.machine.remove_sim)

    def insert_sim(self) -> None:
        self._run(self.machine.insert_sim)

    def set_timing(self, **changes: float) -> None:
        self._run(lambda: self.machine.timing.update(**changes))

    def set_outcome(
        self,
        destination: str,
        outcome: str | int | Sequence[str | int] = "delivered",
        *,
        submit_error: int | None = None,
    ) -> None:
        """Status report outcome(s) for SMS to ``destination`` ("*": default)."""
        self._run(lambda: self.machine.set_outcome(destination, outcome, submit_error=submit_error))

    def set_ussd(self, code: str, reply: UssdReply | str | dict[str, Any]) -> None:
        value = reply if isinstance(reply, UssdReply) else UssdReply.from_json(reply)
        self._run(lambda: self.machine.set_ussd(code, value))

    def set_call_behaviour(
        self, number: str, behaviour: CallBehaviour, *, delay: float | None = None
    ) -> None:
        self._run(lambda: self.machine.set_call_behaviour(number, behaviour, delay=delay))

    def incoming_call(self, number: str, *, ring_for: float | None = None) -> int:
        """A call from ``number`` rings (RING / +CRING, +CLIP); returns the call id."""
        result: int = self._run(lambda: self.machine.incoming_call(number, ring_for=ring_for))
        return result

    def remote_hangup(self, call_id: int | None = None) -> None:
        self._run(lambda: self.machine.remote_hangup(call_id))

    def remote_answer(self, call_id: int | None = None) -> None:
        self._run(lambda: self.machine.remote_answer(call_id))

    async def deliver_sms(
        self, sender: str, text: str, delivery: Delivery = DEFAULT_DELIVERY
    ) -> int:
        """The network sends ``text`` from ``sender``; returns the number of parts."""
        count, _ = self.deliver_sms_now(sender, text, delivery)
        return count

    def deliver_sms_now(
        self, sender: str, text: str, delivery: Delivery = DEFAULT_DELIVERY
    ) -> tuple[int, list[str]]:
        """Synchronous :meth:`deliver_sms`: (parts, PDU hex in the order delivered)."""
        result: tuple[int, list[str]] = self._run(
            lambda: self.machine.deliver_sms(sender, text, delivery)
        )
        return result

    async def deliver_raw_pdu(self, pdu: str, *, mode: RouteMode = "auto") -> str:
        """Deliver a PDU as given; returns "deliver" or "status_report"."""
        kind: str = self._run(lambda: self.machine.deliver_raw_pdu(pdu, mode=mode))
        return kind

    def set_audio_tone(self, tone_hz: float, amplitude: int | None = None) -> None:
        """What the remote party says from now on (a sine of ``tone_hz``)."""
        if self.audio is None:
            raise ValueError("this simulated modem has no voice port (audio=False)")
        self.audio.set_tone(tone_hz, amplitude)

    def press_keys(self, digits: str) -> None:
        """The remote party of the active call presses keys (DTMF in band)."""
        if self.audio is None:
            raise ValueError("this simulated modem has no voice port (audio=False)")
        self.audio.press(digits)

    def audio_power(self, hz: float, seconds: float | None = None) -> dict[str, Any]:
        """What the modem heard in the current (or last) call: Goertzel power of ``hz``
        over the last ``seconds`` (all kept audio if None), RMS and frame counts."""
        if self.audio is None:
            raise ValueError("this simulated modem has no voice port (audio=False)")
        return {
            "hz": hz,
            "power": self.audio.power(hz, seconds),
            "rms": self.audio.rms(seconds),
            "frames_received": self.audio.frames_received,
            "active": self.audio.active,
        }

    # ------------------------------------------------------------------ views

    def state(self) -> dict[str, Any]:
        """JSON-able snapshot (see the package docstring for the keys)."""
        snap: dict[str, Any] = self._run(self.machine.snapshot)
        snap["link"] = str(self.link_path)
        snap["device"] = self.device
        snap["plugged"] = self.plugged
        snap["audio"] = {"enabled": False} if self._voice is None else self._voice.snapshot()
        return snap

    @property
    def sent(self) -> list[dict[str, Any]]:
        """Every SMS part the network accepted, oldest first."""
        parts: list[dict[str, Any]] = self.state()["sent"]
        return parts

    def transcript(self) -> list[dict[str, Any]]:
        """Recent AT traffic: ``{"at", "dir", "text"}`` with dir in, out, final, urc."""
        return [{"at": at, "dir": d, "text": t} for at, d, t in self.machine.transcript]
