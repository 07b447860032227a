"""The simulated modem's voice port: a paced tone out during a call, what it hears in."""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
import termios
import tty
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from base.dtmf import DtmfDetector
from drivers.gsm.simulator import ControlServer, SimulatedModem, SimulatorClient
from drivers.gsm.simulator.audio import CallAudio, goertzel_power, sine_frames
from drivers.gsm.simulator.terminal import RawTerminal


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_nothing_is_said_outside_a_call() -> None:
    audio = CallAudio(now=Clock())
    assert audio.next_deadline() is None
    assert audio.frames_due() == b""
    assert audio.receive_data(b"\x00" * 640) == 0
    assert audio.frames_received == 0 and audio.bytes_outside_call == 640


def test_a_call_gets_one_phase_continuous_tone_frame_per_20ms() -> None:
    clock = Clock()
    audio = CallAudio(now=clock, tone_hz=1000.0)
    audio.start()
    assert audio.next_deadline() == clock.t
    first = audio.frames_due()
    assert len(first) == 320  # frame 0 at once
    assert audio.frames_due() == b""  # nothing more until 20 ms later
    assert audio.next_deadline() == pytest.approx(clock.t + 0.02)
    clock.t += 0.065  # frames 1, 2, 3 are due (at 20, 40, 60 ms)
    rest = audio.frames_due()
    assert len(rest) == 3 * 320
    assert first + rest == sine_frames(1000.0, 4)
    assert audio.frames_sent == 4 and audio.frames_skipped == 0
    assert audio.next_deadline() == pytest.approx(100.08)


def test_a_late_wake_up_catches_up_a_few_frames_and_counts_the_rest_as_lost() -> None:
    clock = Clock()
    audio = CallAudio(now=clock, max_burst=5)
    audio.start()
    audio.frames_due()
    clock.t += 1.0  # 50 frames late
    burst = audio.frames_due()
    assert len(burst) == 5 * 320
    assert audio.frames_skipped == 45
    assert audio.frames_sent == 6
    # the phase stays on the wall clock: the burst is the tone's last 5 frames
    assert burst == sine_frames(1000.0, 5, start=46 * 160)


@given(st.lists(st.integers(min_value=1, max_value=900), min_size=1, max_size=20))
def test_what_the_modem_hears_is_framed_from_any_chunking(cuts: list[int]) -> None:
    audio = CallAudio(now=Clock())
    audio.start()
    data = sine_frames(440.0, 8)
    pos = 0
    for cut in cuts:
        audio.receive_data(data[pos : pos + cut])
        pos += cut
    audio.receive_data(data[pos:])
    assert audio.frames_received == 8 and audio.bytes_received == len(data)
    assert list(audio.heard()) == list(memoryview(data).cast("h"))


def test_the_heard_tone_is_measured_at_its_frequency() -> None:
    audio = CallAudio(now=Clock())
    audio.start()
    audio.receive_data(sine_frames(440.0, 50, amplitude=8000))
    assert audio.power(440.0) > 1e6  # about 8000**2 / 4
    assert audio.power(1000.0) < audio.power(440.0) / 1000
    assert goertzel_power([0] * 160, 8000, 440.0) == 0.0
    assert 5000 < audio.rms() < 6000  # 8000 / sqrt(2)


def test_what_was_heard_is_bounded_and_survives_the_end_of_the_call() -> None:
    audio = CallAudio(now=Clock(), keep_seconds=0.1)
    audio.start()
    audio.receive_data(sine_frames(440.0, 20))
    assert len(audio.heard()) == 800  # 0.1 s
    assert len(audio.heard(0.02)) == 160
    audio.stop()
    assert audio.frames_received == 20 and audio.power(440.0) > 1e6
    snap = audio.snapshot()
    assert snap["active"] is False and snap["frames_received"] == 20
    audio.start()  # the next call starts afresh
    assert audio.frames_received == 0 and len(audio.heard()) == 0 and audio.calls == 2


