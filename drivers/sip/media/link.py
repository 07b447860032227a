"""A link: a leg's audio carried to a leg of *another* media worker, both ways.

A pjsua2 process holds at most 4 calls, so a worker that parks several waiting callers
may have no leg free for the agent who takes one of them. The agent's leg is then
dialled from another worker, and the two legs are joined by a link instead of the
conference bridge of one worker: each worker adds a raw audio port (the same kind as a
modem's PCM bridge, :func:`drivers.sip.media.pcm.pcm_port_class`) connected to its leg
both ways, and the two ports exchange 20 ms frames (8 kHz, 16-bit, mono: the bridge's
own format, no resampling) as Unix datagrams.

Theory of operation
-------------------
:class:`FrameLink` owns one ``AF_UNIX``/``SOCK_DGRAM`` socket bound to ``local`` (a
path in the pool's private socket directory) and sends to ``remote`` (the other
worker's end). It is driven by the port's two callbacks on the conference clock
thread, once per 20 ms tick:

- :meth:`FrameLink.push` (what the leg says) sends one frame to the other end, without
  blocking. A frame the other end cannot take (not bound yet, gone, its queue full) is
  dropped and counted: the other end plays silence for that tick.
- :meth:`FrameLink.pull` (what the other leg says) reads every datagram waiting, keeps
  at most ``max_backlog`` frames (the oldest dropped, so the delay stays under
  ``max_backlog`` x 20 ms) and gives the next one, or silence (an underrun).

The two workers' clocks tick from the same system clock, so the queue neither grows nor
drains over time; the backlog only absorbs scheduling jitter. No pjsua2 Call is
touched, nothing is logged from the clock thread (counters instead); :meth:`close` (the
worker's thread) takes the same lock, so a tick never uses a closed socket.

Runs inside the worker process: imports no asyncio, nothing of the pool or the edge.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections import deque
from typing import Any

from base.pcm import SERIAL_PCM, PcmFormat

__all__ = ["MAX_LINK_PATH", "FrameLink", "check_link_path"]

MAX_LINK_PATH = 100  # bytes: a Unix socket path must fit sockaddr_un (108)


def check_link_path(path: str) -> str | None:
    """Why ``path`` cannot be a link's socket path (a sentence), or None."""
    if not path or not os.path.isabs(path):
        return f"link: socket path must be absolute, got {path!r}"
    if len(os.fsencode(path)) > MAX_LINK_PATH:
        return f"link: socket path longer than {MAX_LINK_PATH} bytes: {path!r}"
    if not os.path.isdir(os.path.dirname(path)):
        return f"link: no such directory for {path!r}"
    return None


class FrameLink:
    """One end of a link between two workers (see the module docstring). Thread-safe."""

    def __init__(
        self,
        sock: socket.socket,
        local: str,
        remote: str,
        *,
        fmt: PcmFormat = SERIAL_PCM,
        max_backlog: int = 4,
    ) -> None:
        self.path = local
        self.remote = remote
        self.format = fmt
        self._sock: socket.socket | None = sock
        self._lock = threading.Lock()
        self._frames: deque[bytes] = deque()
        self._max_backlog = max_backlog
        self._silence = bytes(fmt.frame_bytes)
        self.frames_sent = 0
        self.send_dropped = 0  # frames the other end could not take
        self.frames_received = 0  # frames played to the leg
        self.receive_dropped = 0  # frames dropped to keep the delay bounded
        self.underruns = 0  # ticks with no frame from the other end: silence played

    @classmethod
    def open(cls, local: str, remote: str, **kwargs: Any) -> FrameLink:
        """Bind ``local`` (replacing a stale socket file) and aim at ``remote``."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(local)
            sock.bind(local)
            os.chmod(local, 0o600)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return cls(sock, local, remote, **kwargs)

    @property
    def closed(self) -> bool:
        return self._sock is None

    # ------------------------------------------------------------ the clock thread

    def push(self, frame: bytes) -> None:
        """One tick of the leg's audio for the other end (``b""``: silence)."""
        size = self.format.frame_bytes
        if len(frame) != size:
            frame = (frame + self._silence)[:size] if frame else self._silence
        with self._lock:
            if self._sock is None:
                return
            try:
                self._sock.sendto(frame, self.remote)
            except OSError:  # not bound yet, gone, or its queue is full
                self.send_dropped += 1
                return
            self.frames_sent += 1

    def pull(self) -> bytes:
        """One frame of the other end's audio (silence when none has arrived)."""
        size = self.format.frame_bytes
        with self._lock:
            if self._sock is not None:
                while True:
                    try:
                        data = self._sock.recv(size + 1)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break
                    if len(data) != size:
                        continue  # not a frame of ours
                    self._frames.append(data)
                    if len(self._frames) > self._max_backlog:
                        self._frames.popleft()
                        self.receive_dropped += 1
            if not self._frames:
                self.underruns += 1
                return self._silence
            self.frames_received += 1
            return self._frames.popleft()

    # ------------------------------------------------------------ the worker's thread

    def close(self) -> None:
        with self._lock:
            sock, self._sock = self._sock, None
            self._frames.clear()
        if sock is not None:
            sock.close()
            with contextlib.suppress(OSError):
                os.unlink(self.path)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "frames_sent": self.frames_sent,
                "send_dropped": self.send_dropped,
                "frames_received": self.frames_received,
                "receive_dropped": self.receive_dropped,
                "underruns": self.underruns,
            }
