"""rtpengine's control protocol, sans-IO: bencode and the ng messages around it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from base.errors import ProtocolError
from drivers.sip.rtpengine.bencode import MAX_DEPTH, decode, encode
from drivers.sip.rtpengine.ng import NgCodec, NgReply, parse_reply, request_bytes
from drivers.sip.rtpengine.supervisor import log_line

values: st.SearchStrategy[Any] = st.recursive(
    st.integers(min_value=-(10**18), max_value=10**18) | st.binary(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.binary(max_size=10), inner, max_size=5)
    ),
    max_leaves=30,
)


def test_encoding_is_canonical_with_sorted_keys() -> None:
    assert encode({"command": "ping"}) == b"d7:command4:pinge"
    assert encode({"b": 1, "a": [b"x", "é", -3]}) == b"d1:al1:x2:\xc3\xa9i-3ee1:bi1ee"
    assert encode(0) == b"i0e" and encode(b"") == b"0:"


def test_values_bencode_has_no_way_to_say_are_refused() -> None:
    for bad in (True, 1.5, None, {1: 2}):
        with pytest.raises(TypeError):
            encode(bad)


@given(values)
def test_decode_reverses_encode(value: Any) -> None:
    assert decode(encode(value)) == value


@pytest.mark.faults
@given(st.binary(max_size=200))
def test_any_bytes_decode_to_a_value_or_a_protocol_error(data: bytes) -> None:
    try:
        value = decode(data)
    except ProtocolError:
        return
    assert encode(value) == data or isinstance(value, dict)  # dicts may come unsorted


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "ends"),
        (b"i42", "not closed"),
        (b"i-0e", "bad integer"),
        (b"i03e", "bad integer"),
        (b"ie", "bad integer"),
        (b"5:abc", "wants 5 bytes"),
        (b"l1:a", "ends"),
        (b"di1ei2ee", "not a string"),
        (b"d1:a", "ends"),
        (b"d", "not closed"),
        (b"i1ei2e", "trailing"),
        (b"x", "unexpected byte"),
        (b"01:a", "bad string length"),
        (b"l" * (MAX_DEPTH + 5) + b"e" * (MAX_DEPTH + 5), "deeper"),
    ],
)
def test_malformed_input_says_what_is_wrong(data: bytes, why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        decode(data)


def test_unsorted_keys_from_a_peer_are_read_and_the_last_duplicate_wins() -> None:
    assert decode(b"d1:bi1e1:ai2e1:bi3ee") == {b"b": 3, b"a": 2}


def test_a_request_is_the_cookie_then_the_bencoded_command() -> None:
    data = request_bytes("c1", "query", {"call-id": "abc@x"})
    assert data == b"c1 d7:call-id5:abc@x7:command5:querye"
    with pytest.raises(ValueError):
        request_bytes("has space", "ping")


def test_replies_are_read_as_text() -> None:
    cookie, reply = parse_reply(b"c9 d6:result5:error12:error-reason15:Unknown call-ide")
    assert cookie == "c9"
    assert reply == NgReply("error", {"result": "error", "error-reason": "Unknown call-id"})
    assert not reply.ok and reply.error == "Unknown call-id"
    assert parse_reply(b"x d6:result4:ponge")[1].ok


@pytest.mark.faults
@pytest.mark.parametrize(
    "datagram",
    [b"", b"nocookie", b" d6:result2:oke", b"c1 li1ee", b"c1 de", b"c1 d6:resulti1ee", b"c1 d6:re"],
)
def test_a_datagram_that_is_no_reply_is_a_protocol_error(datagram: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_reply(datagram)


def test_the_codec_matches_replies_to_pending_requests_once() -> None:
    codec = NgCodec(prefix="t")
    cookie, data = codec.request("ping")
    assert data == b"t_0 d7:command4:pinge"
    other, _ = codec.request("list", {"limit": 5})
    assert codec.receive(b"stranger d6:result4:ponge") is None
    found = codec.receive(f"{cookie} d6:result4:ponge".encode())
    assert found == (cookie, NgReply("pong", {"result": "pong"}))
    assert codec.receive(f"{cookie} d6:result4:ponge".encode()) is None  # duplicate
    codec.forget(other)
    assert codec.receive(f"{other} d6:result2:oke".encode()) is None  # late
    assert codec.pending == {}


def test_rtpengine_log_lines_keep_their_level_call_and_subsystem() -> None:
    entry = log_line("WARNING: [abc@h/t1]: [control] Protocol error")
    assert entry.level == "warning"
    assert entry.fields == {"call_id": "abc@h/t1", "subsystem": "control", "line": "Protocol error"}
    assert log_line("ERR: [ice] gave up").fields == {"subsystem": "ice", "line": "gave up"}
    assert log_line("INFO: [core] up").level == "debug"
    assert log_line("not a log line").fields == {"line": "not a log line"}
