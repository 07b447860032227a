"""A call's decisions: ``decide(state, message, now) -> (state, effects)``.

Two steps. :func:`~actors.call.classify.classify` names what a message means for this
call in its phase (``customer_ended``, ``agent_answered``, ``transfer_failed_requeue``,
``stale``...); the name goes through the table in :mod:`actors.call.state`, which gives
the next phase or refuses the event (:class:`base.errors.ProtocolError`). Then the
event's handler computes the new state's details and the effects. Pure: no I/O, no clock
but ``now``, nothing but ``base`` and this package.

Requests that the call cannot honour (a transfer of a call that is not answered...)
raise :class:`base.errors.Rejected` with the state unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

from actors.call import effects as fx
from actors.call import ivr, transfer, waiting
from actors.call.causes import MODEM_FAILURES, sip_cause
from actors.call.classify import classify
from actors.call.messages import (
    AgentBusy,
    AgentRung,
    Begin,
    BridgeDone,
    CallMessage,
    DialFailed,
    DtmfReceived,
    EndCall,
    LegAnswered,
    LegEnded,
    ModemDialFailed,
    ModemEnded,
    ModemPickupFailed,
    QueueOffer,
    QueueTreatment,
    RecordingDone,
    WorkerReserved,
)
from actors.call.state import CallState, next_phase
from actors.call.steps import (
    Result,
    arm,
    close,
    customer_hangup_cause,
    dial_customer,
    disarm,
    finish,
    journey,
    new_leg,
    start_recording,
)
from actors.call.waiting import start_queue

Handler = Callable[[CallState, CallMessage, float], Result]


def decide(state: CallState, msg: CallMessage, now: float) -> Result:
    event = classify(state, msg)
    phase = next_phase(state.phase, event)
    return _HANDLERS[event](state.with_(phase=phase), msg, now)


def _begin_greeting(state: CallState, msg: CallMessage, now: float) -> Result:
    cust = state.customer_leg
    assert cust is not None
    state, timer = arm(state, "greeting", state.policy.greeting_wait)
    return state, [
        journey(state, "started"),
        fx.Save(),
        fx.Answer(cust),
        fx.Play(cust, "greeting"),
        timer,
    ]


def _begin_queue(state: CallState, msg: CallMessage, now: float) -> Result:
    effects: list[fx.Effect] = [journey(state, "started"), fx.Save()]
    if state.customer_leg is not None:
        effects.append(fx.Answer(state.customer_leg))
    if state.worker_reserved:  # a GSM caller holds no worker while waiting in the queue
        effects.append(fx.ReleaseWorker())
        state = state.with_(worker_reserved=False)
    state, more = start_queue(state, now)
    return state, effects + more


def _begin_dial_agent(state: CallState, msg: CallMessage, now: float) -> Result:
    agent = state.agent
    assert agent is not None
    state, leg = new_leg(state, "a")
    state = state.with_(agent_leg=leg)
    return state, [
        journey(state, "started"),
        fx.Save(),
        fx.AgentEvent(agent, "busy_elsewhere"),
        fx.DialAgent(leg, agent, state.number.lstrip("+")),
    ]


def _begin_dial_customer(state: CallState, msg: CallMessage, now: float) -> Result:
    assert state.agent is not None and state.agent_leg is not None
    effects: list[fx.Effect] = [
        journey(state, "started"),
        fx.Save(),
        fx.AgentEvent(state.agent, "busy_elsewhere"),
        fx.Ring(state.agent_leg),
    ]
    state, more = dial_customer(state)
    return state, effects + more


def _begin_refused(state: CallState, msg: CallMessage, now: float) -> Result:
    assert isinstance(msg, Begin) and msg.refuse is not None and state.agent is not None
    cause, code = msg.refuse
    effects: list[fx.Effect] = [
        journey(state, "started"),
        fx.Save(),
        fx.AgentEvent(state.agent, "busy_elsewhere"),
        fx.Log("call_refused", {"cause": cause}),
    ]
    state, more = finish(state, now, cause, code)
    return state, effects + more


def _end_requested(state: CallState, msg: CallMessage, now: float) -> Result:
    assert isinstance(msg, EndCall)
    if state.cause is not None:  # already ending or ended
        return state, []
    return finish(state, now, msg.cause)


def _worker_died(state: CallState, msg: CallMessage, now: float) -> Result:
    if state.cause is not None:
        return state, []
    return finish(state, now, "worker_died")


def _stale(state: CallState, msg: CallMessage, now: float) -> Result:
    if isinstance(msg, LegEnded) and msg.leg in state.legs:
        pcm = None if msg.leg == state.pcm_leg else state.pcm_leg
        return state.with_(legs=state.legs - {msg.leg}, pcm_leg=pcm), []
    return state, []


def _agent_unneeded(state: CallState, msg: CallMessage, now: float) -> Result:
    assert isinstance(msg, AgentRung)
    return state, [fx.AgentEvent(msg.agent, "no_answer")]


def _offer_unneeded(state: CallState, msg: CallMessage, now: float) -> Result:
    assert isinstance(msg, QueueOffer)
    return state, [fx.QueueDecline(msg.agent, "gone")]


def _worker_unneeded(state: CallState, msg: CallMessage, now: float) -> Result:
    return state, [fx.ReleaseWorker()]


def _digit(state: CallState, msg: CallMessage, now: float) -> Result:
    assert isinstance(msg, DtmfReceived)
    if state.asking is not None:  # a question of the queue is being asked
        return waiting.question_digit(state, msg, now)
    if state.phase != "queued" or state.timer_token("greeting") is None:
        return state, []  # a digit outside the menu: nothing to do
    state, effects = disarm(state, "greeting")
    state = state.with_(skill=state.policy.menu.get(msg.digit))
    log = fx.Log("call_menu_digit", {"digit": msg.digit, "skill": state.skill})
    state, more = start_queue(state, now)
    return state, [*effects, log, *more]


def _greeting_timeout(state: CallState, msg: CallMessage, now: float) -> Result:
    state = state.with_(timers=tuple(t for t in state.timers if t[0] != "greeting"))
    return start_queue(state, now)


def _prompt_played(state: CallState, msg: CallMessage, now: float) -> Result:
    if state.phase == "ending":  # the treatment's message is over
        return finish(state, now, f"queue_{state.treated}")
    if state.phase == "greeting" and state.policy.hold_music and state.customer_leg:
        return state, [fx.Play(state.customer_leg, "hold", loop=True)]
    if state.phase == "ivr":
        return ivr.menu_prompt_played(state)
    if state.phase in ("queued", "ringing_agent"):
        return waiting.waiting_prompt_played(state)
    return state, []


def _agent_offered(state: CallState, msg: CallMessage, now: float) -> Result:
    """The queue offers an agent: ring them (a GSM call first needs a worker)."""
    assert isinstance(msg, QueueOffer)
    state = state.with_(offered_agent=msg.agent)
    if state.kind == "gsm_in" and not state.legs and not state.worker_reserved:
        return state, [fx.ReserveWorker()]
    return state, [fx.RingAgent(msg.agent)]


def _worker_reserved(state: CallState, msg: CallMessage, now: float) -> Result:
    agent = state.offered_agent
    assert isinstance(msg, WorkerReserved) and agent is not None
    state = state.with_(worker_reserved=True, worker=msg.worker)
    return state, [fx.RingAgent(agent)]


def _no_worker(state: CallState, msg: CallMessage, now: float) -> Result:
    agent = state.offered_agent
    assert agent is not None
    state = state.with_(offered_agent=None)
    return state, [fx.Log("call_waiting_for_worker", {}), fx.QueueDecline(agent, "no_worker")]


def _agent_busy(state: CallState, msg: CallMessage, now: float) -> Result:
    assert isinstance(msg, AgentBusy)
    effects: list[fx.Effect] = [fx.QueueDecline(msg.agent, "unavailable")]
    if state.worker_reserved and not state.legs:
        effects.append(fx.ReleaseWorker())
        state = state.with_(worker_reserved=False)
    return state.with_(offered_agent=None), effects


def _agent_rung(state: CallState, msg: CallMessage, now: float) -> Result:
    assert isinstance(msg, AgentRung)
    state, leg = new_leg(state, "a")
    state = state.with_(
        agent_leg=leg,
        ringing_agent=msg.agent,
        offered_agent=None,
        worker_reserved=False,  # the dial consumes the reservation
    )
    state, timer = arm(state, "ring", state.policy.ring_timeout)
    return state, [
        fx.Log("call_ringing_agent", {"agent": msg.agent}),
        fx.DialAgent(leg, msg.agent, state.number),
        timer,
    ]


def _treated(state: CallState, msg: CallMessage, now: float) -> Result:
    """The queue gave up: say why, then hang up (a GSM caller has no message: the modem
    call ends at once)."""
    assert isinstance(msg, QueueTreatment)
    state = state.with_(in_queue=False, treated=msg.reason)
    if state.phase != "treatment":
        return state, []  # an agent rings already: the call goes on with them
    log = fx.Log("call_treatment", {"reason": msg.reason, "queue": state.queue})
    cust = state.customer_leg
    if cust is None:
        state, ended = finish(state, now, f"queue_{msg.reason}")
        return state, [log, *ended]
    state, effects = waiting.stop_waiting(state)
    state, timer = arm(state, "treatment", state.policy.treatment_wait)
    effects.append(log)
    if state.policy.hold_music:
        effects.append(fx.StopPlay(cust))
    play = fx.Play(cust, f"queue_{msg.reason}", language=state.language)
    return state, [*effects, play, timer]


def _treatment_over(state: CallState, msg: CallMessage, now: float) -> Result:
    return finish(state, now, f"queue_{state.treated}")


def _ring_timeout(state: CallState, msg: CallMessage, now: float) -> Result:
    state = state.with_(timers=tuple(t for t in state.timers if t[0] != "ring"))
    if state.agent_leg is None:
        return state, []
    return state, [
        fx.Log("call_ring_timeout", {"agent": state.ringing_agent}),
        fx.Hangup(state.agent_leg),
    ]


def _agent_not_taken(state: CallState, msg: CallMessage, now: float) -> Result:
    """The rung agent did not take the call (declined, timed out, unreachable): they go
    on break ("missed") when the policy says so, and the queue offers someone else."""
    assert isinstance(msg, LegEnded | DialFailed)
    state, effects = disarm(state, "ring")
    agent = state.ringing_agent
    if agent is not None:
        missed = state.policy.missed_break and isinstance(msg, LegEnded)
        effects.append(fx.AgentEvent(agent, "missed" if missed else "no_answer"))
        effects.append(fx.QueueDecline(agent, "no_answer"))
    state = state.with_(ringing_agent=None, agent_leg=None, legs=state.legs - {msg.leg})
    return state, effects


def _agent_answered(state: CallState, msg: CallMessage, now: float) -> Result:
    assert isinstance(msg, LegAnswered)
    if state.kind == "click":  # the agent picked up: now call the customer
        return dial_customer(state.with_(agent_answered=True))
    state, effects = disarm(state, "ring")
    agent = state.ringing_agent
    cust = state.customer_leg
    assert cust is not None
    if agent is not None:
        effects.append(fx.AgentEvent(agent, "answered"))
    if agent is not None:
        effects.append(fx.QueueAccept(agent))
    state = state.with_(agent=agent, ringing_agent=None, answered_at=now, in_queue=False)
    playing = waiting.playing(state)
    state, more = waiting.stop_waiting(state)
    effects += more
    if state.policy.hold_music or state.policy.greeting or playing:
        effects.append(fx.StopPlay(cust))
    effects.append(fx.Bridge(cust, msg.leg))
    state, more = start_recording(state, cust)
    effects += more
    if state.requeued_from is not None:
        # Back from a failed blind transfer: the journey shows who took it over.
        effects.append(journey(state, "transferred", agent=state.requeued_from, target=agent))
        state = state.with_(requeued_from=None)
    else:
        effects.append(journey(state, "answered"))
    return state, [*effects, fx.Save()]


def _agent_answered_gsm(state: CallState, msg: CallMessage, now: float) -> Result:
    state, effects = disarm(state, "ring")
    state, more = waiting.stop_waiting(state)
    effects += more
    agent = state.ringing_agent
    if agent is not None:
        effects += [fx.AgentEvent(agent, "answered"), fx.QueueAccept(agent)]
    state = state.with_(agent=agent, ringing_agent=None, answered_at=now, in_queue=False)
    return state, [*effects, fx.ModemPickUp()]


def _modem_picked_up(state: CallState, msg: CallMessage, now: float) -> Result:
    if state.phase == "answering_caller":
        return ivr.modem_picked_up(state)
    assert state.agent_leg is not None
    return state, [fx.PcmBridge(state.agent_leg)]


def _bridge_done(state: CallState, msg: CallMessage, now: float) -> Result:
    assert isinstance(msg, BridgeDone)
    state = state.with_(pcm_leg=msg.leg, answered_at=state.answered_at or now)
    state, effects = start_recording(state, msg.leg)
    return state, [
        *effects,
        journey(state, "answered"),
        fx.Save(),
        fx.Log("gsm_call_bridged", {"agent": state.agent}),
    ]


def _modem_answered(state: CallState, msg: CallMessage, now: float) -> Result:
    assert state.agent_leg is not None
    effects: list[fx.Effect] = []
    if state.kind == "agent_out":
        effects.append(fx.Answer(state.agent_leg))
    return state.with_(answered_at=now), [*effects, fx.PcmBridge(state.agent_leg)]


def _customer_answered(state: CallState, msg: CallMessage, now: float) -> Result:
    assert state.agent_leg is not None and state.customer_leg is not None
    effects: list[fx.Effect] = []
    if state.kind == "agent_out":
        effects.append(fx.Answer(state.agent_leg))
    effects.append(fx.Bridge(state.agent_leg, state.customer_leg))
    state = state.with_(answered_at=now)
    state, more = start_recording(state, state.customer_leg)
    return state, [*effects, *more, journey(state, "answered"), fx.Save()]


def _customer_ended(state: CallState, msg: CallMessage, now: float) -> Result:
    assert isinstance(msg, LegEnded)
    state = state.with_(legs=state.legs - {msg.leg})
    if state.direction == "out" and state.answered_at is None:
        return finish(state, now, sip_cause(msg.code, msg.reason), msg.code)
    return finish(state, now, customer_hangup_cause(state))


def _agent_ended(state: CallState, msg: CallMessage, now: float) -> Result:
    assert isinstance(msg, LegEnded)
    if state.phase == "queued":  # it was ringing: ring the next one
        return _agent_not_taken(state, msg, now)
    pcm = None if msg.leg == state.pcm_leg else state.pcm_leg  # the worker let go of it
    state = state.with_(legs=state.legs - {msg.leg}, pcm_leg=pcm)
    return finish(state, now, "agent_hangup" if state.agent else "target_hangup")


def _agent_dial_failed(state: CallState, msg: CallMessage, now: float) -> Result:
    assert isinstance(msg, DialFailed)
    if state.phase == "queued":
        return _agent_not_taken(state, msg, now)
    state = state.with_(legs=state.legs - {msg.leg})
    return finish(state, now, "dial_failed")


def _customer_dial_failed(state: CallState, msg: CallMessage, now: float) -> Result:
    assert isinstance(msg, DialFailed)
    state = state.with_(legs=state.legs - {msg.leg})
    return finish(state, now, "dial_failed", 503)


def _modem_ended(state: CallState, msg: CallMessage, now: float) -> Result:
    assert isinstance(msg, ModemEnded)
    state = state.with_(modem_call=False)
    if state.kind == "gsm_in":
        cause = msg.cause
        why = "caller_hangup" if cause in (None, "remote_hangup", "ended") else cause
        return finish(state, now, why)
    if state.answered_at is not None:
        return finish(state, now, "customer_hangup")
    why, code = MODEM_FAILURES.get(msg.cause or "", (msg.cause or "rejected", 603))
    return finish(state, now, why, code)


def _modem_dial_failed(state: CallState, msg: CallMessage, now: float) -> Result:
    assert isinstance(msg, ModemDialFailed)
    state = state.with_(modem_call=False)  # nothing of ours to hang up on the modem
    cause, code = MODEM_FAILURES.get(msg.reason, (msg.reason, 503))
    log = fx.Log("gsm_dial_failed", {"reason": msg.reason})
    state, effects = finish(state, now, cause, code)
    return state, [log, *effects]


def _modem_pickup_failed(state: CallState, msg: CallMessage, now: float) -> Result:
    assert isinstance(msg, ModemPickupFailed)
    log = fx.Log("gsm_answer_failed", {"error": msg.error})
    state, effects = finish(state, now, "caller_hangup")
    return state, [log, *effects]


def _bridge_failed(state: CallState, msg: CallMessage, now: float) -> Result:
    return finish(state, now, "bridge_failed")


def _recording_done(state: CallState, msg: CallMessage, now: float) -> Result:
    assert isinstance(msg, RecordingDone)
    return close(state, msg.duration)


def _recording_timeout(state: CallState, msg: CallMessage, now: float) -> Result:
    state, effects = close(state, None)
    return state, [fx.Log("recording_not_confirmed", {}), *effects]


_HANDLERS: dict[str, Handler] = {
    "begin_menu": ivr.begin_menu,
    "begin_modem_menu": ivr.begin_modem_menu,
    "modem_leg_ready": ivr.modem_leg_ready,
    "modem_leg_failed": ivr.modem_leg_failed,
    "menu_stay": ivr.menu_event_handler,
    "menu_exit": ivr.menu_event_handler,
    "announce_due": waiting.announce_due,
    "queue_status": waiting.queue_status,
    "question_timeout": waiting.question_timeout,
    "begin_greeting": _begin_greeting,
    "begin_queue": _begin_queue,
    "begin_dial_agent": _begin_dial_agent,
    "begin_dial_customer": _begin_dial_customer,
    "begin_refused": _begin_refused,
    "end_requested": _end_requested,
    "worker_died": _worker_died,
    "stale": _stale,
    "agent_unneeded": _agent_unneeded,
    "offer_unneeded": _offer_unneeded,
    "worker_unneeded": _worker_unneeded,
    "digit": _digit,
    "prompt_played": _prompt_played,
    "greeting_timeout": _greeting_timeout,
    "agent_offered": _agent_offered,
    "worker_reserved": _worker_reserved,
    "no_worker": _no_worker,
    "agent_busy": _agent_busy,
    "agent_rung": _agent_rung,
    "treated": _treated,
    "treatment_timeout": _treatment_over,
    "ring_timeout": _ring_timeout,
    "agent_answered": _agent_answered,
    "agent_answered_gsm": _agent_answered_gsm,
    "modem_picked_up": _modem_picked_up,
    "modem_pickup_failed": _modem_pickup_failed,
    "bridge_done": _bridge_done,
    "bridge_failed": _bridge_failed,
    "modem_answered": _modem_answered,
    "customer_answered": _customer_answered,
    "customer_ended": _customer_ended,
    "customer_dial_failed": _customer_dial_failed,
    "agent_ended": _agent_ended,
    "agent_dial_failed": _agent_dial_failed,
    "modem_ended": _modem_ended,
    "modem_dial_failed": _modem_dial_failed,
    "recording_done": _recording_done,
    "recording_timeout": _recording_timeout,
    "transfer_requested": transfer.transfer_requested,
    "transfer_answered": transfer.transfer_answered,
    "consult_answered": transfer.consult_answered,
    "transfer_completed": transfer.transfer_completed,
    "consult_agent_left": transfer.transfer_completed,
    "transfer_cancelled": transfer.transfer_cancelled,
    "consult_target_left": transfer.transfer_cancelled,
    "transfer_to_queue": transfer.transfer_to_queue,
    "transfer_failed_attended": transfer.transfer_failed,
    "transfer_failed_requeue": transfer.transfer_failed,
    "transfer_failed_end": transfer.transfer_failed,
    "transfer_timeout": transfer.transfer_timeout,
    "agent_left": transfer.agent_left,
}
