"""The satisfaction survey by IVR (``[[queues]] csat = "ivr"``), after the agent hangs up.

Theory of operation
-------------------
When the agent leaves an answered call that came through a queue with an IVR survey,
the caller's leg stays up (phase ``survey``): the agent is let go at once (wrap-up), the
caller hears ``csat_question`` ("press 1 to 5"), then has
:attr:`~actors.call.policy.CallPolicy.survey_wait` seconds to press a digit. A digit
1-5 (also while the question plays) is the score: :class:`~actors.call.effects.RecordCsat`
(the shell records a ``csat`` journey event linked to the agent and the queue),
``csat_thanks`` plays, then the call ends. Another digit is ignored; no digit in time:
the call ends, nothing recorded. The caller hanging up ends it as usual.

Only a SIP caller is asked (a GSM caller's modem call ends with the agent's leg), and
not after a transfer in progress. Pure; imports nothing but ``base`` and this package.
"""

from __future__ import annotations

from actors.call import effects as fx
from actors.call import supervise
from actors.call.messages import CallMessage, DtmfReceived, LegEnded
from actors.call.state import CallState
from actors.call.steps import Result, arm, disarm, finish

SCORES = frozenset("12345")
CAUSE = "agent_hangup"  # the agent ended the conversation; the survey does not change it


def wanted(state: CallState, leg: str) -> bool:
    """The agent's leg ``leg`` ended a call whose caller should now be asked."""
    return (
        state.phase == "connected"
        and leg == state.agent_leg
        and state.agent is not None
        and state.kind == "inbound"
        and state.route == "trunk"
        and state.customer_leg is not None
        and state.customer_leg in state.legs
        and state.pcm_leg is None
        and state.queue in state.policy.csat_ivr
    )


def start(state: CallState, msg: CallMessage, now: float) -> Result:
    """The agent hung up: let them go, ask the caller."""
    assert isinstance(msg, LegEnded)
    cust, agent = state.customer_leg, state.agent
    assert cust is not None and agent is not None
    state = state.with_(legs=state.legs - {msg.leg}, survey="asking")
    state, dropped = supervise.drop(state)  # the conversation supervised is over
    state, timer = arm(state, "survey", state.policy.prompt_wait)  # the question's longest
    return state, [
        *dropped,
        fx.Log("csat_ivr_asked", {"agent": agent, "queue": state.queue}),
        fx.AgentLeaves(agent),
        fx.Play(cust, "csat_question", language=state.language),
        timer,
    ]


def prompt_played(state: CallState, now: float) -> Result:
    """The question was asked (the caller's time starts) or the thanks said (the end)."""
    if state.survey == "thanks":
        return finish(state, now, CAUSE)
    state, timer = arm(state, "survey", state.policy.survey_wait)
    return state, [timer]


def digit(state: CallState, msg: CallMessage, now: float) -> Result:
    assert isinstance(msg, DtmfReceived)
    cust = state.customer_leg
    if state.survey != "asking" or msg.digit not in SCORES or cust is None:
        return state, []
    state, effects = disarm(state, "survey")
    state = state.with_(survey="thanks")
    state, timer = arm(state, "survey", state.policy.treatment_wait)  # the thanks' longest
    return state, [
        *effects,
        fx.RecordCsat(msg.digit),
        fx.Play(cust, "csat_thanks", language=state.language),
        timer,
    ]


def timeout(state: CallState, msg: CallMessage, now: float) -> Result:
    """No score in time (nothing recorded), or a thanks that never ended."""
    if state.survey == "asking":
        state, ended = finish(state, now, CAUSE)
        return state, [fx.Log("csat_ivr_unanswered", {"agent": state.agent}), *ended]
    return finish(state, now, CAUSE)
