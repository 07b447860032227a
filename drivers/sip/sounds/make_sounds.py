"""Regenerate the built-in prompts: ``python drivers/sip/sounds/make_sounds.py``.

8 kHz, 16-bit mono PCM WAV (the media workers' conference rate, no resampling):
- ``greeting.wav``: 1 s, a two-tone chime (placeholder greeting),
- ``hold.wav``: 2 s, a short arpeggio, meant to be played with ``loop``.
"""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

RATE = 8000
HERE = Path(__file__).resolve().parent


def tones(notes: list[tuple[float, float]], amplitude: float = 0.3) -> bytes:
    """``notes``: (frequency Hz, seconds); each with a 10 ms fade in and out."""
    frames = bytearray()
    for freq, seconds in notes:
        n = int(RATE * seconds)
        fade = int(RATE * 0.01)
        for i in range(n):
            env = min(1.0, i / fade, (n - 1 - i) / fade) if fade else 1.0
            value = amplitude * env * math.sin(2 * math.pi * freq * i / RATE)
            frames += struct.pack("<h", int(value * 32767))
    return bytes(frames)


def write(name: str, pcm: bytes) -> None:
    with wave.open(str(HERE / name), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)


if __name__ == "__main__":
    write("greeting.wav", tones([(660.0, 0.5), (880.0, 0.5)]))
    write("hold.wav", tones([(523.25, 0.5), (659.25, 0.5), (783.99, 0.5), (659.25, 0.5)], 0.2))
