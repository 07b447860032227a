"""IVR menus, questions and announcements in the pure call state machine: the time is
an argument, timers are messages, prompts are names."""

from __future__ import annotations

import pytest

from actors.call import effects as fx
from actors.call.messages import (
    AgentRung,
    Begin,
    BridgeDone,
    BridgeFailed,
    DtmfReceived,
    LegAnswered,
    LegEnded,
    ModemEnded,
    ModemPickedUp,
    ModemPickupFailed,
    PlayFinished,
    QueueOffer,
    QueueStatus,
    QueueTreatment,
    TimerFired,
)
from actors.call.policy import CallPolicy, Menu, Question, WaitPolicy
from actors.call.state import CallState
from actors.call.waiting import announcement, number_parts
from tests.unit.test_call_decide import Run

CUST = "w0-1"
MENUS = {
    "main": Menu(
        "main",
        "welcome",
        timeout=5,
        retries=2,
        options={"1": "queue:sales", "2": "ivr:support", "3": "agent:bob", "9": "ivr:khmer"},
    ),
    "support": Menu(
        "support", "support_menu", timeout=4, retries=1, options={"1": "queue:billing"}
    ),
    "khmer": Menu("khmer", "km_menu", options={"1": "queue:sales"}, language="km"),
}
POLICY = CallPolicy(menus=MENUS, human="queue:support")


def ivr_call(policy: CallPolicy = POLICY, menu: str = "main") -> Run:
    return Run(
        CallState(
            id="c1",
            kind="inbound",
            direction="in",
            contact_id="k1",
            number="+85512345678",
            via="provider1",
            did="+85523900100",
            started_at=1000.0,
            policy=policy,
            customer_leg=CUST,
            legs=frozenset({CUST}),
            menu=menu,
        )
    )


def plays(effects: list[fx.Effect]) -> list[tuple[str, str | None]]:
    return [(e.prompt, e.language) for e in effects if isinstance(e, fx.Play)]


def test_a_routed_call_is_answered_into_its_menu_and_the_timeout_starts_after_the_prompt() -> None:
    run = ivr_call()
    effects = run.send(Begin())
    assert run.state.phase == "ivr" and run.state.menu == "main"
    assert [type(e) for e in effects][:3] == [fx.Journey, fx.Save, fx.Answer]
    assert plays(effects) == [("welcome", None)]
    assert fx.SetTimer("menu", POLICY.prompt_wait, run.state.timer_token("menu") or 0) in effects
    effects = run.send(PlayFinished(CUST), after=6)
    assert effects == [fx.SetTimer("menu", 5, run.state.timer_token("menu") or 0)]
    assert run.state.phase == "ivr"


def test_nested_menus_then_a_queue_each_digit_an_ivr_choice_kept_on_the_call() -> None:
    run = ivr_call()
    run.send(Begin())
    effects = run.send(DtmfReceived(CUST, "2"), after=1)  # barge in: during the prompt
    assert run.state.phase == "ivr" and run.state.menu == "support"
    assert fx.IvrChoice("main", "2") in effects and fx.Save() in effects
    assert plays(effects) == [("support_menu", None)]
    run.send(PlayFinished(CUST), after=3)
    effects = run.send(DtmfReceived(CUST, "1"), after=1)
    assert run.state.phase == "queued" and run.state.queue == "billing" and run.state.menu is None
    assert fx.IvrChoice("support", "1") in effects
    assert effects[-1] == fx.JoinQueue("billing", None, run.now)
    assert fx.CancelTimer("menu") in effects
    assert fx.StopPlay(CUST) not in effects  # the prompt had ended: nothing to stop
    assert run.state.choices == (("main", "2"), ("support", "1"))
    assert run.state.timer_token("menu") is None


def test_a_digit_during_the_prompt_stops_it_when_no_hold_music_follows() -> None:
    run = ivr_call()
    run.send(Begin())
    effects = run.send(DtmfReceived(CUST, "1"))
    assert run.state.queue == "sales"
    assert effects.index(fx.StopPlay(CUST)) < effects.index(fx.JoinQueue("sales", None, run.now))


