"""The simulated modem's voice port, sans-IO: the far party's tone out, what it hears in.

A real modem streams raw PCM on a second serial port during a call (8 kHz, 16-bit
signed little-endian, mono, 320-byte frames every 20 ms: :mod:`drivers.gsm.audio`).
:class:`CallAudio` is that stream's brain with no pty and no event loop:
:class:`drivers.gsm.simulator.port.SimulatedModem` starts it when a call becomes active,
stops it when the call ends, writes :meth:`CallAudio.frames_due` to the pty at
:meth:`CallAudio.next_deadline` and feeds what it read to :meth:`CallAudio.receive_data`.

Theory of operation
-------------------

- **Talking.** While a call is active the "remote party" says a steady sine tone
  (``tone_hz``, ``amplitude``), phase-continuous across frames, one frame per 20 ms
  measured from the call's start: a late wake-up catches up (at most ``max_burst``
  frames at once; older ones are counted in ``frames_skipped``, as a real network
  would lose them).
- **Pressing keys.** :meth:`CallAudio.press` queues DTMF key presses (tone pairs in
  band, :func:`base.dtmf.dtmf_pcm`): the next frames say them instead of the tone, then
  the tone goes on.
- **Listening.** Bytes written to the port are framed (any chunking); whole frames are
  counted and their samples kept (the last ``keep_seconds``) so a test can measure the
  power of a frequency in what the modem heard (:meth:`CallAudio.power`, Goertzel).
  Outside a call, what arrives is counted in ``bytes_outside_call`` and dropped.
- **Per call.** Counters describe the current (or last) call; :meth:`CallAudio.start`
  resets them, :meth:`CallAudio.stop` keeps them for inspection.
"""

from __future__ import annotations

import math
import struct
import sys
from array import array
from collections.abc import Callable
from typing import Any

from base.dtmf import dtmf_pcm
from base.pcm import SERIAL_PCM, PcmFormat, PcmFramer

__all__ = ["CallAudio", "goertzel_power", "sine_frames"]


