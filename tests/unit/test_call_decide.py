"""Call flows through the pure call state machine: no processes, no sleeping; the time
is an argument and timers are messages."""

from __future__ import annotations

from typing import Any

import pytest

from actors.call import effects as fx
from actors.call.decide import _HANDLERS, decide
from actors.call.messages import (
    AgentBusy,
    AgentRung,
    Begin,
    BridgeDone,
    DialFailed,
    DtmfReceived,
    EndCall,
    LegAnswered,
    LegEnded,
    ModemDialFailed,
    ModemEnded,
    ModemPickedUp,
    NoWorkerFree,
    PlayFinished,
    QueueOffer,
    QueueTreatment,
    RecordingDone,
    TimerFired,
    TransferTo,
    WorkerReserved,
)
from actors.call.state import TRANSITIONS, CallPolicy, CallState
from base.errors import ProtocolError, Rejected

POLICY = CallPolicy(greeting=True, hold_music=True, menu={"1": "km"}, ring_timeout=20.0)


class Run:
    """Feed messages to one call and keep every effect, as the shell would."""

    def __init__(self, state: CallState) -> None:
        self.state = state
        self.effects: list[fx.Effect] = []
        self.now = 1000.0

    def send(self, msg: Any, *, after: float = 0.0) -> list[fx.Effect]:
        self.now += after
        self.state, effects = decide(self.state, msg, self.now)
        self.effects += effects
        return effects

    def timer(self, name: str) -> TimerFired:
        token = self.state.timer_token(name)
        assert token is not None, f"no {name} timer armed"
        return TimerFired(name, token)

    def last(self, kind: type) -> Any:
        return [e for e in self.effects if isinstance(e, kind)][-1]

    def offer(self, agent: str) -> list[fx.Effect]:
        """The queue offers ``agent``; they take the ring."""
        effects = self.send(QueueOffer(self.state.id, agent))
        assert effects[-1] == fx.RingAgent(agent), effects
        return effects + self.send(AgentRung(agent))

    def journey(self) -> list[tuple[str, str | None, str | None]]:
        return [(e.phase, e.agent, e.cause) for e in self.effects if isinstance(e, fx.Journey)]


def inbound(policy: CallPolicy = POLICY) -> Run:
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
            customer_leg="w0-1",
            legs=frozenset({"w0-1"}),
        )
    )


def answered_inbound(policy: CallPolicy = POLICY) -> Run:
    run = inbound(policy)
    run.send(Begin())
    if policy.greeting:
        run.send(run.timer("greeting"), after=5)
    run.offer("alice")
    run.send(LegAnswered(run.state.agent_leg or ""))
    assert run.state.phase == "connected"
    return run


def test_inbound_call_is_answered_greeted_and_a_digit_picks_the_skill() -> None:
    run = inbound()
    effects = run.send(Begin())
    assert run.state.phase == "greeting"
    assert [type(e) for e in effects][:4] == [fx.Journey, fx.Save, fx.Answer, fx.Play]
    effects = run.send(DtmfReceived("w0-1", "1"), after=2)
    assert run.state.phase == "queued" and run.state.skill == "km"
    assert fx.CancelTimer("greeting") in effects
    assert fx.Play("w0-1", "hold", loop=True) in effects
    assert effects[-1] == fx.JoinQueue("default", "km", run.now)
    assert run.state.in_queue


def test_greeting_timeout_queues_without_a_skill_and_a_late_timer_is_ignored() -> None:
    run = inbound()
    run.send(Begin())
    fired = run.timer("greeting")
    run.send(fired, after=5)
    assert run.state.phase == "queued" and run.state.skill is None
    assert run.send(fired) == []  # the same timer again: stale
    assert run.state.phase == "queued"


def test_first_agent_to_answer_is_bridged_and_recorded_in_the_journey() -> None:
    run = answered_inbound()
    leg = run.state.agent_leg
    assert fx.DialAgent(leg or "", "alice", "+85512345678") in run.effects
    assert fx.Bridge("w0-1", leg or "") in run.effects
    assert fx.AgentEvent("alice", "answered") in run.effects
    assert run.journey() == [("started", None, None), ("answered", "alice", None)]
    assert run.state.status == "answered" and run.state.agent == "alice"


