from drivers.sip.media.ops import (
    Answered,
    Dial,
    Ended,
    Hangup,
    Incoming,
    Play,
    command_args,
    parse_event,
)
from drivers.sip.media.protocol import COMMANDS, EVENTS


def test_commands_become_wire_ops_with_their_protocol_argument_names() -> None:
    assert command_args(Play("w0-1", "/s/hi.wav", loop=True)) == (
        "play",
        {"call": "w0-1", "file": "/s/hi.wav", "loop": True},
    )
    assert command_args(Hangup("w0-1")) == ("hangup", {"call": "w0-1"})
    op, args = command_args(Dial("c1-a1", "sip:1001@127.0.0.1:5060", from_user="+855"))
    assert op == "dial" and set(args) <= set(COMMANDS["dial"])


def test_every_typed_command_is_a_protocol_op() -> None:
    from drivers.sip.media import ops

    for name in ops.MediaCommand.__args__:  # type: ignore[attr-defined]
        assert name.op in COMMANDS


def test_worker_events_parse_to_types() -> None:
    assert parse_event("answered", {"call": "w1-2"}) == Answered("w1-2")
    assert parse_event("ended", {"call": "x", "code": 486, "reason": "Busy"}) == Ended(
        "x", 486, "Busy"
    )
    incoming = parse_event(
        "incoming",
        {
            "call": "w0-1",
            "from": "<sip:+85512345678@1.2.3.4>",
            "to": "<sip:+85523900100@edge>",
            "ruri": "sip:+85523900100@127.0.0.1:5100",
            "call_id": "abc",
            "headers": {"X-Switch-Origin": "trunk;id=provider1"},
        },
    )
    assert isinstance(incoming, Incoming)
    assert incoming.headers["X-Switch-Origin"] == "trunk;id=provider1"
    assert parse_event("worker_health", {"worker": 1, "calls": 0, "uptime": 1.0}) is None
    assert set(EVENTS) >= {"incoming", "answered", "ended", "dtmf", "play_done", "record_done"}