def goertzel_power(samples: array[int] | list[int], rate: int, freq: float) -> float:
    """Goertzel power of ``freq`` in ``samples``, normalised per sample (0 for silence).

    A full-scale-ish sine of amplitude A gives about A²/4 at its own frequency.
    """
    n = len(samples)
    if n == 0:
        return 0.0
    coeff = 2.0 * math.cos(2.0 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s0 = x + coeff * s1 - s2
        s2, s1 = s1, s0
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return float(power / (n * n))


def sine_frames(
    freq: float, count: int, *, amplitude: int = 8000, start: int = 0, fmt: PcmFormat = SERIAL_PCM
) -> bytes:
    """``count`` frames of a sine wave, the first sample being number ``start``."""
    per_frame = fmt.frame_bytes // fmt.sample_width
    n = per_frame * count
    step = 2.0 * math.pi * freq / fmt.rate
    samples = [int(amplitude * math.sin(step * (start + i))) for i in range(n)]
    return struct.pack(f"<{n}h", *samples)


class CallAudio:
    """The PCM stream of one simulated modem (see the module docstring)."""

    def __init__(
        self,
        *,
        now: Callable[[], float],
        tone_hz: float = 1000.0,
        amplitude: int = 8000,
        fmt: PcmFormat = SERIAL_PCM,
        keep_seconds: float = 10.0,
        max_burst: int = 5,
    ) -> None:
        if not 0 < tone_hz < fmt.rate / 2:
            raise ValueError(f"tone_hz must be in (0, {fmt.rate // 2}) Hz")
        if not 0 <= amplitude <= 32767:
            raise ValueError("amplitude must be 0..32767")
        self._now = now
        self.format = fmt
        self.tone_hz = float(tone_hz)
        self.amplitude = amplitude
        self.max_burst = max_burst
        self._frame_seconds = fmt.frame_ms / 1000.0
        self._samples_per_frame = fmt.frame_bytes // fmt.sample_width
        self._keep = int(keep_seconds * fmt.rate)
        self.active = False
        self._started_at = 0.0
        self._next_frame = 0  # index (from the call's start) of the next frame to say
        self._sample = 0  # phase of the tone, in samples
        self._framer = PcmFramer(fmt, max_frames=1 << 30)
        self._heard: array[int] = array("h")
        self._keys = bytearray()  # DTMF still to say, instead of the tone
        self.calls = 0
        self.frames_sent = 0
        self.frames_skipped = 0
        self.frames_received = 0
        self.bytes_received = 0
        self.bytes_outside_call = 0

    # ------------------------------------------------------------ call start / end

    def start(self) -> None:
        """A call became active: the remote party starts talking; counters reset."""
        if self.active:
            return
        self.active = True
        self.calls += 1
        self._started_at = self._now()
        self._next_frame = 0
        self._sample = 0
        self._framer = PcmFramer(self.format, max_frames=1 << 30)
        self._heard = array("h")
        self._keys = bytearray()
        self.frames_sent = self.frames_skipped = 0
        self.frames_received = self.bytes_received = 0

    def stop(self) -> None:
        """The call ended: silence; what was heard stays for inspection."""
        self.active = False

    def set_tone(self, tone_hz: float, amplitude: int | None = None) -> None:
        if not 0 < tone_hz < self.format.rate / 2:
            raise ValueError(f"tone_hz must be in (0, {self.format.rate // 2}) Hz")
        if amplitude is not None and not 0 <= amplitude <= 32767:
            raise ValueError("amplitude must be 0..32767")
        self.tone_hz = float(tone_hz)
        if amplitude is not None:
            self.amplitude = amplitude

    def press(self, digits: str) -> None:
        """The remote party presses ``digits`` (each 100 ms, 100 ms apart), in band."""
        if not self.active:
            raise ValueError("no call: nobody can press keys")
        self._keys += dtmf_pcm(digits)

    # ------------------------------------------------------------ talking

    def next_deadline(self) -> float | None:
        """When the next frame is due (monotonic seconds), None outside a call."""
        if not self.active:
            return None
        return self._started_at + self._next_frame * self._frame_seconds

    def frames_due(self) -> bytes:
        """The frames due by ``now()`` (whole frames; empty outside a call)."""
        if not self.active:
            return b""
        elapsed = self._now() - self._started_at
        due = int(elapsed / self._frame_seconds + 1e-9) + 1  # frame k is due at k * 20 ms
        count = due - self._next_frame
        if count <= 0:
            return b""
        if count > self.max_burst:
            skipped = count - self.max_burst
            self.frames_skipped += skipped
            self._sample += skipped * self._samples_per_frame
            count = self.max_burst
        out = sine_frames(
            self.tone_hz, count, amplitude=self.amplitude, start=self._sample, fmt=self.format
        )
        if self._keys:  # key presses instead of the tone, while they last
            n = min(len(out), len(self._keys))
            out = bytes(self._keys[:n]) + out[n:]
            del self._keys[:n]
        self._sample += count * self._samples_per_frame
        self._next_frame = due
        self.frames_sent += count
        return out

    # ------------------------------------------------------------ listening

    def receive_data(self, data: bytes) -> int:
        """Bytes written to the voice port; returns the whole frames they completed."""
        if not self.active:
            self.bytes_outside_call += len(data)
            return 0
        self.bytes_received += len(data)
        made = self._framer.feed(data)
        while (frame := self._framer.next_frame()) is not None:
            samples = array("h")
            samples.frombytes(frame)
            if sys.byteorder == "big":
                samples.byteswap()  # the wire is little-endian
            self._heard.extend(samples)
            self.frames_received += 1
        if len(self._heard) > self._keep:
            del self._heard[: len(self._heard) - self._keep]
        return made

    def heard(self, seconds: float | None = None) -> array[int]:
        """The samples heard in the current (or last) call, the last ``seconds`` of them."""
        if seconds is None:
            return array("h", self._heard)
        n = max(0, int(seconds * self.format.rate))
        return self._heard[-n:] if n else array("h")

    def power(self, freq: float, seconds: float | None = None) -> float:
        """Goertzel power of ``freq`` in what was heard (the last ``seconds``)."""
        return goertzel_power(self.heard(seconds), self.format.rate, freq)

    def rms(self, seconds: float | None = None) -> float:
        samples = self.heard(seconds)
        if not samples:
            return 0.0
        return math.sqrt(sum(x * x for x in samples) / len(samples))

    def snapshot(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "tone_hz": self.tone_hz,
            "amplitude": self.amplitude,
            "calls": self.calls,
            "frames_sent": self.frames_sent,
            "frames_skipped": self.frames_skipped,
            "frames_received": self.frames_received,
            "bytes_received": self.bytes_received,
            "bytes_outside_call": self.bytes_outside_call,
            "heard_seconds": round(len(self._heard) / self.format.rate, 3),
            "heard_rms": round(self.rms(1.0), 1),
        }
