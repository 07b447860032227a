"""The simulated modem's voice port on a pty: the I/O shell around CallAudio.

A second pty (``<link>.audio``) opened, unplugged and replugged with the AT port. While
the modem has an active call (:meth:`VoicePort.sync` is told so after every step of the
machine) the port runs :class:`drivers.gsm.simulator.audio.CallAudio`: the remote
party's frames go out at its deadlines on the loop's clock, and what the driver side
writes is fed back to it. Stale audio is flushed both ways when a call starts. Frames
the reader does not take (nobody has the port open) are dropped once a few are
pending, as a modem's buffer would overflow.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import termios
from pathlib import Path
from typing import Any

import structlog

from drivers.gsm.simulator.audio import CallAudio
from drivers.gsm.simulator.ptys import LinkedPty, close_linked_pty, open_linked_pty

__all__ = ["MAX_PENDING_AUDIO_FRAMES", "VoicePort"]

log = structlog.get_logger("gsm.simulator")

MAX_PENDING_AUDIO_FRAMES = 10  # voice frames waiting for the reader beyond this drop


class VoicePort:
    """One modem's voice pty and its call audio (see the module docstring)."""

    def __init__(self, link_path: Path, audio: CallAudio, *, name: str) -> None:
        self.link_path = link_path
        self.audio = audio
        self.frames_dropped = 0
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pty: LinkedPty | None = None
        self._out = bytearray()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def device(self) -> str | None:
        """The pty slave the link points to (``/dev/pts/M``); None while unplugged."""
        return self._pty.device if self._pty is not None else None

    def open(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._pty = open_linked_pty(self.link_path)
        loop.add_reader(self._pty.master, self._on_readable)

    def close(self) -> None:
        pty, self._pty = self._pty, None
        if pty is None:
            return
        if self._loop is not None:
            self._loop.remove_reader(pty.master)
        close_linked_pty(pty)
        self._out.clear()

    def sync(self, call_active: bool) -> None:
        """Start the voice stream when a call is active (and the port is there), stop it
        otherwise; write the frames that are due and arm the audio timer."""
        audio = self.audio
        talking = call_active and self._pty is not None
        if talking and not audio.active:
            self._flush_port()
            audio.start()
            log.info("sim_audio_started", modem=self._name, tone_hz=audio.tone_hz)
        elif not talking and audio.active:
            audio.stop()
            self._out.clear()
            log.info(
                "sim_audio_stopped",
                modem=self._name,
                frames_sent=audio.frames_sent,
                frames_received=audio.frames_received,
            )
        self._tick()

    def snapshot(self) -> dict[str, Any]:
        return {
            "enabled": True,
            "link": str(self.link_path),
            "device": self.device,
            "frames_dropped": self.frames_dropped,
            **self.audio.snapshot(),
        }

    def _flush_port(self) -> None:
        """Forget stale audio both ways (what piled up in the pty between calls)."""
        self._out.clear()
        if self._pty is None:
            return
        with contextlib.suppress(termios.error, OSError):
            termios.tcflush(self._pty.slave, termios.TCIOFLUSH)
        with contextlib.suppress(OSError):
            while os.read(self._pty.master, 65536):
                pass

    def _tick(self) -> None:
        audio = self.audio
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not audio.active or self._pty is None:
            return
        frames = audio.frames_due()
        if frames:
            self._out += frames
            self._write()
        due = audio.next_deadline()
        if due is not None and self._loop is not None:
            self._timer = self._loop.call_at(due, self._tick)

    def _write(self) -> None:
        frame = self.audio.format.frame_bytes
        limit = MAX_PENDING_AUDIO_FRAMES * frame
        if len(self._out) > limit:
            # drop whole frames from the tail: what is left keeps the frame alignment
            excess = (len(self._out) - limit + frame - 1) // frame
            del self._out[-excess * frame :]
            self.frames_dropped += excess
        while self._out and self._pty is not None:
            try:
                n = os.write(self._pty.master, self._out)
            except BlockingIOError:
                break
            except OSError as exc:
                log.warning("sim_audio_write_failed", modem=self._name, error=str(exc))
                self._out.clear()
                break
            del self._out[:n]

    def _on_readable(self) -> None:
        if self._pty is None:
            return
        try:
            data = os.read(self._pty.master, 65536)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:
                return
            raise
        if data:
            self.audio.receive_data(data)
