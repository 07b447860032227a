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
the shell runs :class:`drivers.gsm.simulator.audio.CallAudio` on it (the remote
party's tone out every 20 ms, what the driver side writes in); its own loop timer paces
the frames. Frames the reader does not take (nobody has the port open) are dropped
once a few are pending, as a modem's buffer would overflow.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import termios
import time
import tty
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
from drivers.gsm.simulator.ussd import UssdReply

__all__ = ["SimulatedModem"]

log = structlog.get_logger("gsm.simulator")

MAX_PENDING_OUTPUT = 1 << 20  # bytes nobody reads (port closed, buffer full) beyond this drop
MAX_PENDING_AUDIO_FRAMES = 10  # voice frames waiting for the reader beyond this drop


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
        self._master: int | None = None
        self._slave: int | None = None
        self._pts: str | None = None
        self._outbuf = bytearray()
        self._writer_armed = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due: float | None = None
        self._started = False
        self._control: ControlServer | None = None
        # --- voice port (audio=True) ---
        self.audio: CallAudio | None = None
        if audio:
            self.audio = CallAudio(
                now=self._monotonic, tone_hz=audio_tone_hz, amplitude=audio_amplitude
            )
        self.audio_link_path = self.link_path.with_name(f"{self.link_path.name}.audio")
        self._audio_master: int | None = None
        self._audio_slave: int | None = None
        self._audio_pts: str | None = None
        self._audio_out = bytearray()
        self._audio_timer: asyncio.TimerHandle | None = None
        self.audio_frames_dropped = 0

    # ------------------------------------------------------------- lifecycle

    @property
    def timing(self) -> Timing:
        return self.machine.timing

    @property
    def plugged(self) -> bool:
        return self._master is not None

    @property
    def device(self) -> str | None:
        """The pty slave the symlink points to now (``/dev/pts/N``), None when unplugged."""
        return self._pts

    @property
    def audio_device(self) -> str | None:
        """The voice port's pty slave (``/dev/pts/M``); None without audio or unplugged."""
        return self._audio_pts

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
            device=self._pts,
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
        self._sync_audio()
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

    @staticmethod
    def _new_pty(link: Path) -> tuple[int, int, str]:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line editing, no CR/LF translation
        os.set_blocking(master, False)
        pts = os.ttyname(slave)
        link.parent.mkdir(parents=True, exist_ok=True)
        tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(pts, tmp)
        os.replace(tmp, link)  # atomic: the path never dangles half-made
        return master, slave, pts

    def _open_pty(self) -> None:
        self._master, self._slave, self._pts = self._new_pty(self.link_path)
        assert self._loop is not None
        self._loop.add_reader(self._master, self._on_readable)
        if self.audio is not None:
            master, slave, pts = self._new_pty(self.audio_link_path)
            self._audio_master, self._audio_slave, self._audio_pts = master, slave, pts
            self._loop.add_reader(master, self._on_audio_readable)

    def _close_pty(self) -> None:
        if self._master is None:
            return
        assert self._loop is not None
        self._loop.remove_reader(self._master)
        if self._writer_armed:
            self._loop.remove_writer(self._master)
            self._writer_armed = False
        with contextlib.suppress(OSError):
            if os.readlink(self.link_path) == self._pts:
                self.link_path.unlink()
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
        self._pts = None
        self._outbuf.clear()
        if self._audio_master is not None:
            self._loop.remove_reader(self._audio_master)
            with contextlib.suppress(OSError):
                if os.readlink(self.audio_link_path) == self._audio_pts:
                    self.audio_link_path.unlink()
            for fd in (self._audio_master, self._audio_slave):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._audio_master = self._audio_slave = None
            self._audio_pts = None
            self._audio_out.clear()

    # ------------------------------------------------------------------ I/O

    def _on_readable(self) -> None:
        if self._master is None:
            return
        try:
            data = os.read(self._master, 4096)
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
        if self._master is None:
            self._outbuf.clear()
            return
        while self._outbuf:
            try:
                n = os.write(self._master, self._outbuf)
            except BlockingIOError:
                break
            except OSError as exc:
                log.warning("sim_write_failed", modem=self.machine.name, error=str(exc))
                self._outbuf.clear()
                break
            del self._outbuf[:n]
        assert self._loop is not None
        if self._outbuf and not self._writer_armed:
            self._loop.add_writer(self._master, self._on_writable)
            self._writer_armed = True
        elif not self._outbuf and self._writer_armed:
            self._loop.remove_writer(self._master)
            self._writer_armed = False

    def _pump(self) -> None:
        """Write what the machine produced; arm the timer for its next deadline."""
        out = self.machine.data_to_send()
        if out and self._master is not None:
            self._outbuf += out
            if len(self._outbuf) > MAX_PENDING_OUTPUT:
                dropped = len(self._outbuf) - MAX_PENDING_OUTPUT
                del self._outbuf[:dropped]
                log.warning("sim_output_dropped", modem=self.machine.name, bytes=dropped)
            self._flush()
        self._sync_audio()
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

    # ------------------------------------------------------------ voice port

    def _sync_audio(self) -> None:
        """Start the voice stream when a call is active (and the port is there), stop it
        otherwise; write the frames that are due and arm the audio timer."""
        audio = self.audio
        if audio is None:
            return
        talking = (
            self._started
            and self._audio_master is not None
            and self.machine.powered
            and any(c.state == "active" for c in self.machine.calls)
        )
        if talking and not audio.active:
            self._flush_audio_port()
            audio.start()
            log.info("sim_audio_started", modem=self.machine.name, tone_hz=audio.tone_hz)
        elif not talking and audio.active:
            audio.stop()
            self._audio_out.clear()
            log.info(
                "sim_audio_stopped",
                modem=self.machine.name,
                frames_sent=audio.frames_sent,
                frames_received=audio.frames_received,
            )
        self._audio_tick()

    def _flush_audio_port(self) -> None:
        """Forget stale audio both ways (what piled up in the pty between calls)."""
        self._audio_out.clear()
        if self._audio_slave is not None:
            with contextlib.suppress(termios.error, OSError):
                termios.tcflush(self._audio_slave, termios.TCIOFLUSH)
        if self._audio_master is not None:
            with contextlib.suppress(OSError):
                while os.read(self._audio_master, 65536):
                    pass

    def _audio_tick(self) -> None:
        audio = self.audio
        if self._audio_timer is not None:
            self._audio_timer.cancel()
            self._audio_timer = None
        if audio is None or not audio.active or self._audio_master is None:
            return
        frames = audio.frames_due()
        if frames:
            self._audio_out += frames
            self._write_audio()
        due = audio.next_deadline()
        if due is not None and self._loop is not None:
            self._audio_timer = self._loop.call_at(due, self._audio_tick)

    def _write_audio(self) -> None:
        assert self.audio is not None
        frame = self.audio.format.frame_bytes
        limit = MAX_PENDING_AUDIO_FRAMES * frame
        if len(self._audio_out) > limit:
            # drop whole frames from the tail: what is left keeps the frame alignment
            excess = (len(self._audio_out) - limit + frame - 1) // frame
            del self._audio_out[-excess * frame :]
            self.audio_frames_dropped += excess
        while self._audio_out and self._audio_master is not None:
            try:
                n = os.write(self._audio_master, self._audio_out)
            except BlockingIOError:
                break
            except OSError as exc:
                log.warning("sim_audio_write_failed", modem=self.machine.name, error=str(exc))
                self._audio_out.clear()
                break
            del self._audio_out[:n]

    def _on_audio_readable(self) -> None:
        if self._audio_master is None:
            return
        try:
            data = os.read(self._audio_master, 65536)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:
                return
            raise
        if data and self.audio is not None:
            self.audio.receive_data(data)

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
        if not self._started or self._master is None:
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
        if self._master is not None:
            return
        self._open_pty()
        self._run(lambda: self.machine.power_on(quiet=True))
        log.info("sim_replugged", modem=self.machine.name, device=self._pts)

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
        snap["device"] = self._pts
        snap["plugged"] = self.plugged
        if self.audio is None:
            snap["audio"] = {"enabled": False}
        else:
            snap["audio"] = {
                "enabled": True,
                "link": str(self.audio_link_path),
                "device": self._audio_pts,
                "frames_dropped": self.audio_frames_dropped,
                **self.audio.snapshot(),
            }
        return snap

    @property
    def sent(self) -> list[dict[str, Any]]:
        """Every SMS part the network accepted, oldest first."""
        parts: list[dict[str, Any]] = self.state()["sent"]
        return parts

    def transcript(self) -> list[dict[str, Any]]:
        """Recent AT traffic: ``{"at", "dir", "text"}`` with dir in, out, final, urc."""
        return [{"at": at, "dir": d, "text": t} for at, d, t in self.machine.transcript]