def test_ring_timeout_hangs_up_the_agent_who_goes_on_break_and_the_queue_offers_another() -> None:
    run = inbound(CallPolicy())
    run.send(Begin())
    run.offer("alice")
    leg = run.state.agent_leg or ""
    effects = run.send(run.timer("ring"), after=20)
    assert effects[-1] == fx.Hangup(leg)
    effects = run.send(LegEnded(leg, 487, "Request Terminated"))
    assert fx.AgentEvent("alice", "missed") in effects
    assert fx.QueueDecline("alice", "no_answer") in effects
    assert run.state.phase == "queued" and run.state.ringing_agent is None
    run.offer("bob")
    assert run.state.phase == "ringing_agent" and run.state.ringing_agent == "bob"


def test_a_ring_not_answered_is_no_answer_when_missed_calls_do_not_pause() -> None:
    run = inbound(CallPolicy(missed_break=False))
    run.send(Begin())
    run.offer("alice")
    effects = run.send(LegEnded(run.state.agent_leg or "", 486, "Busy"))
    assert fx.AgentEvent("alice", "no_answer") in effects


def test_an_agent_who_became_busy_since_the_offer_is_declined_back_to_the_queue() -> None:
    run = inbound(CallPolicy())
    run.send(Begin())
    run.send(QueueOffer("c1", "alice"))
    effects = run.send(AgentBusy("alice"))
    assert effects == [fx.QueueDecline("alice", "unavailable")]
    assert run.state.phase == "queued" and run.state.offered_agent is None


def test_a_dial_the_worker_refuses_is_no_answer_not_a_missed_call() -> None:
    run = inbound(CallPolicy())
    run.send(Begin())
    run.offer("alice")
    effects = run.send(DialFailed(run.state.agent_leg or ""))
    assert fx.AgentEvent("alice", "no_answer") in effects
    assert fx.QueueDecline("alice", "no_answer") in effects


def test_queue_treatment_plays_the_reason_then_hangs_up() -> None:
    run = inbound(CallPolicy(hold_music=True))
    run.send(Begin())
    effects = run.send(QueueTreatment("c1", "max_wait", False), after=600)
    assert run.state.phase == "treatment" and not run.state.in_queue
    assert fx.Play("w0-1", "queue_max_wait") in effects
    effects = run.send(PlayFinished("w0-1"))
    assert fx.Hangup("w0-1") in effects
    assert run.state.cause == "queue_max_wait"
    assert not any(isinstance(e, fx.LeaveQueue) for e in effects)  # the queue let it go


def test_a_treatment_whose_message_never_ends_still_hangs_up() -> None:
    run = inbound(CallPolicy())
    run.send(Begin())
    run.send(QueueTreatment("c1", "no_agents", True))
    run.send(run.timer("treatment"), after=20)
    assert run.state.cause == "queue_no_agents" and run.state.phase == "ended"


def test_a_caller_who_hangs_up_in_the_queue_abandons_it() -> None:
    run = inbound(CallPolicy())
    run.send(Begin())
    effects = run.send(LegEnded("w0-1", 200, ""))
    assert fx.LeaveQueue("abandoned") in effects


def test_caller_hangup_while_an_agent_rings_releases_the_agent() -> None:
    run = inbound(CallPolicy())
    run.send(Begin())
    run.offer("alice")
    agent_leg = run.state.agent_leg or ""
    effects = run.send(LegEnded("w0-1", 200, "Normal"))
    assert fx.Hangup(agent_leg) in effects
    assert fx.AgentEvent("alice", "no_answer") in effects
    assert run.state.phase == "ended" and run.state.cause == "caller_hangup"
    assert run.journey()[-1] == ("ended", None, "caller_hangup")
    assert effects[-1] == fx.Done()