def test_an_agent_option_waits_in_that_agents_own_queue_with_hold_music() -> None:
    run = ivr_call(CallPolicy(menus=MENUS, hold_music=True))
    run.send(Begin())
    effects = run.send(DtmfReceived(CUST, "3"))
    assert run.state.queue == "agent:bob"
    assert fx.Play(CUST, "hold", loop=True) in effects
    assert effects[-1] == fx.JoinQueue("agent:bob", None, run.now)


def test_invalid_digits_and_timeouts_replay_then_zero_leads_to_a_human() -> None:
    run = ivr_call()
    run.send(Begin())
    run.send(PlayFinished(CUST), after=5)
    effects = run.send(DtmfReceived(CUST, "7"), after=1)  # not an option
    assert plays(effects) == [("welcome", None)] and run.state.menu_misses == 1
    assert not any(isinstance(e, fx.IvrChoice) for e in effects)
    run.send(PlayFinished(CUST), after=5)
    effects = run.send(run.timer("menu"), after=5)  # nothing pressed
    assert plays(effects) == [("welcome", None)] and run.state.menu_misses == 2
    run.send(PlayFinished(CUST), after=5)
    effects = run.send(run.timer("menu"), after=5)  # retries (2) used up
    assert run.state.phase == "queued" and run.state.queue == "support"  # the human
    assert effects[-1] == fx.JoinQueue("support", None, run.now)
    assert run.state.choices == ()


def test_zero_reaches_a_human_even_when_the_menu_does_not_list_it() -> None:
    run = ivr_call()
    run.send(Begin())
    effects = run.send(DtmfReceived(CUST, "0"))
    assert run.state.queue == "support"
    assert fx.IvrChoice("main", "0") in effects


def test_a_menus_own_zero_wins_over_the_default_human() -> None:
    menus = {"m": Menu("m", "welcome", options={"0": "agent:carol"}, retries=0)}
    run = ivr_call(CallPolicy(menus=menus), menu="m")
    run.send(Begin())
    run.send(run.timer("menu"), after=60)  # no digit at all: retries 0, straight on
    assert run.state.queue == "agent:carol"


def test_a_menu_with_a_language_sets_it_for_every_later_prompt() -> None:
    run = ivr_call(CallPolicy(menus=MENUS, waiting={"sales": WaitPolicy(announce_every=30)}))
    run.send(Begin())
    effects = run.send(DtmfReceived(CUST, "9"))
    assert run.state.language == "km" and plays(effects) == [("km_menu", "km")]
    run.send(DtmfReceived(CUST, "1"))
    assert run.state.queue == "sales"
    run.send(run.timer("announce"), after=30)
    effects = run.send(QueueStatus(2, 90.0))
    assert fx.PlayParts(CUST, announcement(2, 90.0), language="km") in effects
    run.send(PlayFinished(CUST))
    effects = run.send(QueueTreatment("c1", "max_wait", False), after=5)
    assert ("queue_max_wait", "km") in plays(effects)


def test_the_caller_hanging_up_in_a_menu_ends_the_call_and_its_timer() -> None:
    run = ivr_call()
    run.send(Begin())
    effects = run.send(LegEnded(CUST), after=2)
    assert run.state.phase == "ended" and run.state.cause == "caller_hangup"
    assert fx.CancelTimer("menu") in effects
    assert not any(isinstance(e, fx.LeaveQueue) for e in effects)


def test_a_stale_menu_timer_is_ignored() -> None:
    run = ivr_call()
    run.send(Begin())
    old = run.timer("menu")
    run.send(PlayFinished(CUST))  # re-armed: a new token
    assert run.send(old, after=60) == [] and run.state.menu_misses == 0


# ------------------------------------------------------------------- announcements


def test_number_words_and_announcement_parts() -> None:
    assert number_parts(0) == ["num_0"] and number_parts(19) == ["num_19"]
    assert number_parts(20) == ["num_20"] and number_parts(47) == ["num_40", "num_7"]
    assert number_parts(105) == ["num_1", "num_0", "num_5"]
    assert announcement(3, 240.0) == ("queue_position", "num_3", "queue_wait", "num_4", "minutes")
    assert announcement(1, 61.0) == ("queue_position", "num_1", "queue_wait", "num_2", "minutes")
    assert announcement(1, 60.0) == ("queue_position", "num_1", "queue_wait", "num_1", "minute")
    assert announcement(2, 20.0) == ("queue_position", "num_2", "queue_wait_short")
    assert announcement(4, None) == ("queue_position", "num_4")
    with pytest.raises(ValueError):
        number_parts(-1)


