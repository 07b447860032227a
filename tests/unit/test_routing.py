"""The routing engine, pure: items in queues meet free agents; time is an argument."""

from __future__ import annotations

from dataclasses import replace

from actors.queue import QueueSettings, QueueState, WorkItem
from actors.routing import (
    Accepted,
    AgentUpdate,
    AgentView,
    Declined,
    Enqueue,
    Offer,
    Persist,
    QueueJourney,
    RouterState,
    RouterTimer,
    RoutingSettings,
    SetRouterTimer,
    Treat,
    Withdraw,
    decide,
    expected_wait,
)


def engine(*queues: QueueSettings) -> RouterState:
    queues = queues or (QueueSettings("support", max_wait=600.0),)
    return RouterState({q.id: QueueState(q) for q in queues}, RoutingSettings(retry=2.0))


def agent(
    name: str, idle: float = 0.0, skills: tuple[str, ...] = (), status: str = "available"
) -> AgentView:
    free = status == "available"
    return AgentView(name, status, frozenset(skills), idle, True, free, free)


def item(name: str, at: float, queue: str = "support", **kw: object) -> WorkItem:
    base = WorkItem(name, f"call:{name}", "voice", f"k-{name}", queue, at)
    return replace(base, **kw)  # type: ignore[arg-type]


def offers(effects: list[object]) -> list[tuple[str, str]]:
    return [(e.item_id, e.agent) for e in effects if isinstance(e, Offer)]


def test_first_come_goes_to_the_longest_idle_agent() -> None:
    s = engine()
    decide(s, AgentUpdate(agent("bob", idle=5.0, status="break")), 0)
    decide(s, AgentUpdate(agent("alice", idle=9.0, status="break")), 0)
    decide(s, Enqueue(item("c1", 10.0)), 10)
    decide(s, Enqueue(item("c2", 11.0)), 11)
    assert s.position("c1") == 1 and s.position("c2") == 2
    _, e1 = decide(s, AgentUpdate(agent("alice", idle=9.0)), 12)
    _, e2 = decide(s, AgentUpdate(agent("bob", idle=5.0)), 12)
    assert offers(e1) == [("c1", "alice")] and offers(e2) == [("c2", "bob")]
    # both free at once: the one idle longest takes the oldest item
    s = engine()
    decide(s, AgentUpdate(agent("alice", idle=9.0)), 0)
    decide(s, AgentUpdate(agent("bob", idle=5.0)), 0)
    _, effects = decide(s, Enqueue(item("c1", 10.0)), 10)
    assert offers(effects) == [("c1", "bob")]


def test_the_place_is_durable_and_announced_in_the_journey() -> None:
    s = engine()
    decide(s, AgentUpdate(agent("alice", status="break")), 0)
    _, effects = decide(s, Enqueue(item("c1", 10.0)), 10)
    assert Persist("support", "item_queued", s.item("c1").to_json()) in effects  # type: ignore[union-attr]
    assert any(isinstance(e, QueueJourney) and e.kind == "queued" for e in effects)
    _, effects = decide(s, Withdraw("c1"), 40)
    journeys = [e for e in effects if isinstance(e, QueueJourney)]
    assert [(j.kind, j.waited) for j in journeys] == [("abandoned", 30.0)]
    assert s.item("c1") is None and s.queues["support"].waiting() == 0


def test_priority_before_arrival_order() -> None:
    s = engine()
    decide(s, AgentUpdate(agent("alice", status="break")), 0)
    decide(s, Enqueue(item("low", 1.0)), 1)
    decide(s, Enqueue(item("vip", 5.0, priority=5)), 5)
    assert s.position("vip") == 1 and s.position("low") == 2


