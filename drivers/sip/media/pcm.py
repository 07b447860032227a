"""A SIP leg's audio <-> a GSM modem's raw PCM voice port, inside a media worker.

The modem side is the stream :mod:`drivers.gsm.audio` describes (8 kHz, 16-bit signed
little-endian, mono, 320-byte frames every 20 ms, on a serial device or a pty). The SIP
side is the conference bridge of the worker's pjsua2 endpoint, which runs at the same
rate and frame time, so no resampling or re-framing is needed.

Theory of operation
-------------------
:class:`PcmLink` owns the port's file descriptor (``O_RDWR | O_NOCTTY | O_NONBLOCK``, raw
tty). It is driven by the two callbacks of a pjsua2 ``AudioMediaPort`` (built by
:func:`pcm_port_class`), which the conference bridge calls from its clock thread once
per 20 ms tick:

- ``onFrameReceived`` (the mix the bridge sends the port = what the SIP party says) ->
  :meth:`PcmLink.to_modem`: one frame written to the modem; a frame the port cannot take
  at once waits in a small queue (``max_pending`` frames; beyond that the newest are
  dropped, which keeps the stream aligned on frame boundaries). A tick with no audio
  (nothing connected, or a null frame) writes silence: the modem expects a steady stream.
- ``onFrameRequested`` (what the bridge reads from the port = what the GSM party says)
  -> :meth:`PcmLink.from_modem`: whatever the modem wrote is read without blocking and
  framed (:class:`drivers.gsm.audio.PcmFramer`, at most ``max_backlog`` frames kept,
  oldest dropped, so latency stays bounded); the next frame, or silence when none is
  there yet (counted as an underrun).

A link that listens for keys (``keys=True``, a GSM caller in a menu) also keeps a copy of
everything read from the modem, before the framer drops what is late (at most
``max_backlog * 10`` frames), for the worker's thread to take
(:meth:`PcmLink.take_heard`) and look for DTMF in band: a busy moment that costs the
bridge a few frames costs no key press, and the clock thread does no more than copy
bytes.

Both only do non-blocking reads/writes on one fd under a lock, never touch a pjsua2
Call, never log (counters instead). :meth:`PcmLink.close` (from the worker's thread)
takes the same lock, so a tick never uses a closed (or reused) descriptor.

Runs inside the worker process: imports no asyncio, nothing of the pool or the edge, and
pjsua2 only through the module the worker hands to :func:`pcm_port_class`.
"""

from __future__ import annotations

import contextlib
import os
import stat
import termios
import threading
import tty
from typing import Any

from base.pcm import SERIAL_PCM, PcmFormat, PcmFramer

__all__ = ["PcmLink", "check_pcm_path", "pcm_media_format", "pcm_port_class"]


def check_pcm_path(path: str) -> str | None:
    """Why ``path`` cannot be a modem's PCM port (a sentence), or None."""
    if not path or not os.path.isabs(path):
        return f"pcm_bridge: path must be absolute, got {path!r}"
    try:
        st = os.stat(path)  # follows the symlink (a simulator's <link>.audio)
    except FileNotFoundError:
        return f"pcm_bridge: no such device {path!r}"
    except OSError as exc:
        return f"pcm_bridge: cannot stat {path!r}: {exc.strerror}"
    if not stat.S_ISCHR(st.st_mode):
        return f"pcm_bridge: {path!r} is not a character device (a serial port or a pty)"
    return None


