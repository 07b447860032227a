"""The modem end of a worker's PCM bridge: validation, framing, silence, bounded queues."""

from __future__ import annotations

import os
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from base.dtmf import DtmfDetector, dtmf_pcm
from drivers.gsm.simulator.audio import sine_frames
from drivers.sip.media.pcm import PcmLink, check_pcm_path
from drivers.sip.media.protocol import Command, check_command

SILENCE = bytes(320)


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, str]]:
    """(the modem side = master fd, the port path = slave)."""
    master, slave = os.openpty()
    tty.setraw(master)
    os.set_blocking(master, False)
    path = os.ttyname(slave)
    yield master, path
    os.close(master)
    os.close(slave)


def drain(fd: int) -> bytes:
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return out
        if not chunk:
            return out
        out += chunk


def test_only_an_existing_absolute_character_device_is_a_pcm_port(
    tmp_path: Path, pty_pair: tuple[int, str]
) -> None:
    _, path = pty_pair
    assert check_pcm_path(path) is None
    link = tmp_path / "ttySIM0.audio"
    link.symlink_to(path)
    assert check_pcm_path(str(link)) is None  # a symlink to a pty is fine
    assert "absolute" in (check_pcm_path("ttySIM0.audio") or "")
    assert "no such device" in (check_pcm_path(str(tmp_path / "nope")) or "")
    regular = tmp_path / "f.raw"
    regular.write_bytes(b"x")
    assert "not a character device" in (check_pcm_path(str(regular)) or "")
    assert "not a character device" in (check_pcm_path(str(tmp_path)) or "")


def test_the_protocol_knows_the_pcm_ops() -> None:
    assert check_command(Command(1, "pcm_bridge", {"call": "w0-1", "path": "/dev/pts/3"})) is None
    assert check_command(Command(2, "pcm_unbridge", {"call": "w0-1"})) is None
    assert "absolute" in (check_command(Command(3, "pcm_bridge", {"call": "a", "path": "x"})) or "")
    assert "missing 'path'" in (check_command(Command(4, "pcm_bridge", {"call": "a"})) or "")


def test_sip_audio_goes_to_the_modem_one_frame_per_tick_and_silence_when_none(
    pty_pair: tuple[int, str],
) -> None:
    modem, path = pty_pair
    link = PcmLink.open(path)
    try:
        tone = sine_frames(440.0, 2)
        link.to_modem(tone[:320])
        link.to_modem(b"")  # a tick without SIP audio
        link.to_modem(tone[320:400])  # a short frame is padded
        got = drain(modem)
        assert got == tone[:320] + SILENCE + tone[320:400] + SILENCE[80:]
        assert link.frames_to_modem == 3 and link.silence_to_modem == 1
    finally:
        link.close()


def test_modem_audio_is_framed_for_sip_and_underruns_give_silence(
    pty_pair: tuple[int, str],
) -> None:
    modem, path = pty_pair
    link = PcmLink.open(path)
    try:
        assert link.from_modem() == SILENCE and link.underruns == 1
        tone = sine_frames(1300.0, 3)
        os.write(modem, tone[:500])
        assert link.from_modem() == tone[:320]
        assert link.from_modem() == SILENCE  # half a frame is not a frame
        os.write(modem, tone[500:])
        assert link.from_modem() == tone[320:640]
        assert link.from_modem() == tone[640:]
        assert link.frames_from_modem == 3 and link.underruns == 2
    finally:
        link.close()


def test_a_modem_that_talks_faster_than_sip_listens_keeps_only_the_latest_frames(
    pty_pair: tuple[int, str],
) -> None:
    modem, path = pty_pair
    link = PcmLink.open(path, max_backlog=3)
    try:
        tone = sine_frames(1000.0, 10)
        os.write(modem, tone)
        assert link.from_modem() == tone[7 * 320 : 8 * 320]  # 7 dropped, 3 kept
        assert link.stats()["dropped_from_modem"] == 7
    finally:
        link.close()


def test_a_link_listening_for_keys_keeps_what_the_bridge_dropped_for_the_detector(
    pty_pair: tuple[int, str],
) -> None:
    modem, path = pty_pair
    link = PcmLink.open(path, max_backlog=3, keys=True)
    plain = PcmLink.open(path, max_backlog=3)
    try:
        keys = dtmf_pcm("5", on=0.2, off=0.0)  # 10 frames at once: a busy moment
        os.write(modem, keys)
        link.from_modem()
        assert link.stats()["dropped_from_modem"] == 7  # the bridge keeps its latency...
        heard = link.take_heard()
        assert heard == keys  # ...but every byte reaches the key detector
        assert DtmfDetector().feed(heard) == ["5"]
        assert link.take_heard() == b""
        # a long time nobody takes it: the newest second is kept, samples aligned
        for _ in range(20):
            os.write(modem, sine_frames(1000.0, 5) + b"\x01")
            link.from_modem()
        kept = link.take_heard()
        assert 0 < len(kept) <= 50 * 320 and len(kept) % 2 == 0
        assert plain.take_heard() == b""  # a plain bridge keeps nothing
    finally:
        link.close()
        plain.close()


def test_a_modem_port_nobody_reads_drops_the_newest_frames_and_stays_aligned(
    tmp_path: Path,
) -> None:
    # a pipe's write end stands in for a port whose buffer is full
    r, w = os.pipe()
    os.set_blocking(w, False)
    os.set_blocking(r, False)
    filler = b"\x55" * 65536
    while True:
        try:
            os.write(w, filler)
        except BlockingIOError:
            break
    link = PcmLink(w, "pipe", max_pending=2)
    try:
        for _ in range(5):
            link.to_modem(sine_frames(440.0, 1))
        stats = link.stats()
        assert stats["frames_to_modem"] == 2 and stats["dropped_to_modem"] == 3
        drain(r)
        link.to_modem(b"")
        got = drain(r)
        assert got == sine_frames(440.0, 1) * 2 + SILENCE  # whole frames, in order
    finally:
        link.close()
        os.close(r)


def test_a_closed_link_does_nothing(pty_pair: tuple[int, str]) -> None:
    modem, path = pty_pair
    link = PcmLink.open(path)
    link.close()
    link.close()
    assert link.closed
    link.to_modem(sine_frames(440.0, 1))
    assert drain(modem) == b""
    assert link.from_modem() == SILENCE
    assert link.stats()["frames_to_modem"] == 0
