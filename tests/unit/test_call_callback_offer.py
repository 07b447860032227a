"""Press 1 for a callback, through the pure call state machine: the offer while waiting
and in the treatment, one path to the callback that keeps the caller's place."""

from __future__ import annotations

from actors.call import effects as fx
from actors.call.messages import (
    AgentRung,
    Begin,
    DtmfReceived,
    LegEnded,
    PlayFinished,
    QueueOffer,
    QueueStatus,
    QueueTreatment,
)
from actors.call.policy import CallPolicy, Question, WaitPolicy
from actors.call.state import CallState
from tests.unit.test_call_decide import Run

CUST = "w0-1"
OFFERING = CallPolicy(hold_music=True, waiting={"default": WaitPolicy(30, (), callback=True)})


def waiting(policy: CallPolicy = OFFERING, number: str = "+85512345678") -> Run:
    run = Run(
        CallState(
            id="c1",
            kind="inbound",
            direction="in",
            contact_id="k1",
            number=number,
            via="provider1",
            started_at=1000.0,
            policy=policy,
            customer_leg=CUST,
            legs=frozenset({CUST}),
        )
    )
    run.send(Begin())
    return run


def requested(run: Run) -> list[fx.RequestCallback]:
    return [e for e in run.effects if isinstance(e, fx.RequestCallback)]


def test_the_offer_is_said_on_joining_then_hold_music() -> None:
    run = waiting()
    assert fx.Play(CUST, "callback_offer") in run.effects
    assert fx.Play(CUST, "hold", loop=True) not in run.effects
    assert run.send(PlayFinished(CUST)) == [fx.Play(CUST, "hold", loop=True)]


def test_the_offer_follows_each_position_announcement() -> None:
    run = waiting()
    run.send(PlayFinished(CUST))
    run.send(run.timer("announce"), after=30)
    effects = run.send(QueueStatus(2, 45.0))
    parts = ("queue_position", "num_2", "queue_wait_short", "callback_offer")
    assert fx.PlayParts(CUST, parts) in effects


def test_pressing_1_while_waiting_becomes_a_callback_at_the_first_place() -> None:
    run = waiting()
    joined = run.now
    run.send(PlayFinished(CUST), after=3)
    effects = run.send(DtmfReceived(CUST, "1"), after=40)
    assert run.state.phase == "treatment" and not run.state.in_queue
    leave = effects.index(fx.LeaveQueue("withdrawn"))
    ask = effects.index(fx.RequestCallback("default", joined, None))
    assert leave < ask  # the call's item goes first: the callback takes its place
    assert fx.Play(CUST, "callback_confirmed") in effects
    assert fx.CancelTimer("announce") in effects
    effects = run.send(PlayFinished(CUST), after=4)
    assert fx.Hangup(CUST) in effects
    assert run.state.phase == "ended" and run.state.cause == "callback_requested"
    assert not any(isinstance(e, fx.LeaveQueue) and e.reason == "abandoned" for e in effects)
    assert len(requested(run)) == 1


def test_a_confirmation_that_never_ends_still_hangs_up() -> None:
    run = waiting()
    run.send(DtmfReceived(CUST, "1"))
    run.send(run.timer("treatment"), after=20)
    assert run.state.phase == "ended" and run.state.cause == "callback_requested"


def test_1_is_just_a_digit_when_the_queue_offers_no_callback() -> None:
    run = waiting(CallPolicy(hold_music=True))
    assert fx.Play(CUST, "callback_offer") not in run.effects
    assert run.send(DtmfReceived(CUST, "1")) == []
    assert run.state.phase == "queued" and run.state.in_queue and not requested(run)


def test_no_offer_to_a_caller_without_a_number_to_call_back() -> None:
    run = waiting(number="anonymous")
    assert fx.Play(CUST, "callback_offer") not in run.effects
    run.send(DtmfReceived(CUST, "1"))
    assert run.state.phase == "queued" and not requested(run)


def test_1_answers_a_question_rather_than_asking_for_a_callback() -> None:
    reason = Question("reason", "reason", "choice", options={"1": "billing", "2": "fault"})
    policy = CallPolicy(waiting={"default": WaitPolicy(None, (reason,), callback=True)})
    run = waiting(policy)
    effects = run.send(DtmfReceived(CUST, "1"))
    assert fx.IvrChoice("reason", "1") in effects and not requested(run)
    run.send(DtmfReceived(CUST, "1"))  # the question is answered: now it is the offer
    assert len(requested(run)) == 1 and run.state.phase == "treatment"


def test_the_treatment_offers_a_callback_and_1_takes_it_the_same_way() -> None:
    run = waiting()
    joined = run.now
    effects = run.send(QueueTreatment("c1", "max_wait", True), after=600)
    assert run.state.phase == "treatment"
    assert fx.Play(CUST, "queue_max_wait_callback") in effects
    effects = run.send(PlayFinished(CUST))  # the offer said: time to press 1
    assert run.state.phase == "treatment" and run.state.timer_token("treatment") is not None
    assert not any(isinstance(e, fx.Hangup) for e in effects)
    effects = run.send(DtmfReceived(CUST, "1"), after=2)
    assert fx.RequestCallback("default", joined, None) in effects
    assert fx.Play(CUST, "callback_confirmed") in effects
    assert not any(isinstance(e, fx.LeaveQueue) for e in effects)  # the queue let it go
    run.send(PlayFinished(CUST))
    assert run.state.phase == "ended" and run.state.cause == "callback_requested"


def test_a_treatment_offer_not_taken_ends_with_the_treatments_cause() -> None:
    run = waiting()
    run.send(QueueTreatment("c1", "no_agents", True))
    run.send(PlayFinished(CUST))
    run.send(DtmfReceived(CUST, "5"))  # another digit: nothing
    assert run.state.phase == "treatment"
    run.send(run.timer("treatment"), after=8)
    assert run.state.phase == "ended" and run.state.cause == "queue_no_agents"
    assert not requested(run)


def test_a_treatment_without_the_queues_offer_says_goodbye_only() -> None:
    run = waiting()
    effects = run.send(QueueTreatment("c1", "closed", False))
    assert fx.Play(CUST, "queue_closed") in effects
    run.send(DtmfReceived(CUST, "1"))
    assert not requested(run)
    run.send(PlayFinished(CUST))
    assert run.state.cause == "queue_closed"


def test_no_callback_once_an_agent_rings() -> None:
    run = waiting()
    run.send(QueueOffer("c1", "alice"))
    run.send(AgentRung("alice"))
    assert run.state.phase == "ringing_agent"
    run.send(DtmfReceived(CUST, "1"))
    assert run.state.phase == "ringing_agent" and not requested(run)


def test_hanging_up_during_the_confirmation_leaves_the_callback_alone() -> None:
    run = waiting()
    run.send(DtmfReceived(CUST, "1"))
    effects = run.send(LegEnded(CUST, 200, ""))
    assert run.state.phase == "ended"
    assert not any(isinstance(e, fx.LeaveQueue) for e in effects)
