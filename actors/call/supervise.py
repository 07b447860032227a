"""An operator on a live call: listen, whisper, barge.

Theory of operation
-------------------
On an answered call (``connected``, a SIP customer and an agent), an operator asks to
join from a phone; the call dials it (a leg ``s<n>``). When it answers, the media worker
is told who hears whom (:data:`WIRING`):

- ``listen``: the supervisor hears the customer and the agent (one way); nobody hears
  the supervisor;
- ``whisper``: as listen, and the agent hears the supervisor (one way); the customer
  does not;
- ``barge``: the supervisor is bridged with both: a three-way conversation.

Asked again while on the call, the mode changes (only the difference is rewired). The
supervisor hanging up (or their phone not answering) ends the supervision, not the
call; the call ending hangs the supervisor up with every other leg. The journey gets a
``supervised`` entry (mode, who) when the supervisor is on the call and at each change.
No transfer while a call is supervised (the legs it would rewire are the ones being
listened to). Pure; imports nothing but ``base`` and this package.
"""

from __future__ import annotations

from actors.call import effects as fx
from actors.call.messages import CallMessage, DialFailed, LegEnded, Supervise
from actors.call.state import CallState, SuperviseMode, Supervision
from actors.call.steps import Result, new_leg
from base.errors import Rejected

# (kind, who, whom): "hear" = who hears whom one way; "bridge" = both ways.
Wire = tuple[str, str, str]
WIRING: dict[SuperviseMode, frozenset[tuple[str, str, str]]] = {
    "listen": frozenset({("hear", "sup", "cust"), ("hear", "sup", "agent")}),
    "whisper": frozenset(
        {("hear", "sup", "cust"), ("hear", "sup", "agent"), ("hear", "agent", "sup")}
    ),
    "barge": frozenset({("bridge", "sup", "cust"), ("bridge", "sup", "agent")}),
}


def check(state: CallState, msg: Supervise) -> str:
    """The event for a supervision request, or :class:`Rejected` (409) with the reason."""
    if state.phase in ("ending", "ended"):
        raise Rejected("call_ended", f"call {state.id} has ended", 409)
    if state.kind == "gsm_in" or state.route == "modem" or state.pcm_leg is not None:
        raise Rejected("not_supported", f"call {state.id} is a GSM call: no supervision", 409)
    if state.phase != "connected" or state.customer_leg is None or state.agent_leg is None:
        raise Rejected("not_answered", f"call {state.id} is not a conversation now", 409)
    return "supervise_changed" if state.supervisor is not None else "supervise_requested"


def _effects(state: CallState, sup: str, wires: frozenset[Wire], on: bool) -> list[fx.Effect]:
    legs = {"sup": sup, "cust": state.customer_leg, "agent": state.agent_leg}
    out: list[fx.Effect] = []
    for kind, who, whom in sorted(wires):
        a, b = legs[who], legs[whom]
        assert a is not None and b is not None
        if kind == "bridge":
            out.append(fx.Bridge(a, b) if on else fx.Unbridge(a, b))
        else:
            out.append(fx.Listen(a, b) if on else fx.Unlisten(a, b))
    return out


def requested(state: CallState, msg: CallMessage, now: float) -> Result:
    assert isinstance(msg, Supervise)
    state, leg = new_leg(state, "s")
    state = state.with_(supervisor=Supervision(leg, msg.mode, msg.by))
    dial: fx.Effect
    if msg.number is not None and msg.trunk is not None:
        dial = fx.DialNumber(leg, msg.number, msg.trunk)
    else:
        assert msg.user is not None
        dial = fx.DialUser(leg, msg.user, state.number.lstrip("+"))
    log = fx.Log("call_supervise", {"mode": msg.mode, "by": msg.by, "agent": state.agent})
    return state, [log, dial, fx.Save()]


def changed(state: CallState, msg: CallMessage, now: float) -> Result:
    assert isinstance(msg, Supervise) and state.supervisor is not None
    old = state.supervisor
    new = Supervision(old.leg, msg.mode, msg.by, old.answered)
    state = state.with_(supervisor=new)
    if not old.answered or old.mode == new.mode:
        return state, [fx.Save()]
    before, after = WIRING[old.mode], WIRING[new.mode]
    effects = _effects(state, old.leg, before - after, on=False)
    effects += _effects(state, old.leg, after - before, on=True)
    log = fx.Log("call_supervise_mode", {"mode": new.mode, "by": new.by})
    return state, [log, *effects, fx.Supervised(new.mode, new.by), fx.Save()]


def answered(state: CallState, msg: CallMessage, now: float) -> Result:
    sup = state.supervisor
    assert sup is not None
    if state.phase != "connected":  # the conversation is not there any more
        return state.with_(supervisor=None, legs=state.legs - {sup.leg}), [fx.Hangup(sup.leg)]
    state = state.with_(supervisor=Supervision(sup.leg, sup.mode, sup.by, answered=True))
    wiring = _effects(state, sup.leg, WIRING[sup.mode], on=True)
    return state, [*wiring, fx.Supervised(sup.mode, sup.by), fx.Save()]


def left(state: CallState, msg: CallMessage, now: float) -> Result:
    """The supervisor hung up, or their phone could not be reached: the call goes on."""
    assert isinstance(msg, LegEnded | DialFailed)
    sup = state.supervisor
    assert sup is not None
    state = state.with_(supervisor=None, legs=state.legs - {msg.leg})
    log = fx.Log("call_supervise_over", {"by": sup.by, "answered": sup.answered})
    return state, [log, fx.Save()]


def drop(state: CallState) -> Result:
    """End the supervision (the conversation it joined is over): hang the phone up."""
    sup = state.supervisor
    if sup is None:
        return state, []
    state = state.with_(supervisor=None, legs=state.legs - {sup.leg})
    return state, [fx.Hangup(sup.leg)]