def test_pressed_keys_are_said_in_band_instead_of_the_tone_then_the_tone_again() -> None:
    clock = Clock()
    audio = CallAudio(now=clock, tone_hz=1000.0, max_burst=100)
    with pytest.raises(ValueError, match="no call"):
        audio.press("1")
    audio.start()
    audio.frames_due()
    audio.press("47")
    clock.t += 0.5  # 25 frames: the two presses (0.4 s), then the tone
    said = audio.frames_due()
    assert DtmfDetector().feed(said) == ["4", "7"]
    keys, after = said[: 320 * 20], said[320 * 20 :]
    n = len(after) // 2
    tail = list(struct.unpack(f"<{n}h", after))
    assert goertzel_power(tail, 8000, 1000.0) > 1e6
    assert goertzel_power(list(struct.unpack(f"<{len(keys) // 2}h", keys)), 8000, 1000.0) < 1e3


def test_tone_settings_are_validated() -> None:
    with pytest.raises(ValueError):
        CallAudio(now=Clock(), tone_hz=4000.0)
    audio = CallAudio(now=Clock())
    with pytest.raises(ValueError):
        audio.set_tone(1000.0, amplitude=40000)
    audio.set_tone(1300.0, 1000)
    assert (audio.tone_hz, audio.amplitude) == (1300.0, 1000)


# ---------------------------------------------------------------- on a real pty


async def read_frames(fd: int, count: int, timeout: float = 10.0) -> bytes:
    got = b""
    async with asyncio.timeout(timeout):
        while len(got) < count * 320:
            try:
                got += os.read(fd, 65536)
            except BlockingIOError:
                await asyncio.sleep(0.01)
    return got


async def test_the_voice_port_talks_and_listens_only_while_a_call_is_active(
    tmp_path: Path,
) -> None:
    sim = SimulatedModem(
        tmp_path / "ttySIM0", audio=True, audio_tone_hz=1300.0, timing={"ring_interval": 0.2}
    )
    await sim.start()
    control = await sim.serve_control(tmp_path / "sim.sock")
    client = SimulatorClient(control.path)
    fd = os.open(sim.audio_link_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    with contextlib.suppress(termios.error):
        tty.setraw(fd)
    try:
        assert os.readlink(tmp_path / "ttySIM0.audio") == sim.audio_device
        state = await client.state()
        assert state["audio"]["enabled"] and not state["audio"]["active"]
        async with RawTerminal(sim.link_path) as term:
            await term.command("ATE0")
            sim.incoming_call("+85512345678")
            await asyncio.sleep(0.1)
            with pytest.raises(BlockingIOError):
                os.read(fd, 320)  # ringing: no audio yet
            await term.command("ATA")
            assert (await client.state())["audio"]["active"]
            heard = await read_frames(fd, 25)
            samples = list(memoryview(heard[: 25 * 320]).cast("h"))
            assert goertzel_power(samples, 8000, 1300.0) > 1e6

            # the driver side talks: 440 Hz, written in odd-sized chunks
            speech = sine_frames(440.0, 25)
            for i in range(0, len(speech), 500):
                os.write(fd, speech[i : i + 500])
            result = await client.wait_for(
                lambda s: s["audio"]["frames_received"] >= 25, timeout=10
            )
            assert result["audio"]["frames_sent"] >= 25
            power = await client.audio_power(440.0)
            assert power["power"] > 1e6 and power["frames_received"] == 25
            assert (await client.audio_power(1300.0))["power"] < power["power"] / 100

            await term.command("ATH")
            state = await client.state()
            assert not state["audio"]["active"] and state["audio"]["frames_received"] == 25
            with contextlib.suppress(BlockingIOError):
                while os.read(fd, 65536):
                    pass
            await asyncio.sleep(0.1)
            with pytest.raises(BlockingIOError):
                os.read(fd, 320)  # silence after the hangup
            await client.set_audio_tone(700.0)
            assert (await client.state())["audio"]["tone_hz"] == 700.0
    finally:
        os.close(fd)
        await sim.stop()
    assert not (tmp_path / "ttySIM0.audio").exists()


async def test_a_modem_without_audio_has_no_voice_port(tmp_path: Path) -> None:
    async with SimulatedModem(tmp_path / "ttySIM0") as sim:
        server = ControlServer(sim, tmp_path / "s.sock")
        assert not (tmp_path / "ttySIM0.audio").exists()
        assert sim.state()["audio"] == {"enabled": False}
        reply = await server.handle(b'{"op": "audio_power", "hz": 440}')
        assert not reply["ok"] and "no voice port" in reply["error"]
