"""The MQTT contract without a broker: topics, command parsing, replies, the outbox."""

from __future__ import annotations

import json

import pytest

from drivers.mqtt.outbox import Outbox, Outgoing
from drivers.mqtt.wire import (
    BadCommand,
    Command,
    RecentCommands,
    Topics,
    parse_command,
    reply_error,
    reply_ok,
    valid_box_id,
)

T = Topics("shop-12")


def test_topics_live_under_edge_box_id() -> None:
    assert T.status == "edge/shop-12/status"
    assert T.telemetry == "edge/shop-12/telemetry"
    assert T.events == "edge/shop-12/events"
    assert T.commands == "edge/shop-12/cmd/+"
    assert T.reply("abc") == "edge/shop-12/reply/abc"
    assert T.command_name("edge/shop-12/cmd/modem.diagnose") == "modem.diagnose"
    assert T.command_name("edge/other/cmd/modem.diagnose") is None


def test_box_id_is_one_topic_level() -> None:
    assert valid_box_id("shop-12")
    for bad in ("", "a/b", "a+b", "a#", "x" * 65, "shop 12"):
        assert not valid_box_id(bad)


def test_a_well_formed_command_parses() -> None:
    got = parse_command(T, "edge/shop-12/cmd/sms.send", b'{"id":"c1","args":{"to":"+855"}}')
    assert got == Command("c1", "sms.send", {"to": "+855"})
    assert parse_command(T, "edge/shop-12/cmd/backup.now", b'{"id":"c2"}') == Command(
        "c2", "backup.now", {}
    )


@pytest.mark.parametrize(
    ("payload", "code", "has_id"),
    [
        (b"not json", "malformed", False),
        (b"[1,2]", "malformed", False),
        (b'{"args":{}}', "malformed", False),
        (b'{"id":"a/b"}', "malformed", False),
        (b'{"id":7}', "malformed", False),
        (b'{"id":"c1","args":[1]}', "malformed", True),
        (b'{"id":"c1","args":{},"extra":1}', "malformed", True),
        (b"\xff\xfe", "malformed", False),
    ],
)
def test_malformed_commands_are_refused_with_a_code(
    payload: bytes, code: str, has_id: bool
) -> None:
    got = parse_command(T, "edge/shop-12/cmd/modem.diagnose", payload)
    assert isinstance(got, BadCommand)
    assert got.code == code
    assert (got.id is not None) == has_id


def test_a_bad_command_name_is_unknown() -> None:
    got = parse_command(T, "edge/shop-12/cmd/Rm -rf", b'{"id":"c1"}')
    assert isinstance(got, BadCommand) and got.code == "unknown_command" and got.id == "c1"


def test_a_retained_command_is_not_run() -> None:
    got = parse_command(T, "edge/shop-12/cmd/backup.now", b'{"id":"c1"}', retained=True)
    assert isinstance(got, BadCommand) and got.code == "retained"


def test_an_oversized_payload_is_refused_before_parsing() -> None:
    got = parse_command(T, "edge/shop-12/cmd/x", b'{"id":"c1","args":"' + b"a" * 70000 + b'"}')
    assert isinstance(got, BadCommand) and got.code == "too_large"


def test_replies_carry_id_and_ok() -> None:
    assert json.loads(reply_ok("c1", {"x": 1})) == {"id": "c1", "ok": True, "result": {"x": 1}}
    assert json.loads(reply_error("c1", "forbidden", "no")) == {
        "id": "c1",
        "ok": False,
        "error": {"code": "forbidden", "message": "no"},
    }


def test_a_repeated_command_id_gets_the_first_answer_and_does_not_run_again() -> None:
    recent = RecentCommands(limit=2)
    assert recent.begin("a") == (True, None)
    assert recent.begin("a") == (False, None)  # still running
    recent.finish("a", b"answer-a")
    assert recent.begin("a") == (False, b"answer-a")
    recent.begin("b")
    recent.begin("c")  # "a" was touched last before "b", "c": the oldest goes
    assert recent.begin("a") == (True, None)


def test_a_forgotten_command_may_run_again() -> None:
    recent = RecentCommands()
    recent.begin("a")
    recent.forget("a")
    assert recent.begin("a") == (True, None)


def test_the_outbox_keeps_the_newest_and_counts_drops() -> None:
    box = Outbox(limit=3)
    items = [Outgoing("t", str(i).encode()) for i in range(5)]
    for item in items:
        box.put(item)
    assert len(box) == 3 and box.dropped == 2
    assert box.peek() is items[2]
    box.pop(items[2])
    assert box.peek() is items[3]


def test_an_item_dropped_while_publishing_is_not_popped_twice() -> None:
    box = Outbox(limit=1)
    first = Outgoing("t", b"1")
    box.put(first)
    box.put(Outgoing("t", b"2"))  # first dropped while its publish was in flight
    box.pop(first)
    assert len(box) == 1 and box.peek() is not None and box.peek().payload == b"2"  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        Outbox(limit=0)
