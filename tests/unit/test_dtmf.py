"""In-band DTMF (base.dtmf): every key is told from its tone pair, once per press, in
any chunking; speech-like tones, noise, silence and a single tone are not keys."""

from __future__ import annotations

import math
import random
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from base.dtmf import DtmfDetector, block_digit, dtmf_pcm

ALL_KEYS = "123A456B789C*0#D"


def tone(freqs: list[float], seconds: float, amplitude: int = 6000) -> bytes:
    out = bytearray()
    for i in range(int(8000 * seconds)):
        v = sum(math.sin(2 * math.pi * f * i / 8000) for f in freqs) * amplitude
        out += struct.pack("<h", max(-32768, min(32767, int(v))))
    return bytes(out)


def test_every_key_is_recognised_once_per_press() -> None:
    detector = DtmfDetector()
    assert detector.feed(dtmf_pcm(ALL_KEYS)) == list(ALL_KEYS)


def test_a_long_press_is_one_digit_and_two_presses_are_two() -> None:
    detector = DtmfDetector()
    assert detector.feed(dtmf_pcm("5", on=1.0)) == ["5"]
    assert detector.feed(dtmf_pcm("55")) == ["5", "5"]


@settings(max_examples=25, deadline=None)
@given(
    st.text(alphabet="0123456789*#", min_size=1, max_size=6),
    st.lists(st.integers(1, 700), min_size=1, max_size=8),
)
def test_any_chunking_gives_the_same_digits(digits: str, sizes: list[int]) -> None:
    pcm = dtmf_pcm(digits, on=0.07, off=0.06, amplitude=3000)
    detector = DtmfDetector()
    got: list[str] = []
    i = k = 0
    while i < len(pcm):
        size = sizes[k % len(sizes)]
        got += detector.feed(pcm[i : i + size])
        i, k = i + size, k + 1
    assert "".join(got) == digits


def test_quiet_keys_with_twist_and_some_noise_still_count() -> None:
    rng = random.Random(7)
    pcm = bytearray()
    for i in range(800):
        fl, fh = 852.0, 1477.0  # "9"
        v = 900 * math.sin(2 * math.pi * fl * i / 8000) + 1500 * math.sin(
            2 * math.pi * fh * i / 8000
        )
        pcm += struct.pack("<h", int(v + rng.gauss(0, 150)))
    assert DtmfDetector().feed(bytes(pcm)) == ["9"]


def test_silence_single_tones_chords_and_noise_are_not_keys() -> None:
    detector = DtmfDetector()
    assert detector.feed(bytes(3200)) == []
    assert detector.feed(tone([1000.0], 0.5)) == []  # a hold-music note
    assert detector.feed(tone([697.0], 0.5)) == []  # half a pair
    assert detector.feed(tone([440.0, 554.0, 659.0], 0.5)) == []  # a chord
    assert detector.feed(tone([697.0, 1209.0, 1000.0], 0.5, 4000)) == []  # "1" buried
    rng = random.Random(1)
    noise = b"".join(struct.pack("<h", int(rng.gauss(0, 4000))) for _ in range(8000))
    assert detector.feed(noise) == []
    # a pair too quiet to be a key press
    assert block_digit(list(struct.unpack("<205h", tone([697.0, 1209.0], 0.03, 40)[:410]))) is None


def test_a_press_shorter_than_two_blocks_is_ignored() -> None:
    assert DtmfDetector().feed(dtmf_pcm("7", on=0.03)) == []
