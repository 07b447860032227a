"""The steps call handlers share: new legs and timers, joining the queue, dialling
the customer, recording, and ending the call (``finish``/``close``).

Pure; imports nothing but ``base`` and this package.
"""

from __future__ import annotations

from actors.call import effects as fx
from actors.call.causes import refusal_code
from actors.call.state import CallState, TransferState, next_phase

Result = tuple[CallState, list[fx.Effect]]


def new_leg(state: CallState, tag: str) -> tuple[CallState, str]:
    seq = state.seq + 1
    leg = f"{state.id}-{tag}{seq}"
    return state.with_(seq=seq, legs=state.legs | {leg}), leg


def arm(state: CallState, name: str, delay: float) -> tuple[CallState, fx.Effect]:
    token = state.seq + 1
    timers = (*(t for t in state.timers if t[0] != name), (name, token))
    return state.with_(seq=token, timers=timers), fx.SetTimer(name, delay, token)


def disarm(state: CallState, name: str) -> tuple[CallState, list[fx.Effect]]:
    if state.timer_token(name) is None:
        return state, []
    timers = tuple(t for t in state.timers if t[0] != name)
    return state.with_(timers=timers), [fx.CancelTimer(name)]


def journey(state: CallState, phase: str, **kw: object) -> fx.Journey:
    agent = kw.pop("agent", state.agent)
    return fx.Journey(phase, agent=agent, **kw)  # type: ignore[arg-type]


def start_recording(state: CallState, leg: str | None) -> Result:
    if not state.policy.record or state.recording or leg is None:
        return state, []
    return state.with_(recording=True, recorded_leg=leg), [fx.RecordStart(leg)]


def join_queue(state: CallState, now: float) -> Result:
    """Wait in the call's queue; a return to it keeps the first time (the place)."""
    queued_at = state.queued_at if state.queued_at is not None else now
    state = state.with_(in_queue=True, queued_at=queued_at, offered_agent=None)
    return state, [fx.JoinQueue(state.queue, state.skill, queued_at)]


def dial_customer(state: CallState) -> Result:
    if state.route == "modem":
        return state.with_(modem_call=True), [fx.ModemDial()]
    state, leg = new_leg(state, "c")
    return state.with_(customer_leg=leg), [fx.DialNumber(leg, state.number, state.via)]


def finish(state: CallState, now: float, cause: str, reject_code: int | None = None) -> Result:
    """End every part of the call; the journey's ``call_ended`` waits for the recording."""
    was_ringing = state.answered_at is None
    state = state.with_(phase="ending")  # the one way out, from any phase
    effects: list[fx.Effect] = [fx.CancelTimer(name) for name, _ in state.timers]
    if state.in_queue:
        effects.append(fx.LeaveQueue("abandoned"))
    recorded = state.recorded_leg if state.recording else None
    if recorded is not None and recorded in state.legs:
        effects.append(fx.RecordStop(recorded))
    # (a recorded leg that already ended: its worker closes the file and reports it too)
    if state.pcm_leg is not None and state.pcm_leg in state.legs:
        effects.append(fx.PcmUnbridge(state.pcm_leg))
    for leg in sorted(state.legs):
        if state.kind == "agent_out" and leg == state.agent_leg and was_ringing:
            effects.append(fx.Reject(leg, refusal_code(reject_code)))
        else:
            effects.append(fx.Hangup(leg))
    if state.worker_reserved:
        effects.append(fx.ReleaseWorker())
    if state.modem_call:
        effects.append(fx.ModemHangup())
    if state.agent is not None:
        effects.append(fx.AgentLeaves(state.agent))
    if state.ringing_agent is not None:
        effects.append(fx.AgentEvent(state.ringing_agent, "no_answer"))
    xfer = state.transfer
    if xfer is not None and xfer.state == "ringing":
        if xfer.kind == "agent":
            effects.append(fx.AgentEvent(xfer.target, "no_answer"))
        xfer = TransferState(
            xfer.kind, xfer.target, xfer.leg, xfer.from_agent, xfer.blind, "failed", cause
        )
    state = state.with_(
        legs=frozenset(),
        timers=(),
        worker_reserved=False,
        modem_call=False,
        ringing_agent=None,
        in_queue=False,
        offered_agent=None,
        pcm_leg=None,
        transfer=xfer,
        cause=cause,
        reject_code=reject_code,
        ended_at=now,
    )
    if recorded is not None:
        state, timer = arm(state, "recording", state.policy.recording_wait)
        return state, [*effects, timer]
    state, more = close(state, None)
    return state, effects + more


def close(state: CallState, seconds: float | None) -> Result:
    phase = state.phase if state.phase == "ended" else next_phase(state.phase, "closed")
    state = state.with_(phase=phase, timers=())
    return state, [
        journey(state, "ended", cause=state.cause, recording_seconds=seconds),
        fx.Save(),
        fx.Log("call_ended", {"cause": state.cause}),
        fx.Done(),
    ]


def customer_hangup_cause(state: CallState) -> str:
    return "caller_hangup" if state.direction == "in" else "customer_hangup"