def queued(policy: CallPolicy) -> Run:
    run = ivr_call(policy)
    run.send(Begin())
    run.send(DtmfReceived(CUST, "1"))
    assert run.state.phase == "queued" and run.state.queue == "sales"
    return run


def test_position_is_announced_every_n_seconds_then_hold_music_again() -> None:
    policy = CallPolicy(menus=MENUS, hold_music=True, waiting={"sales": WaitPolicy(30)})
    run = queued(policy)
    assert run.state.timer_token("announce") is not None
    effects = run.send(run.timer("announce"), after=30)
    assert fx.QueryQueue() in effects
    assert fx.SetTimer("announce", 30, run.state.timer_token("announce") or 0) in effects
    effects = run.send(QueueStatus(3, 230.0))
    parts = ("queue_position", "num_3", "queue_wait", "num_4", "minutes")
    assert fx.PlayParts(CUST, parts) in effects
    effects = run.send(PlayFinished(CUST), after=4)
    assert effects == [fx.Play(CUST, "hold", loop=True)]
    # not in its queue any more (nothing known): nothing said
    run.send(run.timer("announce"), after=30)
    assert run.send(QueueStatus(None, None)) == []


def test_no_announcement_while_an_agent_rings_and_none_after_the_answer() -> None:
    run = queued(CallPolicy(menus=MENUS, hold_music=True, waiting={"sales": WaitPolicy(30)}))
    run.send(QueueOffer("c1", "alice"))
    run.send(AgentRung("alice"))
    assert run.state.phase == "ringing_agent"
    effects = run.send(run.timer("announce"), after=30)
    assert fx.QueryQueue() not in effects and run.state.timer_token("announce") is not None
    effects = run.send(LegAnswered(run.state.agent_leg or ""), after=2)
    assert run.state.phase == "connected"
    assert fx.CancelTimer("announce") in effects and run.state.timer_token("announce") is None


def test_the_agent_answering_mid_announcement_stops_it_before_the_bridge() -> None:
    run = queued(CallPolicy(menus=MENUS, waiting={"sales": WaitPolicy(30)}))
    run.send(run.timer("announce"), after=30)
    run.send(QueueStatus(1, 30.0))
    run.send(QueueOffer("c1", "alice"))
    run.send(AgentRung("alice"))
    effects = run.send(LegAnswered(run.state.agent_leg or ""))
    bridge = next(e for e in effects if isinstance(e, fx.Bridge))
    assert effects.index(fx.StopPlay(CUST)) < effects.index(bridge)


# ------------------------------------------------------------------------ questions

ACCOUNT = Question("account", "account_number", "digits", max_length=6, timeout=8, retries=1)
REASON = Question("reason", "reason", "choice", options={"1": "billing", "2": "fault"}, retries=0)
ASKING = CallPolicy(
    menus=MENUS,
    hold_music=True,
    waiting={"sales": WaitPolicy(30, (ACCOUNT, REASON))},
)


def test_questions_are_asked_in_turn_and_answers_are_ivr_choices_on_the_call() -> None:
    run = ivr_call(ASKING)
    run.send(Begin())
    effects = run.send(DtmfReceived(CUST, "1"))
    assert run.state.asking == "account"
    assert fx.Play(CUST, "account_number") in effects
    assert fx.Play(CUST, "hold", loop=True) not in effects  # the question instead
    assert effects[-1] == fx.JoinQueue("sales", None, run.now)  # in the queue meanwhile
    run.send(PlayFinished(CUST), after=4)
    for digit in "123":
        run.send(DtmfReceived(CUST, digit), after=1)
    effects = run.send(DtmfReceived(CUST, "#"), after=1)
    assert fx.IvrChoice("account", "123") in effects and fx.Save() in effects
    assert run.state.asking == "reason" and fx.Play(CUST, "reason") in effects
    effects = run.send(DtmfReceived(CUST, "2"))  # barge in
    assert effects[0] == fx.StopPlay(CUST)
    assert fx.IvrChoice("reason", "2") in effects
    assert fx.Play(CUST, "hold", loop=True) in effects
    assert run.state.answers == (("account", "123"), ("reason", "2"))
    assert run.state.asking is None and run.state.timer_token("question") is None
    assert run.state.in_queue  # the place was kept all along


