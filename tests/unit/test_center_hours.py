"""The contact center's config in the engine and the calls: a queue's hours close it,
the expected wait uses the queue's recent handle times, routes and menus from the config
give a call its first target."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from actors.call.policy import Menu
from actors.queue import QueueSettings, QueueState, WorkItem
from actors.routing import (
    Accepted,
    AgentUpdate,
    AgentView,
    Enqueue,
    RouterState,
    Treat,
    decide,
    expected_wait,
)
from actors.schedule import parse_schedule
from base.errors import ConfigError
from switch.calls.policy import call_policy, entry_fields, route_table
from switch.center.queues import queue_settings
from switch.config import parse_config

WEEKDAYS = parse_schedule("weekdays", "UTC", {d: ["09:00-17:00"] for d in ("mon", "tue")})
MONDAY_10 = dt.datetime(2026, 4, 13, 10, 0, tzinfo=dt.UTC).timestamp()
MONDAY_20 = dt.datetime(2026, 4, 13, 20, 0, tzinfo=dt.UTC).timestamp()


def item(item_id: str, queue: str, at: float) -> WorkItem:
    return WorkItem(item_id, f"call:{item_id}", "voice", "k-" + item_id, queue, at)


def engine(*queues: QueueSettings) -> RouterState:
    return RouterState({q.id: QueueState(q) for q in queues})


def agent(agent_id: str, status: str = "available") -> AgentView:
    return AgentView(agent_id, status, signed_in=True, can_call=status == "available")


def test_a_queue_outside_its_hours_treats_the_caller_as_closed() -> None:
    state = engine(QueueSettings("sales", hours=WEEKDAYS))
    decide(state, AgentUpdate(agent("alice")), MONDAY_10)
    _, effects = decide(state, Enqueue(item("c1", "sales", MONDAY_20)), MONDAY_20)
    assert [e for e in effects if isinstance(e, Treat)] == [Treat("call:c1", "c1", "closed", False)]
    _, effects = decide(state, Enqueue(item("c2", "sales", MONDAY_10)), MONDAY_10)
    assert not any(isinstance(e, Treat) for e in effects)  # open: offered to alice


def test_expected_wait_uses_the_queues_recent_handle_times() -> None:
    state = engine(QueueSettings("sales"))
    decide(state, AgentUpdate(agent("alice")), 0.0)
    decide(state, Enqueue(item("c1", "sales", 0.0)), 0.0)  # offered to alice
    decide(state, AgentUpdate(agent("alice", "ringing")), 1.0)
    decide(state, Accepted("c1", "alice"), 5.0)
    decide(state, AgentUpdate(agent("alice", "busy")), 5.0)
    decide(state, Enqueue(item("c2", "sales", 10.0)), 10.0)
    decide(state, Enqueue(item("c3", "sales", 11.0)), 11.0)
    # no call finished yet: the default handle time
    assert expected_wait(state, "c3", 180.0) == pytest.approx(2 * 180.0)
    decide(state, AgentUpdate(agent("alice", "wrap_up")), 95.0)
    decide(state, AgentUpdate(agent("alice", "available")), 125.0)  # 120 s from the answer
    assert state.handle_times["sales"] == (120.0,)
    # c2 was offered to alice when she became available; c3 is now second in line
    assert expected_wait(state, "c3", 180.0) == pytest.approx(2 * 120.0)
    assert expected_wait(state, "nope", 180.0) is None


def config(**extra: Any) -> Any:
    base: dict[str, Any] = {
        "api": {"tokens": ["a-long-enough-test-token"]},
        "sip": {"listen": "127.0.0.1:5060"},
        "modems": [{"id": "gsm1", "port": "/dev/ttyUSB2", "number": "+85512000111"}],
        "schedules": [{"id": "weekdays", "timezone": "UTC", "weekly": {"mon": ["09:00-17:00"]}}],
        "queues": [
            {"id": "sales", "hours": "weekdays", "announce_every": 30},
            {
                "id": "support",
                "questions": [
                    {"id": "acct", "prompt": "account_number", "max_length": 8},
                    {"id": "why", "prompt": "reason", "kind": "choice", "options": {"1": "b"}},
                ],
            },
        ],
        "ivr": [
            {"id": "main", "prompt": "welcome", "options": {"1": "queue:sales", "2": "ivr:sub"}},
            {"id": "sub", "prompt": "support_menu", "options": {"0": "agent:bob"}},
        ],
        "agents": [{"id": "bob"}],
        "routes": [
            {"number": "+85523900100", "to": "ivr:main"},
            {
                "number": "+85512000111",
                "to": "ivr:sub",
                "hours": "weekdays",
                "closed_to": "queue:support",
            },
        ],
    }
    base.update(extra)
    return parse_config(base)


def test_the_config_gives_menus_questions_announcements_routes_and_queue_hours() -> None:
    cfg = config()
    policy = call_policy(cfg, hold_music=True)
    assert policy.hold_music and policy.human == "queue:sales"  # the first queue
    assert policy.menus["main"] == Menu(
        "main", "welcome", 5.0, 2, {"1": "queue:sales", "2": "ivr:sub"}, None
    )
    assert policy.wait_policy("sales").announce_every == 30
    assert [q.id for q in policy.wait_policy("support").questions] == ["acct", "why"]
    assert policy.wait_policy("nowhere").questions == ()
    routes = route_table(cfg)
    assert routes.target("+85523900100", MONDAY_20) == "ivr:main"
    assert routes.target("+85512000111", MONDAY_10) == "ivr:sub"
    assert routes.target("+85512000111", MONDAY_20) == "queue:support"
    hours = {q.id: q.hours for q in queue_settings(cfg)}
    assert hours["sales"] is not None and hours["support"] is None and hours["default"] is None
    assert cfg.modems[0].number == "+85512000111"


def test_a_calls_first_target_as_its_starting_fields() -> None:
    assert entry_fields(None) == {}
    assert entry_fields("queue:sales") == {"queue": "sales"}
    assert entry_fields("agent:bob") == {"queue": "agent:bob"}
    assert entry_fields("ivr:main") == {"menu": "main"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"modems": [{"id": "m", "port": "/dev/x", "number": "012345678"}]}, "E.164"),
        (
            {"queues": [{"id": "q", "questions": [{"id": "a", "prompt": "p", "kind": "choice"}]}]},
            "needs options",
        ),
        ({"queues": [{"id": "q", "announce_every": 2}]}, "announce_every"),
        (
            {"queues": [{"id": "q", "questions": [{"id": "a", "prompt": "p"}] * 2}]},
            "defined twice",
        ),
        (
            {"queues": [{"id": "q", "questions": [{"id": "a", "prompt": "../x"}]}]},
            "prompt",
        ),
    ],
)
def test_bad_contact_center_keys_are_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        config(**change)
    assert message in str(err.value)
