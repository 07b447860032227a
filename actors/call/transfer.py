"""Transfers of an answered call, with a note the target sees.

- **attended** (an agent's default): the target rings while the customer still talks
  with the agent; when the target answers, the customer is re-bridged to them and the
  agent leaves. Not answered: the original bridge stays.
- **blind** (a number's default; the only way to a queue): the agent leaves at once;
  the customer hears hold music until the target answers. Not answered: an inbound
  customer goes back to the queue at their place, an outbound call ends.
- **consult**: the customer waits on hold while the agent talks with the target; then
  the agent completes (the customer is bridged to the target, the agent leaves) or
  cancels (back to the customer). The agent hanging up during the consultation
  completes it; the target hanging up returns the customer to the agent.
- **to a queue**: blind, into another queue, keeping the customer's place.

Pure; imports nothing but ``base`` and this package.
"""

from __future__ import annotations

from dataclasses import replace

from actors.call import effects as fx
from actors.call.causes import transfer_failure
from actors.call.messages import CallMessage, DialFailed, LegEnded, TransferTo
from actors.call.state import CallState, TransferState
from actors.call.steps import Result, arm, disarm, finish, join_queue, journey, new_leg
from actors.call.waiting import start_queue

MEDIA_WORKER_REFUSED = "the media worker did not place the call"


def _hold(state: CallState) -> list[fx.Effect]:
    cust = state.customer_leg
    return [fx.Play(cust, "hold", loop=True)] if state.policy.hold_music and cust else []


def _unhold(state: CallState) -> list[fx.Effect]:
    cust = state.customer_leg
    return [fx.StopPlay(cust)] if state.policy.hold_music and cust else []


def transfer_requested(state: CallState, msg: CallMessage, now: float) -> Result:
    assert isinstance(msg, TransferTo)
    mode = msg.mode or ("attended" if msg.kind == "agent" else "blind")
    state, leg = new_leg(state, "t")
    xfer = TransferState(
        msg.kind, msg.target, leg, from_agent=state.agent, mode=mode, note=msg.note
    )
    state = state.with_(transfer=xfer)
    effects: list[fx.Effect] = [
        fx.Log(
            "call_transfer",
            {"kind": msg.kind, "target": msg.target, "agent": state.agent, "mode": mode},
        )
    ]
    if msg.kind == "agent":
        effects.append(fx.DialAgent(leg, msg.target, state.number))
    else:
        assert msg.trunk is not None
        effects.append(fx.DialNumber(leg, msg.target, msg.trunk))
    state, timer = arm(state, "transfer", state.policy.ring_timeout)
    effects.append(timer)
    if mode == "blind":
        state, more = release_agent(state, hangup=True)
        effects += more
    elif mode == "consult" and state.customer_leg and state.agent_leg:
        effects += [fx.Unbridge(state.customer_leg, state.agent_leg), *_hold(state)]
    return state, [*effects, fx.Save()]


def transfer_to_queue(state: CallState, msg: CallMessage, now: float) -> Result:
    """Into another queue, at the customer's place; the agent leaves at once."""
    assert isinstance(msg, TransferTo)
    from_agent = state.agent
    xfer = TransferState(
        "queue",
        msg.target,
        "",
        from_agent,
        blind=True,
        state="completed",
        detail=f"to the queue {msg.target}",
        mode="blind",
        note=msg.note,
    )
    state = state.with_(transfer=xfer)
    state, effects = release_agent(state, hangup=True)
    entry = journey(
        state, "transferred", agent=from_agent, target=f"queue:{msg.target}", note=msg.note
    )
    state = state.with_(queue=msg.target, requeued_from=from_agent)
    state, queued = join_queue(state, now)
    log = fx.Log("call_transferred", {"agent": from_agent, "target": f"queue:{msg.target}"})
    return state, [log, *effects, entry, fx.Save(), *queued]


def release_agent(state: CallState, *, hangup: bool) -> Result:
    """The current agent leaves (blind transfer, or hung up while the target rings);
    the customer hears hold music until the target answers."""
    xfer = state.transfer
    assert xfer is not None
    old, cust = state.agent_leg, state.customer_leg
    effects: list[fx.Effect] = []
    if hangup and old is not None and old in state.legs and cust is not None:
        effects += [fx.Unbridge(cust, old), fx.Hangup(old)]
    if state.agent is not None:
        effects.append(fx.AgentLeaves(state.agent))
    if xfer.mode != "consult":  # (on hold already when consulting)
        effects += _hold(state)
    state = state.with_(agent_leg=None, agent=None, transfer=replace(xfer, blind=True))
    return state, effects


def agent_left(state: CallState, msg: CallMessage, now: float) -> Result:
    assert isinstance(msg, LegEnded)
    state = state.with_(legs=state.legs - {msg.leg})
    state, effects = release_agent(state, hangup=False)
    return state, [*effects, fx.Save()]


def transfer_timeout(state: CallState, msg: CallMessage, now: float) -> Result:
    xfer = state.transfer
    assert xfer is not None
    detail = f"{xfer.target} did not answer within {state.policy.ring_timeout:g} s"
    state = state.with_(
        timers=tuple(t for t in state.timers if t[0] != "transfer"),
        transfer=replace(xfer, detail=detail, timed_out=True),
    )
    return state, [fx.Log("call_transfer_timeout", {"target": xfer.target}), fx.Hangup(xfer.leg)]


