"""The statistics' formulas (actors/kpis.py, docs/kpis.md) on hand-made event logs."""

from __future__ import annotations

from typing import Any

import pytest

from actors.kpis import Window, compute
from actors.store import StoredEvent

T0 = 1_700_000_000.0
DAY = 86400.0


class Log:
    """Builds an event log the way the switch writes it."""

    def __init__(self) -> None:
        self.events: list[StoredEvent] = []

    def add(self, actor: str, event: str, at: float, **data: Any) -> None:
        self.events.append(StoredEvent(len(self.events) + 1, actor, event, T0 + at, data))

    def queued(
        self, item: str, at: float, queue: str = "support", kind: str = "voice", contact: str = ""
    ) -> None:
        self.add(
            f"queue:{queue}",
            "item_queued",
            at,
            id=item,
            kind=kind,
            contact_id=contact or f"c-{item}",
            queue=queue,
            enqueued_at=T0 + at,
        )

    def left(
        self, item: str, at: float, reason: str, agent: str | None = None, queue: str = "support"
    ) -> None:
        self.add(f"queue:{queue}", "item_left", at, id=item, reason=reason, agent=agent)

    def status(self, agent: str, at: float, status: str, call: str | None = None) -> None:
        data: dict[str, Any] = {"status": status}
        if call is not None:
            data["call"] = call
        self.add(f"presence:{agent}", "agent_status", at, **data)


def window(**kw: Any) -> Window:
    base: dict[str, Any] = {"since": T0, "until": T0 + DAY, "service_levels": {"support": 20.0}}
    base.update(kw)
    return Window(**base)


def test_outcomes_are_counted_by_the_time_the_item_entered_the_queue() -> None:
    log = Log()
    log.queued("a", 10)
    log.left("a", 25, "assigned", "alice")  # answered in 15 s: within 20
    log.queued("b", 20)
    log.left("b", 60, "assigned", "bob")  # 40 s: outside
    log.queued("c", 30)
    log.left("c", 33, "abandoned")  # 3 s: short abandon
    log.queued("d", 40)
    log.left("d", 100, "abandoned")
    log.queued("e", 50)
    log.left("e", 650, "treated")
    log.queued("f", 60)  # still waiting
    log.queued("g", 70)
    log.left("g", 80, "withdrawn")  # became a callback: not an offer
    log.queued("h", -100)
    log.left("h", 5, "assigned", "alice")  # entered before the window
    log.queued("i", DAY + 1)  # after it
    stats = compute(log.events, window())
    assert (stats.offered, stats.answered, stats.abandoned) == (6, 2, 1)
    assert (stats.short_abandoned, stats.treated, stats.waiting) == (1, 1, 1)
    # closed = answered + abandoned + treated + lost = 4
    assert stats.service_level == pytest.approx(1 / 4)
    assert stats.abandon_rate == pytest.approx(1 / 4)
    assert stats.asa == pytest.approx((15 + 40) / 2)
    assert stats.channels["voice"].offered == 6 and stats.channels["sms"].offered == 0


def test_service_level_uses_each_queues_own_target_and_the_wait_from_first_joining() -> None:
    log = Log()
    log.queued("a", 0, queue="sales")
    log.left("a", 30, "assigned", "alice", queue="sales")
    log.queued("b", 0)
    log.left("b", 30, "assigned", "alice")
    # a callback that keeps the caller's place: its wait counts from the first join
    log.add(
        "queue:support",
        "item_queued",
        100,
        id="cb",
        kind="callback",
        contact_id="x",
        enqueued_at=T0 + 90,
    )
    log.left("cb", 115, "assigned", "bob")
    stats = compute(log.events, window(service_levels={"sales": 60.0, "support": 20.0}))
    # a: 30 s <= 60 (sales); b: 30 s > 20; cb: 25 s from its first join > 20
    assert stats.answered_in_sl == 1
    assert stats.asa == pytest.approx((30 + 30 + 25) / 3)
    assert compute(log.events, window(queue="sales")).offered == 1


def test_a_lost_item_counts_against_the_service_level() -> None:
    log = Log()
    log.queued("a", 0)
    log.left("a", 5, "lost")
    stats = compute(log.events, window())
    assert (stats.offered, stats.lost, stats.service_level) == (1, 1, 0.0)


