"""A modem's call as a table: transitions, what the core hears, and wrong events."""

from __future__ import annotations

import pytest

from drivers.gsm.modem.call_state import (
    ANNOUNCE,
    EVENTS,
    STATES,
    TABLE,
    CallTracker,
    IllegalCallEvent,
    next_state,
)

NUMBER = "+85512345678"


def kinds(tracker: CallTracker, *events: str | tuple[str, dict[str, str]]) -> list[str]:
    out = []
    for item in events:
        event, extra = (item, {}) if isinstance(item, str) else item
        out += [f"{e.kind}:{e.cause}" if e.cause else e.kind for e in tracker.feed(event, **extra)]
    return out


def test_every_target_is_a_state_and_every_announced_state_exists() -> None:
    assert {target for row in TABLE.values() for target in row.values()} <= STATES
    assert set(ANNOUNCE) <= STATES
    assert {
        "ring",
        "clip",
        "dial",
        "dialed",
        "orig",
        "alerting",
        "connected",
        "hangup",
        "ended",
    } == EVENTS


def test_any_call_ends_back_in_idle_and_hangup_releases() -> None:
    for state in STATES - {"idle"}:
        assert next_state(state, "ended") == "idle"
        assert next_state(state, "hangup") == "releasing"


@pytest.mark.parametrize(
    ("state", "event"),
    [
        ("idle", "connected"),
        ("idle", "alerting"),
        ("idle", "orig"),
        ("incoming", "dial"),
        ("active", "dial"),
        ("active", "alerting"),
        ("offered", "alerting"),
    ],
)
def test_a_wrong_event_is_one_clear_protocol_error(state: str, event: str) -> None:
    with pytest.raises(IllegalCallEvent, match=f"{event!r} is not expected in state {state!r}"):
        next_state(state, event)


def test_incoming_with_number_is_announced_once_then_answered_then_ended() -> None:
    t = CallTracker("gsm1")
    got = kinds(t, "ring", ("clip", {"number": NUMBER}), "ring", ("clip", {"number": NUMBER}))
    assert got == ["incoming"]
    assert t.call is not None and t.call.number == NUMBER and t.call.direction == "in"
    assert kinds(t, "connected", "connected") == ["answered"]
    assert kinds(t, ("ended", {"cause": "remote_hangup"})) == ["ended:remote_hangup"]
    assert t.call is None and t.state == "idle"


def test_withheld_number_is_announced_on_the_second_ring() -> None:
    t = CallTracker("gsm1")
    assert kinds(t, "ring") == []
    assert kinds(t, "ring") == ["incoming"]
    assert t.call is not None and t.call.number is None


def test_outgoing_call_dialing_ringing_answered_local_hangup() -> None:
    t = CallTracker("gsm1")
    assert kinds(t, ("dial", {"number": NUMBER, "call_id": "c-7"})) == []
    assert t.call is not None and t.call.id == "c-7" and t.call.direction == "out"
    assert kinds(t, "orig", "dialed", "alerting", "alerting", "connected") == [
        "dialing",
        "ringing",
        "answered",
    ]
    # our ATH: whatever end the modem reports after it is our own hang-up
    assert kinds(t, "hangup", ("ended", {"cause": "remote_hangup"})) == ["ended:local_hangup"]
    assert kinds(t, ("ended", {"cause": "local_hangup"})) == []  # the driver's own, after ATH


def test_failed_dial_ends_with_its_cause_and_ids_count_up() -> None:
    t = CallTracker("gsm1")
    assert kinds(t, ("dial", {"number": NUMBER}), ("ended", {"cause": "busy"})) == ["ended:busy"]
    t.feed("ring")
    assert t.call is not None and t.call.id == "gsm1-2"


def test_a_ring_during_our_own_call_changes_nothing() -> None:
    t = CallTracker("gsm1")
    kinds(t, ("dial", {"number": NUMBER}), "dialed", "connected")
    assert kinds(t, "ring", "ring", ("clip", {"number": "+85599999999"})) == []
    assert t.call is not None and t.call.number == NUMBER and t.state == "active"


def test_the_tracker_keeps_its_state_on_a_wrong_event() -> None:
    t = CallTracker("gsm1")
    kinds(t, ("clip", {"number": NUMBER}))
    with pytest.raises(IllegalCallEvent):
        t.feed("dial", number=NUMBER)
    assert t.state == "offered"