def test_recorded_call_waits_for_the_recording_before_call_ended() -> None:
    run = answered_inbound(CallPolicy(record=True))
    assert fx.RecordStart("w0-1") in run.effects
    effects = run.send(LegEnded(run.state.agent_leg or "", 200, ""))
    assert fx.RecordStop("w0-1") in effects and fx.AgentLeaves("alice") in effects
    assert run.state.phase == "ending" and not any(isinstance(e, fx.Done) for e in effects)
    run.send(RecordingDone("w0-1", "/r/c1.wav", 12.5))
    assert run.state.phase == "ended"
    assert run.last(fx.Journey) == fx.Journey(
        "ended", agent="alice", cause="agent_hangup", recording_seconds=12.5
    )


def test_recording_never_confirmed_still_ends_the_journey() -> None:
    run = answered_inbound(CallPolicy(record=True))
    run.send(LegEnded("w0-1", 200, ""))
    run.send(run.timer("recording"), after=10)
    assert run.state.phase == "ended"
    assert run.last(fx.Journey).recording_seconds is None


def test_worker_death_ends_the_call_once() -> None:
    run = answered_inbound()
    effects = run.send(LegEnded("w0-1", 0, "worker_died"))
    assert run.state.cause == "worker_died" and run.state.phase == "ended"
    assert fx.AgentLeaves("alice") in effects
    assert run.send(LegEnded(run.state.agent_leg or "", 0, "worker_died")) == []


def test_switch_shutdown_ends_a_live_call() -> None:
    run = answered_inbound()
    run.send(EndCall("switch_shutdown"))
    assert run.state.cause == "switch_shutdown"
    assert run.send(EndCall("switch_shutdown")) == []


def agent_out(route: str = "trunk", via: str = "provider1") -> Run:
    return Run(
        CallState(
            id="c2",
            kind="agent_out",
            direction="out",
            contact_id="k2",
            number="+85512345678",
            via=via,
            route=route,  # type: ignore[arg-type]
            started_at=1000.0,
            policy=CallPolicy(),
            agent="alice",
            agent_leg="w1-1",
            legs=frozenset({"w1-1"}),
        )
    )


def test_agent_dial_out_rings_back_and_is_bridged_when_the_customer_answers() -> None:
    run = agent_out()
    effects = run.send(Begin())
    cust = run.state.customer_leg or ""
    assert fx.Ring("w1-1") in effects
    assert effects[-1] == fx.DialNumber(cust, "+85512345678", "provider1")
    assert run.journey() == [("started", "alice", None)]
    effects = run.send(LegAnswered(cust))
    assert effects[:2] == [fx.Answer("w1-1"), fx.Bridge("w1-1", cust)]
    assert run.state.phase == "connected"


def test_busy_customer_refuses_the_agents_phone_with_a_code_the_edge_passes_on() -> None:
    run = agent_out()
    run.send(Begin())
    effects = run.send(LegEnded(run.state.customer_leg or "", 486, "Busy Here"))
    assert fx.Reject("w1-1", 600) in effects
    assert run.state.cause == "busy"
    assert fx.AgentLeaves("alice") in effects


def test_busy_modem_refuses_the_dial_out_at_once() -> None:
    run = agent_out(route="modem", via="gsm1")
    effects = run.send(Begin(refuse=("modem_busy", 600)))
    assert fx.Reject("w1-1", 600) in effects
    assert not any(isinstance(e, fx.ModemDial | fx.ModemHangup) for e in effects)
    assert run.journey()[-1] == ("ended", "alice", "modem_busy")


def test_dial_out_through_a_modem_bridges_its_port_on_the_customers_answer() -> None:
    run = agent_out(route="modem", via="gsm1")
    effects = run.send(Begin())
    assert effects[-1] == fx.ModemDial()
    from actors.call.messages import ModemAnswered

    effects = run.send(ModemAnswered())
    assert effects == [fx.Answer("w1-1"), fx.PcmBridge("w1-1")]
    run.send(BridgeDone("w1-1"))
    assert run.state.phase == "connected" and run.state.pcm_leg == "w1-1"
    effects = run.send(ModemEnded("remote_hangup"))
    assert fx.PcmUnbridge("w1-1") in effects and fx.Hangup("w1-1") in effects
    assert not any(isinstance(e, fx.ModemHangup) for e in effects)  # it is over there
    assert run.state.cause == "customer_hangup"