def test_nothing_closed_gives_null_rates() -> None:
    log = Log()
    log.queued("a", 0)
    stats = compute(log.events, window())
    assert stats.service_level is None and stats.asa is None and stats.abandon_rate is None
    assert stats.fcr is None and stats.csat is None and stats.occupancy is None


def test_handle_time_is_talk_plus_the_wrap_up_after_that_call() -> None:
    log = Log()
    log.queued("call1", 0)
    log.status("alice", 5, "ringing", "call1")
    log.add("contact:c-call1", "call_answered", 10, channel="voice", call_id="call1", agent="alice")
    log.status("alice", 10, "busy", "call1")
    log.left("call1", 10, "assigned", "alice")
    log.add("contact:c-call1", "call_ended", 130, channel="voice", call_id="call1", agent="alice")
    log.status("alice", 130, "wrap_up", "call1")
    log.status("alice", 160, "available")
    # a second call whose wrap-up is not over yet: not in the average
    log.queued("call2", 200)
    log.left("call2", 210, "assigned", "bob")
    log.add("contact:c-call2", "call_answered", 210, channel="voice", call_id="call2")
    log.add("contact:c-call2", "call_ended", 300, channel="voice", call_id="call2")
    log.status("bob", 300, "wrap_up", "call2")
    # an SMS conversation: no talk time
    log.queued("sms1", 50, kind="sms")
    log.left("sms1", 55, "assigned", "bob")
    stats = compute(log.events, window())
    assert stats.aht == pytest.approx(120 + 30)
    assert stats.channels["sms"].answered == 1


def test_first_contact_resolution_looks_for_a_new_queue_entry_within_seven_days() -> None:
    log = Log()
    log.queued("a1", 0, contact="ann")
    log.left("a1", 10, "assigned", "alice")
    log.queued("a2", 3 * DAY, contact="ann")  # ann is back within 7 days: a1 not resolved
    log.queued("b1", 100, contact="ben")
    log.left("b1", 110, "assigned", "alice")
    log.queued("b2", 8 * DAY, contact="ben")  # after 7 days: b1 resolved
    log.queued("c1", 200, contact="cat")
    log.left("c1", 210, "abandoned")  # not answered: not in FCR
    log.queued("c2", 300, contact="cat")
    stats = compute(log.events, window())
    assert stats.answered == 2 and stats.fcr == pytest.approx(1 / 2)


def test_csat_is_the_average_score_in_the_window_and_per_queue() -> None:
    log = Log()
    log.add("contact:x", "csat", 10, channel="sms", score=5, queue="support", agent="alice")
    log.add("contact:y", "csat", 20, channel="sms", score=2, queue="support", agent="bob")
    log.add("contact:z", "csat", 30, channel="voice", score=4, queue="sales", agent="bob")
    log.add("contact:z", "csat", DAY + 5, channel="voice", score=1, queue="sales")
    assert compute(log.events, window()).csat == pytest.approx(11 / 3)
    only = compute(log.events, window(queue="support"))
    assert only.csat == pytest.approx(3.5) and only.csat_responses == 2


def test_occupancy_is_busy_time_over_signed_in_time_clipped_to_the_window() -> None:
    log = Log()
    log.status("alice", -3600, "available")  # before the window: counts from its start
    log.status("alice", 100, "ringing", "c")
    log.status("alice", 110, "busy", "c")
    log.status("alice", 400, "wrap_up", "c")
    log.status("alice", 500, "break")
    log.status("alice", 600, "available")
    log.status("alice", 1000, "offline")
    log.status("bob", 0, "offline")
    stats = compute(log.events, window())
    assert stats.busy_seconds == pytest.approx(400)
    assert stats.signed_in_seconds == pytest.approx(1000)
    assert stats.occupancy == pytest.approx(0.4)
    # counted up to now when the window is not over
    early = compute(log.events, window(now=T0 + 300))
    assert early.signed_in_seconds == pytest.approx(300)
    assert early.busy_seconds == pytest.approx(200)
    assert compute(log.events, window(agents=frozenset({"bob"}))).occupancy is None
