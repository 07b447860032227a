"""Press 1 for a callback: a waiting caller trades the wait for a call back, keeping
their place.

Theory of operation
-------------------
A queue with ``callback = true`` offers it to every caller with a SIP leg and a number
to call back (E.164):

- **while waiting**: the offer (``callback_offer``: "to keep your place and be called
  back, press 1") plays when the caller joins the queue and after each position
  announcement. ``1`` while no question of the queue is being asked takes it.
- **in the treatment** (max wait, nobody logged in, closed): the treatment's message
  says so itself (``queue_<reason>_callback``), then the caller has
  :attr:`~actors.call.policy.CallPolicy.offer_wait` seconds to press ``1``; nothing
  pressed: the call ends with the treatment's cause.

Either way the same step (:func:`callback_chosen`): the call's item leaves the queue as
``withdrawn`` (when it is still there), the shell asks for a callback at the place the
call took when it first joined (:class:`~actors.call.effects.RequestCallback`: the
callback is durable, joins the queue and confirms by SMS in the caller's language), the
caller hears ``callback_confirmed``, and the call ends (``callback_requested``).

Pure; imports nothing but ``base`` and this package.
"""

from __future__ import annotations

from actors.call import effects as fx
from actors.call.messages import CallMessage, DtmfReceived
from actors.call.state import CallState
from actors.call.steps import Result, arm, disarm

CALLBACK_TREATMENTS = (
    "queue_max_wait_callback",
    "queue_no_agents_callback",
    "queue_closed_callback",
)
CALLBACK_CAUSE = "callback_requested"
DIGIT = "1"


def offers(state: CallState) -> bool:
    """The call's queue offers this caller a callback (they can hear it, and have a
    number to be called back on)."""
    return (
        state.policy.wait_policy(state.queue).callback
        and state.customer_leg is not None
        and state.number.startswith("+")
    )


def chosen(state: CallState, msg: DtmfReceived) -> bool:
    """The digit takes the callback offered (``queued``: not while a question is asked
    or the greeting's menu waits; ``treatment``: after its offer)."""
    if msg.digit != DIGIT or msg.leg != state.customer_leg:
        return False
    if state.phase == "treatment":
        return state.callback_offer
    return (
        state.phase == "queued"
        and state.in_queue
        and state.asking is None
        and state.timer_token("greeting") is None
        and offers(state)
    )


def treatment_prompt(state: CallState, reason: str, callback: bool) -> tuple[CallState, str]:
    """The treatment's message: with the offer when the queue makes it."""
    if callback and offers(state) and f"queue_{reason}_callback" in CALLBACK_TREATMENTS:
        return state.with_(callback_offer=True, audio="offer"), f"queue_{reason}_callback"
    return state, f"queue_{reason}"


def treatment_cause(state: CallState) -> str:
    """How a call that went through ``treatment`` ended."""
    return CALLBACK_CAUSE if state.treated == "callback" else f"queue_{state.treated}"


def offer_played(state: CallState, msg: CallMessage, now: float) -> Result:
    """The treatment's offer has been said: time to press 1, then the call ends."""
    state, timer = arm(state.with_(audio=None), "treatment", state.policy.offer_wait)
    return state, [timer]


def callback_chosen(state: CallState, msg: CallMessage, now: float) -> Result:
    """1 pressed: the item becomes a callback at the same place; confirm, then end."""
    assert isinstance(msg, DtmfReceived)
    cust = state.customer_leg
    assert cust is not None
    effects: list[fx.Effect] = []
    for name in ("announce", "question", "treatment"):
        state, more = disarm(state, name)
        effects += more
    if state.in_queue:
        effects.append(fx.LeaveQueue("withdrawn"))
    queued_at = state.queued_at if state.queued_at is not None else now
    effects += [
        fx.Log("callback_chosen", {"queue": state.queue, "from": state.treated or "queue"}),
        fx.RequestCallback(state.queue, queued_at, state.language),
    ]
    state = state.with_(
        in_queue=False,
        treated="callback",
        callback_offer=False,
        offered_agent=None,
        asking=None,
        digits="",
        audio="confirm",
    )
    state, timer = arm(state, "treatment", state.policy.treatment_wait)
    # (it replaces whatever plays: hold music, an announcement, the offer)
    play = fx.Play(cust, "callback_confirmed", language=state.language)
    return state, [*effects, play, timer]