def test_busy_network_on_the_modem_refuses_with_600_and_no_second_dial() -> None:
    run = agent_out(route="modem", via="gsm1")
    run.send(Begin())
    effects = run.send(ModemDialFailed("busy"))
    assert fx.Reject("w1-1", 600) in effects
    assert run.state.cause == "busy"
    assert sum(isinstance(e, fx.ModemDial) for e in run.effects) == 1


def test_click_to_call_rings_the_agent_first_then_the_customer() -> None:
    run = Run(
        CallState(
            id="c3",
            kind="click",
            direction="out",
            contact_id="k3",
            number="+85512345678",
            via="provider1",
            started_at=1000.0,
            policy=CallPolicy(),
            agent="alice",
        )
    )
    effects = run.send(Begin())
    agent_leg = run.state.agent_leg or ""
    assert effects[-1] == fx.DialAgent(agent_leg, "alice", "85512345678")
    effects = run.send(LegAnswered(agent_leg))
    cust = run.state.customer_leg or ""
    assert effects == [fx.DialNumber(cust, "+85512345678", "provider1")]
    effects = run.send(LegAnswered(cust))
    assert fx.Bridge(agent_leg, cust) in effects and fx.Answer(agent_leg) not in effects
    assert run.journey()[-1] == ("answered", "alice", None)


def gsm_in() -> Run:
    return Run(
        CallState(
            id="c4",
            kind="gsm_in",
            direction="in",
            contact_id="k4",
            number="+85512345678",
            via="gsm1",
            started_at=1000.0,
            policy=CallPolicy(hold_music=True),
            worker_reserved=True,
            modem_call=True,
        )
    )


def test_gsm_call_answers_the_modem_only_when_an_agent_answers() -> None:
    run = gsm_in()
    effects = run.send(Begin())
    assert fx.ReleaseWorker() in effects  # nobody to ring yet: no worker held
    assert effects[-1] == fx.JoinQueue("default", None, run.now)
    assert not any(isinstance(e, fx.Answer | fx.Play) for e in effects)
    assert run.send(QueueOffer("c4", "alice")) == [fx.ReserveWorker()]
    assert run.send(WorkerReserved(3)) == [fx.RingAgent("alice")]
    run.send(AgentRung("alice"))
    leg = run.state.agent_leg or ""
    assert run.state.worker == 3 and run.state.worker_reserved is False
    effects = run.send(LegAnswered(leg))
    assert fx.QueueAccept("alice") in effects and effects[-1] == fx.ModemPickUp()
    assert run.send(ModemPickedUp()) == [fx.PcmBridge(leg)]
    run.send(BridgeDone(leg))
    assert run.journey()[-1] == ("answered", "alice", None)
    effects = run.send(ModemEnded("remote_hangup"))
    assert effects[:2] == [fx.PcmUnbridge(leg), fx.Hangup(leg)]
    assert run.state.cause == "caller_hangup"


def test_gsm_call_offered_an_agent_with_no_worker_free_declines_and_waits() -> None:
    run = gsm_in()
    run.send(Begin())
    run.send(QueueOffer("c4", "alice"))
    effects = run.send(NoWorkerFree())
    assert fx.QueueDecline("alice", "no_worker") in effects
    assert run.state.phase == "queued" and run.state.offered_agent is None


def test_gsm_caller_treated_by_the_queue_is_hung_up_on_the_modem() -> None:
    run = gsm_in()
    run.send(Begin())
    effects = run.send(QueueTreatment("c4", "closed", False))
    assert fx.ModemHangup() in effects and run.state.cause == "queue_closed"


