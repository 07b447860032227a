"""Prompts: which file a name and a language lead to, announcements joined into one WAV
(cached), any PCM WAV read as the workers' 8 kHz 16-bit mono, and the espeak-ng
generator."""

from __future__ import annotations

import math
import os
import shutil
import struct
import wave
from pathlib import Path

import pytest

from switch.prompts import Prompts
from switch.prompts.__main__ import main
from switch.prompts.generate import ENGLISH, generate
from switch.prompts.library import GAP
from switch.prompts.wav import BadWav, read_pcm
from tests.sipphone import tone_power


def tone_wav(
    path: Path, freq: float, seconds: float, rate: int = 8000, channels: int = 1, width: int = 2
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = bytearray()
    for i in range(int(rate * seconds)):
        value = 0.4 * math.sin(2 * math.pi * freq * i / rate)
        for _ in range(channels):
            if width == 2:
                frames += struct.pack("<h", int(value * 32767))
            else:
                frames += bytes([int(128 + value * 127)])
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return path


def samples(pcm: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(pcm) // 2}h", pcm))


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path, Prompts]:
    ops, shipped = tmp_path / "prompts", tmp_path / "shipped"
    return ops, shipped, Prompts(ops, "km", cache=tmp_path / "cache", shipped=shipped)


def test_a_prompt_is_found_by_language_then_default_then_english_then_shipped(
    dirs: tuple[Path, Path, Prompts],
) -> None:
    ops, shipped, prompts = dirs
    assert prompts.find("welcome", "th") is None
    tone_wav(shipped / "en" / "welcome.wav", 400, 0.1)
    assert prompts.find("welcome", "th") == shipped / "en" / "welcome.wav"
    tone_wav(shipped / "km" / "welcome.wav", 400, 0.1)
    assert prompts.find("welcome", "th") == shipped / "km" / "welcome.wav"  # the default
    tone_wav(ops / "en" / "welcome.wav", 400, 0.1)
    assert prompts.find("welcome", "th") == ops / "en" / "welcome.wav"  # operator's first
    tone_wav(ops / "km" / "welcome.wav", 400, 0.1)
    assert prompts.find("welcome", "th") == ops / "km" / "welcome.wav"
    assert prompts.find("welcome", None) == ops / "km" / "welcome.wav"
    tone_wav(ops / "th" / "welcome.wav", 400, 0.1)
    assert prompts.find("welcome", "th") == ops / "th" / "welcome.wav"
    assert [p.parent.name for p in prompts.candidates("x", "fa")] == ["fa", "km", "en"] * 2


def test_parts_are_joined_in_order_with_a_pause_and_cached(
    dirs: tuple[Path, Path, Prompts], tmp_path: Path
) -> None:
    ops, shipped, prompts = dirs
    tone_wav(ops / "en" / "queue_position.wav", 500, 0.5)
    tone_wav(shipped / "en" / "num_3.wav", 1500, 0.3)
    made = prompts.parts(["queue_position", "num_3", "no_such_part"], "en")
    assert made is not None and made.parent == tmp_path / "cache"
    pcm = read_pcm(made)
    audio = samples(pcm)
    assert len(audio) == 4000 + int(8000 * GAP) + 2400  # the missing part is left out
    first, last = audio[:4000], audio[-2400:]
    assert tone_power(first, 8000, 500) > 100 * tone_power(first, 8000, 1500)
    assert tone_power(last, 8000, 1500) > 100 * tone_power(last, 8000, 500)
    gap = audio[4000 : 4000 + int(8000 * GAP)]
    assert max(abs(x) for x in gap) == 0
    # the same parts again: the same file, not written again
    stamp = made.stat().st_mtime_ns
    again = prompts.parts(["queue_position", "num_3", "no_such_part"], "en")
    assert again == made and made.stat().st_mtime_ns == stamp
    # a new recording of a part: a new file
    tone_wav(ops / "en" / "num_3.wav", 1000, 0.2)
    os.utime(ops / "en" / "num_3.wav", ns=(stamp + 10**9, stamp + 10**9))
    newer = prompts.parts(["queue_position", "num_3"], "en")
    assert newer is not None and newer != made
    assert prompts.parts(["nothing", "at_all"], "en") is None


def test_any_pcm_wav_is_read_as_8khz_16bit_mono_keeping_its_tone(tmp_path: Path) -> None:
    for rate, channels, width in ((22050, 1, 2), (16000, 2, 2), (8000, 1, 1), (44100, 2, 2)):
        path = tone_wav(tmp_path / f"t{rate}{channels}{width}.wav", 700, 0.5, rate, channels, width)
        audio = samples(read_pcm(path))
        assert abs(len(audio) - 4000) <= 2, (rate, channels, width)
        body = audio[200:-200]
        assert tone_power(body, 8000, 700) > 100 * tone_power(body, 8000, 1900) + 1
    # a tone above the new Nyquist is filtered out, not folded back as a false tone
    high = samples(read_pcm(tone_wav(tmp_path / "high.wav", 5000, 0.5, 22050)))
    loud = samples(read_pcm(tone_wav(tmp_path / "low.wav", 1000, 0.5, 22050)))
    assert tone_power(high[200:-200], 8000, 3000) < tone_power(loud[200:-200], 8000, 1000) / 100


def test_what_is_not_a_playable_wav_is_refused_plainly(tmp_path: Path) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not a wav at all")
    with pytest.raises(BadWav, match=r"junk\.wav"):
        read_pcm(junk)
    wide = tmp_path / "wide.wav"
    with wave.open(str(wide), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(4)
        w.setframerate(8000)
        w.writeframes(bytes(400))
    with pytest.raises(BadWav, match="32-bit"):
        read_pcm(wide)


def test_an_unreadable_part_is_left_out_of_an_announcement(
    dirs: tuple[Path, Path, Prompts],
) -> None:
    ops, _, prompts = dirs
    (ops / "en").mkdir(parents=True)
    (ops / "en" / "broken.wav").write_bytes(b"RIFF....")
    tone_wav(ops / "en" / "ok.wav", 600, 0.25)
    made = prompts.parts(["broken", "ok"], "en")
    assert made is not None and len(samples(read_pcm(made))) == 2000


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="scripts/install-deps installs it")
def test_the_generator_speaks_every_prompt_as_8khz_mono_speech(tmp_path: Path) -> None:
    texts = {"queue_position": ENGLISH["queue_position"], "num_7": ENGLISH["num_7"]}
    written = generate(tmp_path, texts)
    assert sorted(p.name for p in written) == ["num_7.wav", "queue_position.wav"]
    for path in written:
        with wave.open(str(path), "rb") as w:
            assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (8000, 2, 1)
            audio = samples(w.readframes(w.getnframes()))
        assert 0.3 < len(audio) / 8000 < 3.0
        assert max(abs(x) for x in audio) > 2000  # speech, not silence
    assert generate(tmp_path, texts) == []  # kept unless forced
    assert len(generate(tmp_path, texts, force=True)) == 2


def test_every_name_the_calls_use_is_generated() -> None:
    needed = {"queue_max_wait", "queue_no_agents", "queue_closed", "goodbye"}
    needed |= {"queue_position", "queue_wait", "queue_wait_short", "minute", "minutes"}
    needed |= {f"num_{n}" for n in range(20)} | {f"num_{n}" for n in range(20, 100, 10)}
    assert needed <= set(ENGLISH)


def test_the_command_line_lists_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["names"]) == 0
    assert "queue_closed" in capsys.readouterr().out.split()