def test_digits_stop_at_max_length_and_a_timeout_keeps_what_was_typed() -> None:
    run = ivr_call(ASKING)
    run.send(Begin())
    run.send(DtmfReceived(CUST, "1"))
    run.send(PlayFinished(CUST))
    effects: list[fx.Effect] = []
    for digit in "123456":
        effects = run.send(DtmfReceived(CUST, digit))
    assert fx.IvrChoice("account", "123456") in effects
    run2 = ivr_call(ASKING)
    run2.send(Begin())
    run2.send(DtmfReceived(CUST, "1"))
    run2.send(PlayFinished(CUST))
    run2.send(DtmfReceived(CUST, "4"))
    run2.send(DtmfReceived(CUST, "2"))
    effects = run2.send(run2.timer("question"), after=8)
    assert fx.IvrChoice("account", "42") in effects and run2.state.asking == "reason"


def test_an_unanswered_question_is_asked_again_then_skipped() -> None:
    run = ivr_call(ASKING)
    run.send(Begin())
    run.send(DtmfReceived(CUST, "1"))
    run.send(PlayFinished(CUST))
    effects = run.send(run.timer("question"), after=8)
    assert fx.Play(CUST, "account_number") in effects and run.state.asking == "account"
    run.send(PlayFinished(CUST))
    effects = run.send(DtmfReceived(CUST, "#"))  # nothing typed: a miss, the last one
    assert run.state.asking == "reason" and fx.Play(CUST, "reason") in effects
    run.send(PlayFinished(CUST))
    effects = run.send(DtmfReceived(CUST, "5"))  # not an option; retries 0
    assert run.state.asking is None and run.state.answers == ()
    assert fx.Play(CUST, "hold", loop=True) in effects
    assert [e for e in run.effects if isinstance(e, fx.IvrChoice)] == [fx.IvrChoice("main", "1")]


def test_questions_go_on_while_an_agent_rings_and_stop_when_they_answer() -> None:
    run = ivr_call(ASKING)
    run.send(Begin())
    run.send(DtmfReceived(CUST, "1"))
    run.send(QueueOffer("c1", "alice"))
    run.send(AgentRung("alice"))
    run.send(PlayFinished(CUST))
    run.send(DtmfReceived(CUST, "7"))
    effects = run.send(DtmfReceived(CUST, "#"))
    assert fx.IvrChoice("account", "7") in effects and run.state.phase == "ringing_agent"
    effects = run.send(LegAnswered(run.state.agent_leg or ""))
    assert run.state.asking is None and fx.CancelTimer("question") in effects
    assert fx.StopPlay(CUST) in effects
    assert run.state.answers == (("account", "7"),)


def test_no_announcement_while_a_question_is_asked() -> None:
    run = ivr_call(ASKING)
    run.send(Begin())
    run.send(DtmfReceived(CUST, "1"))
    effects = run.send(run.timer("announce"), after=30)
    assert fx.QueryQueue() not in effects


def test_a_closed_queue_stops_the_questions_and_plays_the_closed_message() -> None:
    run = ivr_call(ASKING)
    run.send(Begin())
    run.send(DtmfReceived(CUST, "1"))
    effects = run.send(QueueTreatment("c1", "closed", False))
    assert run.state.phase == "treatment" and run.state.asking is None
    assert fx.CancelTimer("question") in effects and fx.CancelTimer("announce") in effects
    assert ("queue_closed", None) in plays(effects)
    run.send(PlayFinished(CUST), after=4)
    assert run.state.phase == "ended" and run.state.cause == "queue_closed"


