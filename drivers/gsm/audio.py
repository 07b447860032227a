"""The modem audio interface the media plane bridges to a SIP leg.

A modem's voice is a stream of raw PCM frames on a second serial port (Huawei E173/E1550
after ``AT^DDSETEX=2``; SIMCom SIM7600 with ``AT+CPCMREG=1``; Quectel EC25 with
``AT+QPCMV=1,0``): 8 kHz, 16-bit signed little-endian, mono, one frame every 20 ms =
160 samples = 320 bytes, both directions. Which port and command a model uses is in
its quirk profile (``hw/modems/*.toml``: ``voice.audio``, ``voice.enable_audio``).

:class:`AudioPort` is what a media worker needs: ``read_frame()`` gives the next 320-byte
frame from the network side (the remote party speaking), ``write_frame()`` sends one to
the modem (what the agent says). :class:`SerialAudioPort` implements it on a serial
device or a pty (the simulated modem's PCM in tests), without a thread: the fd is
watched by the event loop, partial reads are framed by :class:`PcmFramer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import termios
import tty
from typing import Protocol

from base.pcm import SERIAL_PCM, PcmFormat, PcmFramer

__all__ = ["SERIAL_PCM", "AudioPort", "PcmFormat", "PcmFramer", "SerialAudioPort"]


class AudioPort(Protocol):
    format: PcmFormat

    async def read_frame(self) -> bytes: ...

    async def write_frame(self, frame: bytes) -> None: ...

    def close(self) -> None: ...


class SerialAudioPort:
    """A modem's PCM port (serial device or pty) as an :class:`AudioPort`."""

    def __init__(self, path: str, fmt: PcmFormat = SERIAL_PCM) -> None:
        self.format = fmt
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        with contextlib.suppress(termios.error):
            tty.setraw(self._fd)
        self._framer = PcmFramer(fmt)
        self._ready = asyncio.Event()
        self._closed = False
        self.frames_in = 0
        self.frames_out = 0
        asyncio.get_running_loop().add_reader(self._fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            self.close()
            return
        if not data:
            self.close()
            return
        if self._framer.feed(data):
            self._ready.set()

    async def read_frame(self) -> bytes:
        while True:
            frame = self._framer.next_frame()
            if frame is not None:
                self.frames_in += 1
                return frame
            if self._closed:
                raise EOFError(f"{self.path} closed")
            self._ready.clear()
            await self._ready.wait()

    async def write_frame(self, frame: bytes) -> None:
        if len(frame) != self.format.frame_bytes:
            raise ValueError(f"a frame is {self.format.frame_bytes} bytes, got {len(frame)}")
        if self._closed:
            raise EOFError(f"{self.path} closed")
        view = memoryview(frame)
        while view:
            try:
                written = os.write(self._fd, view)
            except BlockingIOError:
                await asyncio.sleep(0.002)
                continue
            view = view[written:]
        self.frames_out += 1

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(self._fd)
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._ready.set()