def test_agent_hanging_up_a_gsm_call_hangs_up_the_modem() -> None:
    run = gsm_in()
    run.send(Begin())
    run.send(QueueOffer("c4", "alice"))
    run.send(WorkerReserved(3))
    run.send(AgentRung("alice"))
    leg = run.state.agent_leg or ""
    run.send(LegAnswered(leg))
    run.send(ModemPickedUp())
    run.send(BridgeDone(leg))
    effects = run.send(LegEnded(leg, 200, ""))
    assert fx.ModemHangup() in effects and fx.PcmUnbridge(leg) not in effects
    assert run.state.cause == "agent_hangup"


def test_transfer_to_an_agent_rebridges_only_when_the_target_answers() -> None:
    run = answered_inbound()
    alice_leg = run.state.agent_leg or ""
    run.send(TransferTo("agent", "bob"))
    assert run.state.phase == "transferring"
    target_leg = run.state.transfer.leg if run.state.transfer else ""
    effects = run.send(LegAnswered(target_leg))
    assert effects[:3] == [
        fx.CancelTimer("transfer"),
        fx.Unbridge("w0-1", alice_leg),
        fx.Bridge("w0-1", target_leg),
    ]
    assert fx.AgentLeaves("alice") in effects and fx.AgentEvent("bob", "answered") in effects
    assert run.state.agent == "bob" and run.state.phase == "connected"
    assert run.last(fx.Journey) == fx.Journey("transferred", agent="alice", target="bob")


def test_unanswered_transfer_keeps_the_original_bridge_and_says_why() -> None:
    run = answered_inbound()
    run.send(TransferTo("agent", "bob"))
    target_leg = run.state.transfer.leg if run.state.transfer else ""
    run.send(run.timer("transfer"), after=20)
    effects = run.send(LegEnded(target_leg, 487, ""))
    assert fx.AgentEvent("bob", "no_answer") in effects
    assert run.state.phase == "connected" and run.state.agent == "alice"
    xfer = run.state.transfer
    assert xfer is not None and xfer.state == "failed"
    assert xfer.detail == "bob did not answer within 20 s"
    assert not any(e.phase == "transferred" for e in run.effects if isinstance(e, fx.Journey))


def test_refused_blind_transfer_goes_back_to_the_queue_and_the_journey_says_who_took_it() -> None:
    run = answered_inbound()
    effects = run.send(TransferTo("number", "+85599111222", trunk="provider1"))
    assert fx.AgentLeaves("alice") in effects and run.state.agent is None
    target_leg = run.state.transfer.leg if run.state.transfer else ""
    queued_at = run.state.queued_at
    effects = run.send(LegEnded(target_leg, 486, "Busy"), after=60)
    assert run.state.phase == "queued" and run.state.requeued_from == "alice"
    assert effects[-1] == fx.JoinQueue("default", None, queued_at or 0.0)  # its old place
    run.offer("carol")
    run.send(LegAnswered(run.state.agent_leg or ""))
    assert run.last(fx.Journey) == fx.Journey("transferred", agent="alice", target="carol")


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        (lambda r: r.send(Begin()), "not_answered"),
        (lambda r: None, "not_answered"),
    ],
)
def test_transfer_of_a_call_not_answered_is_refused(setup: Any, code: str) -> None:
    run = inbound()
    setup(run)
    with pytest.raises(Rejected) as err:
        run.send(TransferTo("agent", "bob"))
    assert err.value.code == code


def test_transfer_refusals_leave_the_call_as_it_was() -> None:
    run = answered_inbound()
    with pytest.raises(Rejected) as err:
        run.send(TransferTo("agent", "alice"))
    assert err.value.code == "same_agent"
    run.send(TransferTo("agent", "bob"))
    with pytest.raises(Rejected) as err:
        run.send(TransferTo("agent", "carol"))
    assert err.value.code == "transfer_in_progress"
    run.send(LegEnded("w0-1", 200, ""))
    with pytest.raises(Rejected) as err:
        run.send(TransferTo("agent", "carol"))
    assert err.value.code == "call_ended"