def transfer_answered(state: CallState, msg: CallMessage, now: float) -> Result:
    """Attended or blind: the target answered; the customer is theirs now."""
    xfer = state.transfer
    assert xfer is not None
    state, effects = disarm(state, "transfer")
    cust, old = state.customer_leg, state.agent_leg
    assert cust is not None
    if xfer.blind:
        effects += _unhold(state)
    if old is not None:
        effects.append(fx.Unbridge(cust, old))
    effects.append(fx.Bridge(cust, xfer.leg))
    if old is not None:
        effects.append(fx.Hangup(old))
    if not xfer.blind and xfer.from_agent is not None:
        effects.append(fx.AgentLeaves(xfer.from_agent))
    if xfer.kind == "agent":
        effects.append(fx.AgentEvent(xfer.target, "answered"))
    return _handed_over(state, effects, xfer)


def _handed_over(state: CallState, effects: list[fx.Effect], xfer: TransferState) -> Result:
    agent = xfer.target if xfer.kind == "agent" else None
    done = replace(xfer, state="completed", detail=f"{xfer.target} answered")
    state = state.with_(agent_leg=xfer.leg, agent=agent, transfer=done)
    return state, [
        *effects,
        fx.Log("call_transferred", {"agent": xfer.from_agent, "target": xfer.target}),
        journey(state, "transferred", agent=xfer.from_agent, target=xfer.target, note=xfer.note),
        fx.Save(),
    ]


def consult_answered(state: CallState, msg: CallMessage, now: float) -> Result:
    """The target answered the consultation: the agent and the target talk."""
    xfer = state.transfer
    assert xfer is not None
    state, effects = disarm(state, "transfer")
    if state.agent_leg is not None:
        effects.append(fx.Bridge(state.agent_leg, xfer.leg))
    if xfer.kind == "agent":
        effects.append(fx.AgentEvent(xfer.target, "answered"))
    state = state.with_(transfer=replace(xfer, state="consulting", detail="consulting"))
    return state, [*effects, fx.Save()]


def transfer_completed(state: CallState, msg: CallMessage, now: float) -> Result:
    """The agent hands the customer over (or hung up during the consultation)."""
    xfer = state.transfer
    assert xfer is not None
    cust, old = state.customer_leg, state.agent_leg
    assert cust is not None
    effects: list[fx.Effect] = []
    if isinstance(msg, LegEnded):  # the agent hung up: that completes it
        state = state.with_(legs=state.legs - {msg.leg})
        old = None
    if old is not None:
        effects += [fx.Unbridge(old, xfer.leg), fx.Hangup(old)]
    effects += [*_unhold(state), fx.Bridge(cust, xfer.leg)]
    if xfer.from_agent is not None:
        effects.append(fx.AgentLeaves(xfer.from_agent))
    return _handed_over(state, effects, xfer)


def transfer_cancelled(state: CallState, msg: CallMessage, now: float) -> Result:
    """The agent takes the customer back (or the target hung up the consultation)."""
    xfer = state.transfer
    assert xfer is not None
    state, effects = disarm(state, "transfer")
    cust, agent_leg = state.customer_leg, state.agent_leg
    consulting = xfer.state == "consulting"
    if isinstance(msg, LegEnded):  # the target hung up
        state = state.with_(legs=state.legs - {msg.leg})
    else:
        effects.append(fx.Hangup(xfer.leg))
        if consulting and agent_leg is not None:
            effects.append(fx.Unbridge(agent_leg, xfer.leg))
    if xfer.mode == "consult" and cust is not None and agent_leg is not None:
        effects += [*_unhold(state), fx.Bridge(cust, agent_leg)]
    if xfer.kind == "agent":
        effects.append(
            fx.AgentLeaves(xfer.target) if consulting else fx.AgentEvent(xfer.target, "no_answer")
        )
    why = "the target hung up" if isinstance(msg, LegEnded) else "cancelled by the agent"
    state = state.with_(transfer=replace(xfer, state="cancelled", detail=why))
    log = fx.Log("call_transfer_cancelled", {"target": xfer.target, "why": why})
    return state, [log, *effects, fx.Save()]


def transfer_failed(state: CallState, msg: CallMessage, now: float) -> Result:
    assert isinstance(msg, LegEnded | DialFailed)
    xfer = state.transfer
    assert xfer is not None
    state, effects = disarm(state, "transfer")
    if isinstance(msg, DialFailed):
        detail = MEDIA_WORKER_REFUSED
    elif xfer.timed_out:
        detail = xfer.detail
    else:
        detail = transfer_failure(xfer.target, msg.code, msg.reason)
    state = state.with_(
        transfer=replace(xfer, state="failed", detail=detail), legs=state.legs - {msg.leg}
    )
    effects.append(fx.Log("call_transfer_failed", {"target": xfer.target, "detail": detail}))
    if xfer.kind == "agent":
        effects.append(fx.AgentEvent(xfer.target, "no_answer"))
    if state.phase == "connected":  # the customer and the agent still talk (or again)
        cust, agent_leg = state.customer_leg, state.agent_leg
        if xfer.mode == "consult" and cust is not None and agent_leg is not None:
            effects += [*_unhold(state), fx.Bridge(cust, agent_leg)]
        return state, [*effects, fx.Save()]
    if state.phase == "queued":  # nobody talks to the customer any more
        state = state.with_(requeued_from=xfer.from_agent)
        state, more = start_queue(state, now)
        return state, [*effects, fx.Save(), *more]
    state, more = finish(state, now, "transfer_failed")
    return state, effects + more
