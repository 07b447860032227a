"""Fuzz the media worker protocol as a connection sees it: good messages and bad lines
(garbage, over-long ones) mixed in one byte stream, cut anywhere into reads.

The owner's loop is the one :class:`drivers.sip.media.protocol.Decoder` documents: feed
a chunk; on :class:`ProtocolError`, log it and drain. Whatever arrives, only
``ProtocolError`` comes out, each bad line costs only itself, and every good message
comes out once, in order.
"""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from base.errors import ProtocolError
from drivers.sip.media.protocol import Decoder, Event, Message, Reply, decode_line, encode

pytestmark = pytest.mark.faults

MAX = 128
good = st.one_of(
    st.builds(
        Event,
        name=st.sampled_from(["play_done", "answered", "ended"]),
        args=st.fixed_dictionaries({"call": st.text("w0123456789-", min_size=1, max_size=8)}),
    ),
    st.builds(Reply, id=st.integers(0, 10**6), ok=st.booleans()),
)
garbage = st.binary(max_size=3 * MAX).map(lambda b: b.replace(b"\n", b""))


def _is_bad(line: bytes) -> bool:
    if not line.strip():
        return False  # a blank line is skipped, not an error
    if len(line) > MAX:
        return True
    try:
        decode_line(line)
    except ProtocolError:
        return True
    return False


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(good, garbage), max_size=12),
    st.lists(st.integers(1, 64), min_size=1, max_size=30),
)
def test_a_stream_of_good_and_bad_lines_cut_anywhere(
    items: list[Message | bytes], cuts: list[int]
) -> None:
    stream = b""
    expected: list[Message] = []
    for item in items:
        if isinstance(item, bytes):
            assume(not item.strip() or _is_bad(item))
            stream += item + b"\n"
        else:
            stream += encode(item, max_line=MAX)
            expected.append(item)
    decoder = Decoder(max_line=MAX)
    got: list[Message] = []
    errors: list[ProtocolError] = []
    pos, i = 0, 0
    while pos < len(stream):
        size = cuts[i % len(cuts)]
        chunk, pos, i = stream[pos : pos + size], pos + size, i + 1
        try:
            got += decoder.feed(chunk)
        except ProtocolError as exc:
            errors.append(exc)
            got += decoder.drain(errors.append)
    assert got == expected
    assert decoder.buffered == 0
    bad = sum(1 for item in items if isinstance(item, bytes) and _is_bad(item))
    assert len(errors) == bad
