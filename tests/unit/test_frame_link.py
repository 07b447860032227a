"""A link between two workers' legs (drivers/sip/media/link.py): frames both ways over
Unix datagrams, silence on underrun, a bounded delay, drops counted, paths checked."""

from __future__ import annotations

from pathlib import Path

from drivers.sip.media.link import FrameLink, check_link_path
from drivers.sip.media.protocol import Command, check_command

SILENCE = bytes(320)


def frame(n: int) -> bytes:
    return bytes([n % 256]) * 320


def pair(tmp_path: Path, backlog: int = 4) -> tuple[FrameLink, FrameLink]:
    a_path, b_path = str(tmp_path / "k1a.sock"), str(tmp_path / "k1b.sock")
    return (
        FrameLink.open(a_path, b_path, max_backlog=backlog),
        FrameLink.open(b_path, a_path, max_backlog=backlog),
    )


def test_frames_cross_both_ways_in_order(tmp_path: Path) -> None:
    a, b = pair(tmp_path)
    for n in (1, 2):
        a.push(frame(n))
    b.push(frame(9))
    assert [b.pull(), b.pull()] == [frame(1), frame(2)]
    assert a.pull() == frame(9)
    assert a.stats()["frames_sent"] == 2 and b.stats()["frames_received"] == 2
    a.close()
    b.close()


def test_no_frame_yet_is_silence_and_an_underrun(tmp_path: Path) -> None:
    a, b = pair(tmp_path)
    assert b.pull() == SILENCE
    assert b.stats()["underruns"] == 1
    a.push(b"")  # a tick with no audio: silence goes out, the stream stays steady
    a.push(b"\x01" * 10)  # a short frame is padded
    assert b.pull() == SILENCE
    assert b.pull() == b"\x01" * 10 + bytes(310)
    a.close()
    b.close()


def test_the_delay_stays_bounded_the_oldest_frames_are_dropped(tmp_path: Path) -> None:
    a, b = pair(tmp_path, backlog=3)
    for n in range(5):
        a.push(frame(n))
    assert b.pull() == frame(2)  # 0 and 1 were dropped: at most 3 frames wait
    assert b.stats()["receive_dropped"] == 2
    a.close()
    b.close()


def test_an_end_that_is_not_there_drops_frames_and_close_removes_the_socket(
    tmp_path: Path,
) -> None:
    lone = FrameLink.open(str(tmp_path / "k2a.sock"), str(tmp_path / "k2b.sock"))
    lone.push(frame(1))
    assert lone.stats()["send_dropped"] == 1 and lone.stats()["frames_sent"] == 0
    lone.close()
    assert lone.closed and not (tmp_path / "k2a.sock").exists()
    lone.push(frame(2))  # after close: nothing happens
    assert lone.pull() == SILENCE


def test_link_paths_are_checked(tmp_path: Path) -> None:
    assert check_link_path(str(tmp_path / "k1a.sock")) is None
    assert "absolute" in (check_link_path("k1a.sock") or "")
    assert "longer than" in (check_link_path("/" + "x" * 120) or "")
    assert "no such directory" in (check_link_path(str(tmp_path / "nope" / "k.sock")) or "")
    bad = Command(1, "link", {"call": "a", "link": "k1", "local": "rel", "remote": "/x"})
    assert "absolute" in (check_command(bad) or "")
