"""SMS/chat conversations as work items: the pure state machine."""

from __future__ import annotations

from typing import Any

from actors import conversation as cv
from actors.queue import QueueOffer, QueueTreatment

POLICY = cv.ConversationPolicy(reply_timeout=300.0, idle_close=3600.0)


def fresh() -> cv.ConversationState:
    return cv.ConversationState("k1", "sms", policy=POLICY)


class Run:
    def __init__(self) -> None:
        self.state = fresh()
        self.effects: list[Any] = []
        self.now = 1000.0

    def send(self, msg: Any, after: float = 0.0) -> list[Any]:
        self.now += after
        self.state, effects = cv.decide(self.state, msg, self.now)
        self.effects += effects
        return effects

    def timer(self, name: str) -> cv.Timer:
        token = self.state.reply_token if name == "reply" else self.state.idle_token
        return cv.Timer(name, token)  # type: ignore[arg-type]


def wrote(run: Run, n: int = 1) -> list[Any]:
    return run.send(cv.CustomerWrote(f"m{n}", run.now, "gsm1", "support", None))


def test_a_first_message_opens_a_conversation_in_the_queue_of_its_route() -> None:
    run = Run()
    effects = wrote(run)
    assert run.state.state == "queued" and run.state.queue == "support"
    assert cv.Enqueue() in effects and run.state.opened_at == 1000.0
    item = run.state.item()
    assert (item.kind, item.owner, item.enqueued_at) == ("sms", "conv:k1.sms", 1000.0)
    effects = wrote(run, 2)  # a second message: same conversation, same place
    assert cv.Enqueue() not in effects and run.state.item().enqueued_at == 1000.0


def test_the_queue_assigns_it_to_an_agent_who_replies() -> None:
    run = Run()
    wrote(run)
    effects = run.send(QueueOffer(run.state.id or "", "alice"), after=5)
    assert run.state.state == "assigned" and cv.Assign("alice", run.state.id or "") in effects
    run.send(cv.AgentReplied("alice", run.now), after=30)
    assert run.state.reply_due is None
    effects = run.send(run.timer("reply"), after=300)
    assert run.state.state == "assigned"  # answered in time: nothing happens


def test_no_reply_in_time_returns_it_to_the_queue_at_its_place() -> None:
    run = Run()
    wrote(run)
    item = run.state.id or ""
    run.send(QueueOffer(item, "alice"), after=5)
    effects = run.send(run.timer("reply"), after=300)
    assert run.state.state == "queued" and run.state.agent is None
    assert cv.Release("alice", item) in effects and cv.Enqueue() in effects
    assert run.state.item().enqueued_at == 1000.0


def test_an_agent_who_cannot_take_one_more_declines_it() -> None:
    run = Run()
    wrote(run)
    run.send(QueueOffer(run.state.id or "", "alice"))
    effects = run.send(cv.ChatRefused("alice"))
    assert run.state.state == "queued" and cv.Decline("alice") in effects


def test_the_queue_giving_up_answers_once_and_closes() -> None:
    run = Run()
    wrote(run)
    effects = run.send(QueueTreatment(run.state.id or "", "closed", True))
    assert cv.AutoReply("closed") in effects and run.state.state == "idle"
    effects = wrote(run, 2)  # the next message opens a new conversation
    assert cv.Enqueue() in effects and run.state.opened_at == run.now


def test_closed_by_the_agent_or_after_a_silence() -> None:
    run = Run()
    wrote(run)
    item = run.state.id or ""
    run.send(QueueOffer(item, "alice"))
    effects = run.send(cv.Close("alice"))
    assert cv.Release("alice", item) in effects and run.state.state == "idle"
    run = Run()
    wrote(run)
    item = run.state.id or ""
    run.send(QueueOffer(item, "alice"))
    run.send(cv.AgentReplied("alice", run.now))
    effects = run.send(run.timer("idle"), after=3600)
    assert run.state.state == "idle" and cv.Release("alice", item) in effects


def test_a_newer_timer_makes_an_older_one_stale() -> None:
    run = Run()
    wrote(run)
    old = run.timer("idle")
    wrote(run, 2)
    assert run.send(old, after=4000) == []


def test_after_a_restart_an_assigned_conversation_counts_again_for_its_agent() -> None:
    run = Run()
    wrote(run)
    run.send(QueueOffer(run.state.id or "", "alice"))
    effects = run.send(cv.Recovered())
    assert cv.Assign("alice", run.state.id or "") in effects


def test_a_patient_conversation_asks_for_a_patient_item() -> None:
    run = Run()
    run.send(cv.CustomerWrote("m1", run.now, "gsm1", "support", None, patient=True))
    assert run.state.patient and run.state.item().patient
    assert cv.ConversationState.from_json(run.state.to_json(), POLICY).patient
    plain = Run()
    wrote(plain)
    assert not plain.state.item().patient


def test_a_waiting_conversation_moves_to_the_contact_it_merged_into_keeping_its_place() -> None:
    old = Run()
    wrote(old)
    prior = old.state
    effects = old.send(cv.MoveOut(), after=10)
    assert cv.Withdraw() in effects and old.state.state == "idle" and old.state.id is None
    new = Run()
    new.state = cv.ConversationState("k2", "sms", policy=POLICY)
    new.now = old.now
    effects = new.send(cv.MoveIn(prior))
    assert new.state.state == "queued" and cv.Enqueue() in effects
    item = new.state.item()
    assert (item.owner, item.contact_id, item.enqueued_at) == ("conv:k2.sms", "k2", 1000.0)


def test_an_assigned_conversation_moves_with_its_agent() -> None:
    old = Run()
    wrote(old)
    old.send(QueueOffer(old.state.id or "", "alice"), after=5)
    prior = old.state
    effects = old.send(cv.MoveOut())
    assert not any(isinstance(e, (cv.Release, cv.Withdraw)) for e in effects)  # still hers
    new = Run()
    new.state = cv.ConversationState("k2", "sms", policy=POLICY)
    effects = new.send(cv.MoveIn(prior))
    assert (new.state.state, new.state.agent, new.state.id) == ("assigned", "alice", prior.id)
    assert not any(isinstance(e, (cv.Enqueue, cv.Assign)) for e in effects)
    assert any(isinstance(e, cv.Arm) and e.name == "reply" for e in effects)  # still due
    effects = new.send(cv.Close("alice"))
    assert cv.Release("alice", prior.id or "") in effects


def test_a_moved_conversation_closes_when_the_contact_has_its_own_open() -> None:
    old = Run()
    wrote(old)
    old.send(QueueOffer(old.state.id or "", "alice"))
    prior = old.state
    new = Run()
    wrote(new, 7)
    mine = new.state
    effects = new.send(cv.MoveIn(prior))
    assert effects == [cv.Release("alice", prior.id or "")] and new.state == mine


def test_nothing_open_moves_nothing() -> None:
    run = Run()
    assert run.send(cv.MoveOut()) == [] and run.send(cv.MoveIn(fresh())) == []