def test_an_event_the_table_does_not_allow_is_a_protocol_error() -> None:
    run = inbound()
    with pytest.raises(ProtocolError):
        run.send(QueueOffer("c1", "alice"))  # not begun: "new" takes only a beginning
    run.send(Begin())
    state = run.state
    with pytest.raises(ProtocolError):
        run.send(Begin())  # a second beginning
    assert run.state is state


def test_late_leg_events_after_the_end_are_ignored() -> None:
    run = answered_inbound()
    run.send(LegEnded("w0-1", 200, ""))
    for msg in (LegAnswered("w0-1"), PlayFinished("w0-1"), DtmfReceived("w0-1", "5")):
        assert run.send(msg) == []
    assert run.state.phase == "ended"


def test_every_table_event_has_a_handler_and_every_target_is_a_phase() -> None:
    events = {e for row in TRANSITIONS.values() for e in row} - {"closed"}
    assert events == set(_HANDLERS)
    for row in TRANSITIONS.values():
        for target in row.values():
            assert target is None or target in TRANSITIONS


def test_consult_holds_the_customer_while_the_agent_talks_with_the_target() -> None:
    from actors.call.messages import CompleteTransfer

    run = answered_inbound()
    alice_leg = run.state.agent_leg or ""
    effects = run.send(TransferTo("agent", "bob", mode="consult", note="VIP, billing"))
    assert fx.Unbridge("w0-1", alice_leg) in effects
    assert fx.Play("w0-1", "hold", loop=True) in effects
    bob_leg = run.state.transfer.leg if run.state.transfer else ""
    effects = run.send(LegAnswered(bob_leg))
    assert run.state.phase == "consulting" and fx.Bridge(alice_leg, bob_leg) in effects
    assert run.state.agent == "alice"  # still alice's customer
    effects = run.send(CompleteTransfer())
    assert fx.Bridge("w0-1", bob_leg) in effects and fx.Hangup(alice_leg) in effects
    assert fx.AgentLeaves("alice") in effects
    assert run.state.agent == "bob" and run.state.phase == "connected"
    assert run.last(fx.Journey) == fx.Journey(
        "transferred", agent="alice", target="bob", note="VIP, billing"
    )


def test_a_cancelled_consultation_gives_the_customer_back_to_the_agent() -> None:
    from actors.call.messages import CancelTransfer

    run = answered_inbound()
    alice_leg = run.state.agent_leg or ""
    run.send(TransferTo("agent", "bob", mode="consult"))
    bob_leg = run.state.transfer.leg if run.state.transfer else ""
    run.send(LegAnswered(bob_leg))
    effects = run.send(CancelTransfer())
    assert fx.Hangup(bob_leg) in effects and fx.Bridge("w0-1", alice_leg) in effects
    assert fx.AgentLeaves("bob") in effects
    assert run.state.agent == "alice" and run.state.phase == "connected"
    assert run.state.transfer is not None and run.state.transfer.state == "cancelled"


def test_the_agent_hanging_up_during_a_consultation_completes_it() -> None:
    run = answered_inbound()
    alice_leg = run.state.agent_leg or ""
    run.send(TransferTo("agent", "bob", mode="consult"))
    bob_leg = run.state.transfer.leg if run.state.transfer else ""
    run.send(LegAnswered(bob_leg))
    effects = run.send(LegEnded(alice_leg, 200, ""))
    assert fx.Bridge("w0-1", bob_leg) in effects and run.state.agent == "bob"


def test_a_transfer_to_a_queue_keeps_the_customers_place() -> None:
    run = answered_inbound()
    queued_at = run.state.queued_at
    effects = run.send(TransferTo("queue", "billing", note="wants a refund"), after=90)
    assert fx.AgentLeaves("alice") in effects and run.state.phase == "queued"
    assert effects[-1] == fx.JoinQueue("billing", None, queued_at or 0.0)
    assert (
        fx.Journey("transferred", agent="alice", target="queue:billing", note="wants a refund")
        in effects
    )
    assert run.state.transfer is not None and run.state.transfer.kind == "queue"
