"""The core <-> media worker control protocol codec (sans-IO)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from base.errors import ProtocolError
from drivers.sip.media.protocol import (
    MAX_LINE,
    RESERVED,
    Command,
    Decoder,
    Event,
    Message,
    Reply,
    check_command,
    check_event,
    decode_line,
    encode,
)
from drivers.sip.media.worker.request import parse_request
from drivers.sip.uri import uri_user

# JSON values as they survive a round trip (no NaN, ints within JSON, str keys).
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
arg_keys = st.text(min_size=1, max_size=12).filter(lambda k: k not in RESERVED)
args = st.dictionaries(arg_keys, json_values, max_size=5)
ids = st.integers(min_value=0, max_value=2**53)
names = st.text(min_size=1, max_size=16)

messages: st.SearchStrategy[Message] = st.one_of(
    st.builds(Command, id=ids, op=names, args=args),
    st.builds(Reply, id=ids, ok=st.booleans(), error=st.none() | st.text(max_size=40), data=args),
    st.builds(Event, name=names, args=args),
)


@given(st.lists(messages, max_size=8))
def test_any_messages_round_trip_through_one_stream(msgs: list[Message]) -> None:
    stream = b"".join(encode(m) for m in msgs)
    assert Decoder().feed(stream) == msgs


@given(st.lists(messages, min_size=1, max_size=5), st.data())
def test_messages_split_at_any_byte_boundary_are_reassembled(
    msgs: list[Message], data: st.DataObject
) -> None:
    stream = b"".join(encode(m) for m in msgs)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    decoder, got, start = Decoder(), [], 0
    for cut in [*cuts, len(stream)]:
        got.extend(decoder.feed(stream[start:cut]))
        start = cut
    assert got == msgs
    assert decoder.buffered == 0


@pytest.mark.faults
@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_random_bytes_only_ever_raise_protocol_error(junk: bytes) -> None:
    decoder = Decoder(max_line=128)
    try:
        decoder.feed(junk + b"\n")
    except ProtocolError:
        decoder.drain()
    # the decoder survives and still decodes a good message afterwards
    assert decoder.feed(encode(Event("play_done", {"call": "w0-1"}))) == [
        Event("play_done", {"call": "w0-1"})
    ]


@pytest.mark.faults
@given(st.dictionaries(st.text(max_size=6), json_values, max_size=6))
def test_random_json_objects_decode_or_raise_protocol_error(obj: dict[str, Any]) -> None:
    line = json.dumps(obj).encode()
    try:
        msg = decode_line(line)
    except ProtocolError:
        return
    assert encode(msg)  # anything accepted can be re-encoded


def test_command_wire_format_is_flat_json_with_version_and_kind() -> None:
    line = encode(Command(7, "play", {"call": "w0-1", "file": "/s/hi.wav", "loop": True}))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {
        "v": 1,
        "kind": "cmd",
        "id": 7,
        "op": "play",
        "call": "w0-1",
        "file": "/s/hi.wav",
        "loop": True,
    }


def test_reply_carries_error_only_when_given() -> None:
    assert json.loads(encode(Reply(3, True))) == {"v": 1, "kind": "reply", "id": 3, "ok": True}
    assert json.loads(encode(Reply(4, False, "no such call 'x'"))) == {
        "v": 1,
        "kind": "reply",
        "id": 4,
        "ok": False,
        "error": "no such call 'x'",
    }


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        (b"{not json", "malformed JSON"),
        (b"\xff\xfe", "malformed JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"kind": "cmd", "id": 1, "op": "answer"}', "version"),
        (b'{"v": 2, "kind": "cmd", "id": 1, "op": "answer"}', "version"),
        (b'{"v": true, "kind": "cmd", "id": 1, "op": "answer"}', "version"),
        (b'{"v": 1, "kind": "shout"}', "unknown message kind"),
        (b'{"v": 1, "kind": "cmd", "op": "answer"}', "integer 'id'"),
        (b'{"v": 1, "kind": "cmd", "id": "1", "op": "answer"}', "integer 'id'"),
        (b'{"v": 1, "kind": "cmd", "id": 1}', "'op'"),
        (b'{"v": 1, "kind": "reply", "id": 1}', "boolean 'ok'"),
        (b'{"v": 1, "kind": "reply", "id": 1, "ok": false, "error": 5}', "'error'"),
        (b'{"v": 1, "kind": "event"}', "'name'"),
        (b'{"v": 1, "kind": "event", "name": "x", "op": "y"}', "out of place"),
        (b'{"v": 1, "kind": "event", "name": "x", "n": NaN}', "malformed JSON"),
    ],
)
def test_malformed_lines_raise_protocol_error_with_a_clear_message(
    line: bytes, fragment: str
) -> None:
    with pytest.raises(ProtocolError, match=fragment):
        Decoder().feed(line + b"\n")


def test_a_bad_line_is_dropped_and_the_messages_around_it_survive() -> None:
    good1 = Event("answered", {"call": "w0-1"})
    good2 = Reply(9, True)
    decoder = Decoder()
    with pytest.raises(ProtocolError):
        decoder.feed(encode(good1) + b"garbage\n" + encode(good2))
    assert decoder.feed(b"") == [good1, good2]


def test_drain_reports_each_bad_line_and_returns_the_rest() -> None:
    decoder = Decoder()
    errors: list[ProtocolError] = []
    stream = b"bad1\n" + encode(Reply(1, True)) + b"bad2\n" + encode(Reply(2, False, "no"))
    with pytest.raises(ProtocolError):
        decoder.feed(stream)
    assert decoder.drain(errors.append) == [Reply(1, True), Reply(2, False, "no")]
    assert len(errors) == 1  # the first bad line was raised by feed, the second reported


def test_an_over_long_line_is_refused_then_skipped_to_its_newline() -> None:
    decoder = Decoder(max_line=100)
    with pytest.raises(ProtocolError, match="longer than 100"):
        decoder.feed(b"x" * 150)
    assert decoder.feed(b"y" * 500) == []  # still inside the long line: silently skipped
    assert decoder.feed(b"z\n" + encode(Reply(1, True))) == [Reply(1, True)]
    assert decoder.buffered == 0


def test_an_over_long_complete_line_is_refused() -> None:
    decoder = Decoder(max_line=50)
    with pytest.raises(ProtocolError, match="exceeds 50"):
        decoder.feed(b"a" * 80 + b"\n")
    assert decoder.feed(encode(Reply(1, True))) == [Reply(1, True)]


def test_encode_refuses_what_the_peer_could_not_decode() -> None:
    with pytest.raises(ValueError, match="clash"):
        encode(Command(1, "answer", {"id": "w0-1"}))
    with pytest.raises(ValueError, match="line limit"):
        encode(Event("x", {"blob": "a" * MAX_LINE}))
    with pytest.raises(ValueError, match="JSON"):
        encode(Event("x", {"n": float("nan")}))


def test_blank_lines_are_ignored() -> None:
    assert Decoder().feed(b"\n\r\n  \n" + encode(Reply(1, True))) == [Reply(1, True)]


@pytest.mark.parametrize(
    ("cmd", "problem"),
    [
        (Command(1, "answer", {"call": "w0-1"}), None),
        (Command(1, "dial", {"call": "c1", "uri": "sip:1001@127.0.0.1:5060"}), None),
        (
            Command(1, "dial", {"call": "c1", "uri": "sip:x@y", "headers": {"X-A": "1"}}),
            None,
        ),
        (Command(1, "shutdown", {}), None),
        (Command(1, "answer", {}), "missing 'call'"),
        (Command(1, "reject", {"call": "w0-1", "code": "486"}), "'code' must be int"),
        (Command(1, "reject", {"call": "w0-1", "code": True}), "'code' must be int"),
        (Command(1, "reject", {"call": "w0-1", "code": 200}), "400-699"),
        (Command(1, "dial", {"call": "c", "uri": "u", "headers": {"X": 1}}), "object of strings"),
        (Command(1, "play", {"call": "c", "file": "f", "loop": "yes"}), "'loop' must be bool"),
        (Command(1, "send_dtmf", {"call": "c", "digits": "12x"}), "digits"),
        (Command(1, "send_dtmf", {"call": "c", "digits": ""}), "digits"),
        (Command(1, "teleport", {}), "unknown op"),
    ],
)
def test_command_arguments_are_checked_against_the_op_table(
    cmd: Command, problem: str | None
) -> None:
    result = check_command(cmd)
    if problem is None:
        assert result is None
    else:
        assert result is not None and problem in result


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        (Event("dtmf", {"call": "w0-1", "digit": "5", "method": "rfc4733"}), None),
        (Event("dtmf", {"call": "w0-1", "digit": "5", "method": "inband"}), "method"),
        (Event("record_done", {"call": "c", "path": "/r.wav", "duration": 3}), None),
        (Event("worker_health", {"worker": 0, "calls": 0, "uptime": True}), "float"),
        (Event("ended", {"call": "c", "code": 200}), "missing 'reason'"),
        (Event("nonsense", {}), "unknown event"),
    ],
)
def test_event_fields_are_checked_against_the_event_table(
    event: Event, problem: str | None
) -> None:
    result = check_event(event)
    if problem is None:
        assert result is None
    else:
        assert result is not None and problem in result


def test_event_call_property_gives_the_leg_id() -> None:
    assert Event("answered", {"call": "w1-3"}).call == "w1-3"
    assert Event("hello", {"worker": 1}).call is None


# ---------------------------------------------------------------- the worker's SIP parsing


def test_incoming_invite_headers_are_parsed_with_compact_forms_and_folding() -> None:
    raw = (
        "INVITE sip:+85523900100@127.0.0.1:5100 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n"
        'f: "Dara" <sip:+85512345678@10.0.0.9>;tag=abc\r\n'
        "t: <sip:+85523900100@127.0.0.1>\r\n"
        "i: call-1@10.0.0.9\r\n"
        "X-Switch-Origin: trunk;\r\n"
        " id=provider1\r\n"
        "x-switch-hop: 1\r\n"
        "x-switch-hop: 2\r\n"
        "Content-Length: 0\r\n"
        "\r\n"
        "v=0\r\nX-Not-A-Header: body\r\n"
    )
    ruri, values, names = parse_request(raw)
    assert ruri == "sip:+85523900100@127.0.0.1:5100"
    assert values["from"] == ['"Dara" <sip:+85512345678@10.0.0.9>;tag=abc']
    assert values["call-id"] == ["call-1@10.0.0.9"]
    assert values["x-switch-origin"] == ["trunk; id=provider1"]
    assert values["x-switch-hop"] == ["1", "2"]
    assert names["x-switch-origin"] == "X-Switch-Origin"
    assert "x-not-a-header" not in values  # the body is not headers
    assert uri_user(values["from"][0]) == "+85512345678"
    assert uri_user("<tel:+85512345678>") == "+85512345678"
    assert uri_user("no uri here") == ""
