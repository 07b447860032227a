"""WAV files as the media workers play them: 8 kHz, 16-bit, mono PCM.

:func:`read_pcm` reads any PCM WAV (8 or 16 bit, mono or stereo, any rate) and gives
the workers' format (stereo is mixed down, the rate converted by windowed-sinc
interpolation); :func:`write_pcm` writes it. Pure functions over bytes, with file
reading and writing at the edges; the standard library's ``wave`` only.
"""

from __future__ import annotations

import math
import struct
import wave
from array import array
from pathlib import Path

RATE = 8000  # the workers' conference rate
_HALF_WIDTH = 12  # input samples each side of an output sample (sinc taps / 2)


class BadWav(ValueError):
    """Not a WAV file the switch can play (compressed, 24/32-bit, unreadable)."""


def read_pcm(path: str | Path) -> bytes:
    """The file's audio as 8 kHz 16-bit mono little-endian PCM."""
    try:
        with wave.open(str(path), "rb") as w:
            rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
            raw = w.readframes(w.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise BadWav(f"{path}: {exc}") from None
    if width == 1:  # unsigned 8-bit
        samples = array("h", ((b - 128) << 8 for b in raw))
    elif width == 2:
        samples = array("h")
        samples.frombytes(raw[: len(raw) // 2 * 2])
        if struct.pack("=h", 1) != struct.pack("<h", 1):
            samples.byteswap()
    else:
        raise BadWav(f"{path}: {8 * width}-bit samples (use 16-bit PCM)")
    if channels > 1:
        samples = array(
            "h",
            (
                sum(samples[i : i + channels]) // channels
                for i in range(0, len(samples) - channels + 1, channels)
            ),
        )
    if rate != RATE:
        samples = resample(samples, rate, RATE)
    return _le_bytes(samples)


def _le_bytes(samples: array[int]) -> bytes:
    if struct.pack("=h", 1) != struct.pack("<h", 1):
        samples = array("h", samples)
        samples.byteswap()
    return samples.tobytes()


def resample(samples: array[int], src: int, dst: int) -> array[int]:
    """Band-limited rate conversion (Hann-windowed sinc, cut below the lower Nyquist)."""
    if src <= 0 or dst <= 0:
        raise BadWav(f"bad sample rate {src} -> {dst}")
    step = src / dst
    cutoff = min(1.0, dst / src) * 0.9  # of the input's Nyquist, with a little margin
    count = int(len(samples) / step)
    out = array("h", bytes(2 * count))
    n = len(samples)
    for i in range(count):
        t = i * step
        centre = int(t)
        acc = 0.0
        for k in range(centre - _HALF_WIDTH + 1, centre + _HALF_WIDTH + 1):
            if 0 <= k < n:
                x = t - k
                window = 0.5 + 0.5 * math.cos(math.pi * x / _HALF_WIDTH)
                arg = math.pi * x * cutoff
                sinc = cutoff if arg == 0 else math.sin(arg) / (math.pi * x)
                acc += samples[k] * sinc * window
        out[i] = max(-32768, min(32767, round(acc)))
    return out


def write_pcm(path: str | Path, pcm: bytes) -> None:
    """Write 8 kHz 16-bit mono PCM as a WAV file (atomically: a temp file, renamed)."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)
    tmp.replace(target)


def silence(seconds: float) -> bytes:
    return bytes(2 * int(RATE * seconds))