def test_skills_limit_who_may_serve_a_queue() -> None:
    s = engine(QueueSettings("km", skills=frozenset({"km"})))
    decide(s, AgentUpdate(agent("alice", idle=1.0)), 0)
    _, effects = decide(s, Enqueue(item("c1", 10.0, queue="km")), 10)
    assert offers(effects) == []  # alice lacks the skill (and nobody may serve: treatment)
    assert any(isinstance(e, Treat) and e.reason == "no_agents" for e in effects)
    s = engine(QueueSettings("km", skills=frozenset({"km"})))
    decide(s, AgentUpdate(agent("alice", idle=1.0)), 0)
    decide(s, AgentUpdate(agent("sok", idle=5.0, skills=("km", "sales"))), 0)
    _, effects = decide(s, Enqueue(item("c1", 10.0, queue="km")), 10)
    assert offers(effects) == [("c1", "sok")]


def test_an_offer_not_taken_returns_the_item_to_its_place_and_goes_to_another() -> None:
    s = engine()
    decide(s, AgentUpdate(agent("alice", idle=1.0)), 0)
    decide(s, AgentUpdate(agent("bob", idle=2.0)), 0)
    decide(s, Enqueue(item("c1", 10.0)), 10)
    # alice was offered c1; she did not answer: bob gets it, alice is not offered it again
    decide(s, AgentUpdate(agent("alice", idle=1.0, status="ringing")), 10)
    _, effects = decide(s, Declined("c1", "alice"), 30)
    assert offers(effects) == [("c1", "bob")]
    assert s.position("c1") == 1


def test_a_lone_agent_who_declined_is_offered_again_after_the_retry_window() -> None:
    s = engine()
    decide(s, AgentUpdate(agent("alice", idle=1.0)), 0)
    decide(s, Enqueue(item("c1", 10.0)), 10)
    _, effects = decide(s, Declined("c1", "alice"), 30)
    assert offers(effects) == []
    [timer] = [e for e in effects if isinstance(e, SetRouterTimer)]
    assert timer.delay == 2.0
    _, effects = decide(s, timer.timer, 32)
    assert offers(effects) == [("c1", "alice")]


def test_accepted_item_leaves_the_queue_with_its_agent() -> None:
    s = engine()
    decide(s, AgentUpdate(agent("alice", idle=1.0)), 0)
    decide(s, Enqueue(item("c1", 10.0)), 10)
    _, effects = decide(s, Accepted("c1", "alice"), 15)
    [journey] = [e for e in effects if isinstance(e, QueueJourney)]
    assert (journey.kind, journey.agent, journey.waited) == ("dequeued", "alice", 5.0)
    assert s.item("c1") is None and "alice" not in s.offered


def test_max_wait_treats_a_waiting_caller_and_an_offered_one_after_the_ring() -> None:
    s = engine(QueueSettings("support", max_wait=60.0, callback=True))
    decide(s, AgentUpdate(agent("alice", status="break")), 0)
    _, effects = decide(s, Enqueue(item("c1", 10.0)), 10)
    [timer] = [e for e in effects if isinstance(e, SetRouterTimer)]
    assert timer.delay == 60.0
    _, effects = decide(s, timer.timer, 70)
    assert [(e.item_id, e.reason, e.callback) for e in effects if isinstance(e, Treat)] == [
        ("c1", "max_wait", True)
    ]
    # offered when the time is up: the ring finishes; not taken, it is treated then
    s = engine(QueueSettings("support", max_wait=60.0))
    decide(s, AgentUpdate(agent("alice", idle=1.0)), 0)
    _, effects = decide(s, Enqueue(item("c1", 10.0)), 10)
    [timer] = [e for e in effects if isinstance(e, SetRouterTimer)]
    _, effects = decide(s, timer.timer, 70)
    assert not any(isinstance(e, Treat) for e in effects)
    _, effects = decide(s, Declined("c1", "alice"), 75)
    assert any(isinstance(e, Treat) and e.reason == "max_wait" for e in effects)


def test_nobody_signed_in_treats_at_once_and_when_the_last_agent_signs_out() -> None:
    s = engine()
    _, effects = decide(s, Enqueue(item("c1", 10.0)), 10)
    assert any(isinstance(e, Treat) and e.reason == "no_agents" for e in effects)
    s = engine()
    decide(s, AgentUpdate(agent("alice", status="break")), 0)
    decide(s, Enqueue(item("c1", 10.0)), 10)
    gone = AgentView("alice", "offline", frozenset(), 0.0, False, False, False)
    _, effects = decide(s, AgentUpdate(gone), 20)
    assert any(isinstance(e, Treat) and e.reason == "no_agents" for e in effects)


