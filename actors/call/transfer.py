"""Transfers of an answered call: to an agent (attended, by re-bridging when the target
answers) or to a number (blind: the agent leaves at once).

Pure; imports nothing but ``base`` and this package.
"""

from __future__ import annotations

from actors.call import effects as fx
from actors.call.causes import transfer_failure
from actors.call.messages import CallMessage, DialFailed, LegEnded, TransferTo
from actors.call.state import CallState, TransferState
from actors.call.steps import Result, arm, disarm, finish, journey, new_leg
from actors.call.waiting import start_queue

MEDIA_WORKER_REFUSED = "the media worker did not place the call"


def transfer_requested(state: CallState, msg: CallMessage, now: float) -> Result:
    assert isinstance(msg, TransferTo)
    state, leg = new_leg(state, "t")
    xfer = TransferState(msg.kind, msg.target, leg, from_agent=state.agent)
    state = state.with_(transfer=xfer)
    effects: list[fx.Effect] = [
        fx.Log("call_transfer", {"kind": msg.kind, "target": msg.target, "agent": state.agent})
    ]
    if msg.kind == "agent":
        effects.append(fx.DialAgent(leg, msg.target, state.number))
    else:
        assert msg.trunk is not None
        effects.append(fx.DialNumber(leg, msg.target, msg.trunk))
    state, timer = arm(state, "transfer", state.policy.ring_timeout)
    effects.append(timer)
    if msg.kind == "number":
        state, more = release_agent(state, hangup=True)
        effects += more
    return state, [*effects, fx.Save()]


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
    if state.policy.hold_music and cust is not None:
        effects.append(fx.Play(cust, "hold", loop=True))
    blind = TransferState(xfer.kind, xfer.target, xfer.leg, xfer.from_agent, True, xfer.state)
    state = state.with_(agent_leg=None, agent=None, transfer=blind)
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
        transfer=TransferState(
            xfer.kind, xfer.target, xfer.leg, xfer.from_agent, xfer.blind, xfer.state, detail, True
        ),
    )
    return state, [fx.Log("call_transfer_timeout", {"target": xfer.target}), fx.Hangup(xfer.leg)]


def transfer_answered(state: CallState, msg: CallMessage, now: float) -> Result:
    xfer = state.transfer
    assert xfer is not None
    state, effects = disarm(state, "transfer")
    cust, old = state.customer_leg, state.agent_leg
    assert cust is not None
    if xfer.blind and state.policy.hold_music:
        effects.append(fx.StopPlay(cust))
    if old is not None:
        effects.append(fx.Unbridge(cust, old))
    effects.append(fx.Bridge(cust, xfer.leg))
    if old is not None:
        effects.append(fx.Hangup(old))
    if not xfer.blind and xfer.from_agent is not None:
        effects.append(fx.AgentLeaves(xfer.from_agent))
    agent: str | None = None
    if xfer.kind == "agent":
        effects.append(fx.AgentEvent(xfer.target, "answered"))
        agent = xfer.target
    done = TransferState(
        xfer.kind,
        xfer.target,
        xfer.leg,
        xfer.from_agent,
        xfer.blind,
        "completed",
        f"{xfer.target} answered",
    )
    state = state.with_(agent_leg=xfer.leg, agent=agent, transfer=done)
    return state, [
        *effects,
        fx.Log("call_transferred", {"agent": xfer.from_agent, "target": xfer.target}),
        journey(state, "transferred", agent=xfer.from_agent, target=xfer.target),
        fx.Save(),
    ]


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
    failed = TransferState(
        xfer.kind, xfer.target, xfer.leg, xfer.from_agent, xfer.blind, "failed", detail
    )
    state = state.with_(transfer=failed, legs=state.legs - {msg.leg})
    effects.append(fx.Log("call_transfer_failed", {"target": xfer.target, "detail": detail}))
    if xfer.kind == "agent":
        effects.append(fx.AgentEvent(xfer.target, "no_answer"))
    if state.phase == "connected":  # attended: the customer and the agent still talk
        return state, [*effects, fx.Save()]
    if state.phase == "queued":  # nobody talks to the customer any more
        state = state.with_(requeued_from=xfer.from_agent)
        state, more = start_queue(state, now)
        return state, [*effects, fx.Save(), *more]
    state, more = finish(state, now, "transfer_failed")
    return state, effects + more
