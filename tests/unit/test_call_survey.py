"""The satisfaction survey by IVR, through the pure call state machine: the agent hangs
up, the caller stays, is asked, presses 1-5, hears thanks; no digit: hang-up, no score."""

from __future__ import annotations

import pytest

from actors.call import effects as fx
from actors.call.messages import DtmfReceived, LegEnded, PlayFinished, TransferTo
from actors.call.policy import CallPolicy
from base.errors import Rejected
from tests.unit.test_call_decide import Run, answered_inbound

CUST = "w0-1"
SURVEYED = CallPolicy(csat_ivr=frozenset({"default"}))


def agent_hangs_up(run: Run) -> list[fx.Effect]:
    return run.send(LegEnded(run.state.agent_leg or "", 200, ""), after=60)


def scores(run: Run) -> list[fx.RecordCsat]:
    return [e for e in run.effects if isinstance(e, fx.RecordCsat)]


def test_the_caller_stays_after_the_agent_hangs_up_and_hears_the_question() -> None:
    run = answered_inbound(SURVEYED)
    effects = agent_hangs_up(run)
    assert run.state.phase == "survey" and run.state.status == "answered"
    assert fx.AgentLeaves("alice") in effects  # let go at once: wrap-up starts now
    assert fx.Play(CUST, "csat_question") in effects
    assert not any(isinstance(e, fx.Hangup) for e in effects)
    assert not any(isinstance(e, fx.Journey) and e.phase == "ended" for e in effects)


def test_a_digit_1_to_5_is_recorded_thanks_play_then_the_call_ends() -> None:
    run = answered_inbound(SURVEYED)
    agent_hangs_up(run)
    run.send(PlayFinished(CUST), after=5)  # the question asked: the caller's time starts
    assert run.state.timer_token("survey") is not None
    effects = run.send(DtmfReceived(CUST, "4"), after=2)
    assert fx.RecordCsat("4") in effects
    assert fx.Play(CUST, "csat_thanks") in effects
    run.send(DtmfReceived(CUST, "5"))  # a second digit is not a second score
    assert scores(run) == [fx.RecordCsat("4")]
    effects = run.send(PlayFinished(CUST), after=2)
    assert fx.Hangup(CUST) in effects
    assert run.state.phase == "ended" and run.state.cause == "agent_hangup"
    assert run.journey()[-1] == ("ended", "alice", "agent_hangup")
    assert [e for e in run.effects if isinstance(e, fx.AgentLeaves)] == [fx.AgentLeaves("alice")]


def test_a_digit_during_the_question_counts() -> None:
    run = answered_inbound(SURVEYED)
    agent_hangs_up(run)
    effects = run.send(DtmfReceived(CUST, "1"))
    assert fx.RecordCsat("1") in effects and fx.Play(CUST, "csat_thanks") in effects


def test_no_digit_in_time_hangs_up_and_records_nothing() -> None:
    run = answered_inbound(SURVEYED)
    agent_hangs_up(run)
    run.send(PlayFinished(CUST))
    run.send(DtmfReceived(CUST, "9"))  # not a score: ignored
    run.send(DtmfReceived(CUST, "0"))
    assert run.state.phase == "survey"
    effects = run.send(run.timer("survey"), after=8)
    assert fx.Hangup(CUST) in effects
    assert run.state.phase == "ended" and not scores(run)


def test_the_caller_hanging_up_during_the_survey_ends_the_call() -> None:
    run = answered_inbound(SURVEYED)
    agent_hangs_up(run)
    effects = run.send(LegEnded(CUST, 200, ""))
    assert run.state.phase == "ended" and not scores(run)
    assert not any(isinstance(e, fx.AgentLeaves) for e in effects)  # already let go


def test_a_queue_without_the_ivr_survey_ends_with_the_agent() -> None:
    run = answered_inbound(CallPolicy(csat_ivr=frozenset({"sales"})))
    effects = agent_hangs_up(run)
    assert run.state.phase == "ended" and fx.Hangup(CUST) in effects


def test_the_caller_hanging_up_first_is_not_surveyed() -> None:
    run = answered_inbound(SURVEYED)
    run.send(LegEnded(CUST, 200, ""))
    assert run.state.phase == "ended"
    assert not any(isinstance(e, fx.Play) and e.prompt == "csat_question" for e in run.effects)


def test_no_transfer_during_the_survey() -> None:
    run = answered_inbound(SURVEYED)
    agent_hangs_up(run)
    with pytest.raises(Rejected):  # the call is not connected any more
        run.send(TransferTo("agent", "bob"))
    assert run.state.phase == "survey"