def test_a_closed_queue_treats_at_once_but_a_callback_waits() -> None:
    s = engine()
    decide(s, AgentUpdate(agent("alice")), 0)
    _, effects = decide(s, Enqueue(item("c1", 10.0), closed=True), 10)
    assert any(isinstance(e, Treat) and e.reason == "closed" for e in effects)
    s = engine()
    _, effects = decide(s, Enqueue(item("cb1", 10.0, kind="callback")), 10)
    assert not any(isinstance(e, Treat) for e in effects) and s.position("cb1") == 1


def test_sticky_agent_first_for_a_while_then_anyone() -> None:
    s = engine()
    decide(s, AgentUpdate(agent("alice", idle=1.0)), 0)
    decide(s, AgentUpdate(agent("bob", idle=9.0, status="wrap_up")), 0)
    _, effects = decide(s, Enqueue(item("c1", 10.0, sticky="bob")), 10)
    assert offers(effects) == []  # kept for bob, who finishes a wrap-up
    _, effects = decide(s, AgentUpdate(agent("bob", idle=12.0)), 12)
    assert offers(effects) == [("c1", "bob")]
    s = engine()
    decide(s, AgentUpdate(agent("alice", idle=1.0)), 0)
    decide(s, AgentUpdate(agent("bob", idle=9.0, status="wrap_up")), 0)
    decide(s, Enqueue(item("c1", 10.0, sticky="bob")), 10)
    _, effects = decide(s, RouterTimer("sticky", "c1", 99), 31)
    assert offers(effects) == [("c1", "alice")]  # bob took too long


def test_chats_count_against_capacity_and_calls_need_a_free_agent() -> None:
    s = engine()
    chatting = AgentView("alice", "busy", frozenset(), 1.0, True, False, True)
    decide(s, AgentUpdate(chatting), 0)
    _, effects = decide(s, Enqueue(item("call1", 10.0)), 10)
    assert offers(effects) == []
    _, effects = decide(s, Enqueue(item("chat1", 11.0, kind="chat")), 11)
    assert offers(effects) == [("chat1", "alice")]


def test_expected_wait_is_position_times_handle_time_over_agents_signed_in() -> None:
    s = engine()
    decide(s, AgentUpdate(agent("alice", status="break")), 0)
    decide(s, AgentUpdate(agent("bob", status="break")), 0)
    for n in range(3):
        decide(s, Enqueue(item(f"c{n}", float(n))), n)
    assert expected_wait(s, "c2", handle_time=120.0) == 3 * 120.0 / 2


def test_a_patient_message_waits_when_nobody_is_there_and_when_closed() -> None:
    s = engine()
    sms = {"kind": "sms", "patient": True}
    _, effects = decide(s, Enqueue(item("m1", 10.0, **sms)), 10)  # nobody signed in
    _, closed = decide(s, Enqueue(item("m2", 11.0, **sms), closed=True), 11)
    assert not any(isinstance(e, Treat) for e in [*effects, *closed])
    assert not any(isinstance(e, SetRouterTimer) and e.timer.kind == "max_wait" for e in effects)
    assert s.position("m1") == 1 and s.position("m2") == 2
    decide(s, AgentUpdate(agent("alice", status="break")), 20)
    gone = AgentView("alice", "offline", frozenset(), 0.0, False, False, False)
    _, effects = decide(s, AgentUpdate(gone), 30)  # the last agent signs out
    assert not any(isinstance(e, Treat) for e in effects) and s.position("m1") == 1
    _, effects = decide(s, AgentUpdate(agent("alice")), 40)
    assert offers(effects) == [("m1", "alice")]


def test_a_patient_item_keeps_its_flag_through_the_queue_log() -> None:
    patient = item("m1", 10.0, kind="sms", patient=True)
    assert WorkItem.from_json(patient.to_json()).patient
    assert not WorkItem.from_json(item("c1", 10.0).to_json()).patient
