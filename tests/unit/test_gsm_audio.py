"""The modem audio interface: 320-byte frames over a pty, framed from any chunking."""

import asyncio
import math
import os
import struct
import tty

from hypothesis import given
from hypothesis import strategies as st

from drivers.gsm.audio import SERIAL_PCM, PcmFramer, SerialAudioPort


def tone(n_frames: int, hz: float = 1000.0) -> bytes:
    samples = [int(8000 * math.sin(2 * math.pi * hz * i / 8000)) for i in range(160 * n_frames)]
    return struct.pack(f"<{len(samples)}h", *samples)


def test_frame_is_20ms_of_8khz_16bit_mono() -> None:
    assert SERIAL_PCM.frame_bytes == 320


@given(st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=30))
def test_any_chunking_gives_the_same_frames(cuts: list[int]) -> None:
    data = tone(6)
    framer = PcmFramer(max_frames=100)
    pos = 0
    for cut in cuts:
        framer.feed(data[pos : pos + cut])
        pos += cut
    framer.feed(data[pos:])
    frames = []
    while (f := framer.next_frame()) is not None:
        frames.append(f)
    assert b"".join(frames) == data[: 320 * len(frames)] and len(frames) == 6


def test_backlog_is_bounded_dropping_oldest() -> None:
    framer = PcmFramer(max_frames=3)
    framer.feed(tone(5))
    assert len(framer) == 3 and framer.dropped == 2


async def test_frames_both_ways_over_a_pty() -> None:
    master, slave = os.openpty()
    tty.setraw(master)
    port = SerialAudioPort(os.ttyname(slave))
    try:
        os.write(master, tone(3)[:500])
        os.write(master, tone(3)[500:])
        frames = [await asyncio.wait_for(port.read_frame(), 2) for _ in range(3)]
        assert b"".join(frames) == tone(3)
        await port.write_frame(tone(1))
        got = b""
        while len(got) < 320:
            await asyncio.sleep(0.01)
            got += os.read(master, 1024)
        assert got == tone(1) and port.frames_out == 1
    finally:
        port.close()
        os.close(master)
        os.close(slave)
