"""DTMF in band: telling the keypad's tone pairs in 8 kHz 16-bit PCM, and making them.

Shared by the SIP media workers (a GSM caller's keys arrive as tones in the modem's PCM
stream, not as RFC 4733 events) and the GSM simulator (whose far party presses keys).
Sans-IO and pure: :class:`DtmfDetector` is fed PCM bytes in any chunking and returns the
digits it recognised; :func:`dtmf_pcm` makes the tones.

Theory of operation
-------------------
The stream is cut into blocks of :data:`BLOCK` samples (25.6 ms). In each block the
Goertzel power of the eight DTMF frequencies is measured and normalised by the block's
energy, so that a clean pair sums to about 1 whatever its loudness. A block *holds* a
digit when the strongest low and high frequencies together carry most of the energy
(:data:`PURITY`), each stands well above the others of its group (:data:`DOMINANCE`),
their levels are within :data:`MAX_TWIST`, and the block is not near silence. A digit is
reported once it holds for :data:`HOLD_BLOCKS` blocks in a row (about 50 ms, the
shortest key press the standard asks receivers to take), then not again until a block
without it: a long press is one digit.
"""

from __future__ import annotations

import math
import struct
from array import array

RATE = 8000
LOW = (697.0, 770.0, 852.0, 941.0)
HIGH = (1209.0, 1336.0, 1477.0, 1633.0)
KEYS = ("123A", "456B", "789C", "*0#D")
BLOCK = 205  # samples: the classic DTMF block at 8 kHz
PURITY = 0.7  # the pair's share of the block's energy
DOMINANCE = 6.0  # power ratio of the strongest tone over the next in its group
MAX_TWIST = 10.0  # power ratio between the two tones of the pair (10 dB)
MIN_ENERGY = 2.0e4  # mean square per sample below which a block is silence (~ -37 dBFS)
HOLD_BLOCKS = 2

_COEFFS = tuple(2.0 * math.cos(2.0 * math.pi * f / RATE) for f in (*LOW, *HIGH))


def _powers(block: array[int] | list[int]) -> list[float]:
    out = []
    for coeff in _COEFFS:
        s1 = s2 = 0.0
        for x in block:
            s0 = x + coeff * s1 - s2
            s2, s1 = s1, s0
        out.append(s1 * s1 + s2 * s2 - coeff * s1 * s2)
    return out


def block_digit(block: array[int] | list[int]) -> str | None:
    """The digit one block of samples holds, or None."""
    n = len(block)
    energy = sum(x * x for x in block)
    if n == 0 or energy / n < MIN_ENERGY:
        return None
    scale = energy * n / 2.0  # a pure tone's Goertzel power is about this
    powers = [p / scale for p in _powers(block)]
    low, high = powers[:4], powers[4:]
    li = max(range(4), key=low.__getitem__)
    hi = max(range(4), key=high.__getitem__)
    pl, ph = low[li], high[hi]
    if pl + ph < PURITY:
        return None
    if any(pl < DOMINANCE * p for i, p in enumerate(low) if i != li):
        return None
    if any(ph < DOMINANCE * p for i, p in enumerate(high) if i != hi):
        return None
    if max(pl, ph) > MAX_TWIST * min(pl, ph):
        return None
    return KEYS[li][hi]


class DtmfDetector:
    """Feed 16-bit little-endian mono PCM; get the keys pressed, each once."""

    def __init__(self) -> None:
        self._buffer = array("h")
        self._odd = b""  # half a sample left from the last chunk
        self._candidate: str | None = None
        self._count = 0
        self._reported: str | None = None

    def feed(self, pcm: bytes) -> list[str]:
        data = self._odd + pcm
        whole = len(data) // 2 * 2
        self._odd = data[whole:]
        self._buffer.extend(struct.unpack(f"<{whole // 2}h", data[:whole]))
        digits: list[str] = []
        while len(self._buffer) >= BLOCK:
            block = self._buffer[:BLOCK]
            del self._buffer[:BLOCK]
            digit = self._step(block_digit(block))
            if digit is not None:
                digits.append(digit)
        return digits

    def _step(self, held: str | None) -> str | None:
        if held is None:
            self._candidate, self._count, self._reported = None, 0, None
            return None
        if held != self._candidate:
            self._candidate, self._count = held, 0
        self._count += 1
        if self._count >= HOLD_BLOCKS and self._reported != held:
            self._reported = held
            return held
        return None


def dtmf_pcm(digits: str, *, on: float = 0.1, off: float = 0.1, amplitude: int = 6000) -> bytes:
    """Key presses as 8 kHz 16-bit mono PCM: each digit's pair for ``on`` seconds, then
    ``off`` seconds of silence."""
    out = bytearray()
    for digit in digits:
        row = next((r for r, keys in enumerate(KEYS) if digit in keys), None)
        if row is None:
            raise ValueError(f"not a DTMF key: {digit!r}")
        col = KEYS[row].index(digit)
        fl, fh = LOW[row], HIGH[col]
        for i in range(int(RATE * on)):
            t = i / RATE
            value = amplitude * (math.sin(2 * math.pi * fl * t) + math.sin(2 * math.pi * fh * t))
            out += struct.pack("<h", int(value))
        out += bytes(2 * int(RATE * off))
    return bytes(out)