class PcmLink:
    """The modem end of a PCM bridge (see the module docstring). Thread-safe."""

    def __init__(
        self,
        fd: int,
        path: str,
        *,
        fmt: PcmFormat = SERIAL_PCM,
        max_backlog: int = 5,
        max_pending: int = 5,
        keys: bool = False,
    ) -> None:
        self.path = path
        self.keys = keys
        self._heard = bytearray()
        self._max_heard = max_backlog * 10 * fmt.frame_bytes
        self.format = fmt
        self._fd: int | None = fd
        self._lock = threading.Lock()
        self._framer = PcmFramer(fmt, max_frames=max_backlog)
        self._pending = bytearray()
        self._max_pending = max_pending * fmt.frame_bytes
        self._silence = bytes(fmt.frame_bytes)
        self.frames_to_modem = 0  # frames handed to the modem (silence included)
        self.silence_to_modem = 0  # of which silence (no SIP audio that tick)
        self.dropped_to_modem = 0  # frames the modem's port could not take
        self.frames_from_modem = 0  # whole frames the modem sent us, passed to SIP
        self.underruns = 0  # ticks with no modem frame: silence given to SIP
        self.write_errors = 0
        self.read_errors = 0

    @classmethod
    def open(cls, path: str, **kwargs: Any) -> PcmLink:
        """Open ``path`` raw and non-blocking (OSError if it cannot be opened)."""
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            with contextlib.suppress(termios.error):
                tty.setraw(fd)
            with contextlib.suppress(termios.error):
                termios.tcflush(fd, termios.TCIFLUSH)  # stale audio from before the bridge
        except BaseException:
            os.close(fd)
            raise
        return cls(fd, path, **kwargs)

    @property
    def closed(self) -> bool:
        return self._fd is None

    # ------------------------------------------------------------ the clock thread

    def to_modem(self, frame: bytes) -> None:
        """One tick of SIP audio for the modem (``b""``: no audio this tick)."""
        size = self.format.frame_bytes
        with self._lock:
            if self._fd is None:
                return
            if len(frame) != size:
                if frame:  # a short or long frame: pad or cut to keep the modem framed
                    frame = (frame + self._silence)[:size]
                else:
                    frame = self._silence
                    self.silence_to_modem += 1
            self._write_pending()  # what the port can take now leaves room first
            self._pending += frame
            self.frames_to_modem += 1
            if len(self._pending) > self._max_pending:
                excess = (len(self._pending) - self._max_pending + size - 1) // size
                del self._pending[-excess * size :]  # the newest: the rest stays aligned
                self.dropped_to_modem += excess
                self.frames_to_modem -= excess
            self._write_pending()

    def _write_pending(self) -> None:
        while self._pending and self._fd is not None:
            try:
                n = os.write(self._fd, self._pending)
            except BlockingIOError:
                return
            except OSError:
                self.write_errors += 1
                self._pending.clear()
                return
            del self._pending[:n]

    def push(self, frame: bytes) -> None:
        """The port's side (:func:`pcm_port_class`): what the leg says."""
        self.to_modem(frame)

    def pull(self) -> bytes:
        """The port's side (:func:`pcm_port_class`): what the leg hears."""
        return self.from_modem()

    def from_modem(self) -> bytes:
        """One frame of the modem's audio for SIP (silence when none has arrived)."""
        with self._lock:
            if self._fd is not None:
                while True:
                    try:
                        data = os.read(self._fd, 4096)
                    except BlockingIOError:
                        break
                    except OSError:
                        self.read_errors += 1
                        break
                    if not data:
                        break
                    self._framer.feed(data)
                    if self.keys:  # all of it, before the framer bounds the latency
                        self._heard += data
            excess = len(self._heard) - self._max_heard
            if excess > 0:  # nobody took it for a while: keep the newest, sample-aligned
                del self._heard[: excess + excess % 2]
            frame = self._framer.next_frame()
            if frame is None:
                self.underruns += 1
                return self._silence
            self.frames_from_modem += 1
            return frame

    # ------------------------------------------------------------ the worker's thread

    def take_heard(self) -> bytes:
        """The modem's audio since the last call (``keys=True`` links; else empty)."""
        with self._lock:
            data = bytes(self._heard)
            self._heard.clear()
        return data

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
            self._pending.clear()
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "path": self.path,
                "frames_to_modem": self.frames_to_modem,
                "silence_to_modem": self.silence_to_modem,
                "dropped_to_modem": self.dropped_to_modem,
                "frames_from_modem": self.frames_from_modem,
                "dropped_from_modem": self._framer.dropped,
                "underruns": self.underruns,
                "errors": self.write_errors + self.read_errors,
            }


def pcm_port_class(pj: Any) -> type:
    """A pjsua2 ``AudioMediaPort`` subclass whose frames go through ``self.link``: its
    ``pull()`` gives each frame the leg hears, its ``push(frame)`` takes each frame the
    leg says (a :class:`PcmLink`, or a :class:`drivers.sip.media.link.FrameLink`).

    Built once the pjsua2 module is loaded (it has no stubs). An exception escaping a
    callback would unwind through pjmedia's C code: each is caught and counted.
    """
    audio_type = pj.PJMEDIA_FRAME_TYPE_AUDIO

    def frame_requested(self: Any, frame: Any) -> None:
        try:
            data = self.link.pull()
            frame.type = audio_type
            frame.buf = pj.ByteVector(data)
            frame.size = len(data)
        except Exception:
            self.callback_errors += 1

    def frame_received(self: Any, frame: Any) -> None:
        try:
            size = int(frame.size)
            data = bytes(frame.buf)[:size] if frame.type == audio_type and size > 0 else b""
            self.link.push(data)
        except Exception:
            self.callback_errors += 1

    return type(
        "PcmPort",
        (pj.AudioMediaPort,),
        {
            "link": None,
            "callback_errors": 0,
            "onFrameRequested": frame_requested,
            "onFrameReceived": frame_received,
        },
    )


def pcm_media_format(pj: Any, fmt: PcmFormat = SERIAL_PCM) -> Any:
    """The pjsua2 ``MediaFormatAudio`` of the modem's stream."""
    mf = pj.MediaFormatAudio()
    mf.type = pj.PJMEDIA_TYPE_AUDIO
    mf.clockRate = fmt.rate
    mf.channelCount = fmt.channels
    mf.bitsPerSample = fmt.sample_width * 8
    mf.frameTimeUsec = fmt.frame_ms * 1000
    return mf