def test_a_gsm_caller_without_media_is_asked_nothing() -> None:
    run = Run(
        CallState(
            id="g1",
            kind="gsm_in",
            direction="in",
            contact_id="k1",
            number="+85512345678",
            via="gsm1",
            started_at=1000.0,
            policy=ASKING,
            queue="sales",
            modem_call=True,
        )
    )
    effects = run.send(Begin())
    assert run.state.phase == "queued" and run.state.asking is None
    assert not any(isinstance(e, fx.Play | fx.SetTimer) for e in effects)


def test_a_timer_of_a_question_no_longer_asked_is_stale() -> None:
    run = ivr_call(ASKING)
    run.send(Begin())
    run.send(DtmfReceived(CUST, "1"))
    fired = run.timer("question")
    run.send(DtmfReceived(CUST, "9"))
    run.send(DtmfReceived(CUST, "#"))
    assert run.send(TimerFired(fired.name, fired.token), after=60) == []


# ----------------------------------------------------------- a GSM caller in a menu


def gsm_menu_call(policy: CallPolicy = POLICY) -> Run:
    return Run(
        CallState(
            id="g1",
            kind="gsm_in",
            direction="in",
            contact_id="k1",
            number="+85512345678",
            via="gsm1",
            started_at=1000.0,
            policy=policy,
            worker=3,
            worker_reserved=True,
            modem_call=True,
            menu="main",
        )
    )


def test_a_gsm_caller_for_a_menu_is_answered_and_the_modem_becomes_their_leg() -> None:
    run = gsm_menu_call()
    effects = run.send(Begin())
    assert run.state.phase == "answering_caller"
    assert [type(e) for e in effects] == [fx.Journey, fx.Save, fx.ModemPickUp]
    effects = run.send(ModemPickedUp())
    leg = run.state.customer_leg
    assert leg is not None and effects == [fx.ModemLeg(leg)] and leg in run.state.legs
    effects = run.send(BridgeDone(leg))
    assert run.state.phase == "ivr" and not run.state.worker_reserved  # the leg holds it
    assert plays(effects) == [("welcome", None)]
    run.send(DtmfReceived(leg, "1"))
    assert run.state.phase == "queued" and run.state.queue == "sales"
    effects = run.send(QueueOffer("g1", "alice"))
    assert effects == [fx.RingAgent("alice")]  # no new worker: this one has the caller
    run.send(AgentRung("alice"))
    agent_leg = run.state.agent_leg or ""
    effects = run.send(LegAnswered(agent_leg))
    assert run.state.phase == "connected"
    assert fx.Bridge(leg, agent_leg) in effects and fx.ModemPickUp() not in effects
    assert run.journey()[-1] == ("answered", "alice", None)
    effects = run.send(ModemEnded("remote_hangup"))
    assert run.state.cause == "caller_hangup"
    assert fx.Hangup(leg) in effects and fx.Hangup(agent_leg) in effects
    assert fx.ModemHangup() not in effects  # the network ended it already
    assert fx.ReleaseWorker() not in effects


def test_a_gsm_caller_hanging_up_in_the_menu_ends_the_call_and_the_modem_leg() -> None:
    run = gsm_menu_call()
    run.send(Begin())
    run.send(ModemPickedUp())
    leg = run.state.customer_leg or ""
    run.send(BridgeDone(leg))
    effects = run.send(ModemEnded("remote_hangup"), after=3)
    assert run.state.phase == "ended" and run.state.cause == "caller_hangup"
    assert fx.Hangup(leg) in effects and fx.CancelTimer("menu") in effects


def test_a_gsm_menu_that_cannot_start_ends_the_call_and_frees_the_worker() -> None:
    run = gsm_menu_call()
    run.send(Begin())
    effects = run.send(ModemPickupFailed("NO CARRIER"))
    assert run.state.phase == "ended" and fx.ReleaseWorker() in effects
    run = gsm_menu_call()
    run.send(Begin())
    run.send(ModemPickedUp())
    leg = run.state.customer_leg or ""
    effects = run.send(BridgeFailed(leg, "no such device"))
    assert run.state.cause == "bridge_failed"
    assert fx.Hangup(leg) not in effects  # the leg never existed
    assert fx.ReleaseWorker() in effects and fx.ModemHangup() in effects
