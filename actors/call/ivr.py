"""IVR menus in a call: the ``ivr`` phase (see :mod:`actors.call.state`).

Theory of operation
-------------------
Entering a menu plays its prompt (in the caller's language; a menu with ``language``
sets it first) and arms the ``menu`` timer for the longest a prompt may play. The
prompt's end re-arms it for the menu's ``timeout``. A digit may come at any time (it
cuts the prompt short):

- an option of the menu (``"0"`` is a human even when the menu does not list it): an
  ``ivr_choice`` in the journey (``via`` the menu, ``text`` the digit), the choice kept
  on the call, then the target: another menu (the phase stays ``ivr``), or a queue or
  an agent's own queue (``queued``);
- anything else, or no digit before the timer: the prompt again, at most ``retries``
  times; then the menu's ``"0"`` target (a human).

:func:`menu_event` tells :mod:`actors.call.classify` which event of the table a digit
or a timeout is (``menu_stay`` or ``menu_exit``) without deciding anything.
Pure; imports nothing but ``base`` and this package.
"""

from __future__ import annotations

from actors.call import effects as fx
from actors.call.messages import CallMessage, DtmfReceived
from actors.call.state import CallState
from actors.call.steps import Result, arm, disarm, finish, journey, new_leg
from actors.call.waiting import start_queue


def _outcome(state: CallState, digit: str | None) -> tuple[str | None, bool]:
    """(the target to go to or None to play the menu again, whether the digit chose it)."""
    policy = state.policy
    menu = policy.menus[state.menu or ""]
    if digit is not None:
        target = menu.options.get(digit) or (policy.human if digit == "0" else None)
        if target is not None:
            return target, True
    if state.menu_misses + 1 > menu.retries:
        return menu.options.get("0") or policy.human, False
    return None, False


def menu_event(state: CallState, digit: str | None) -> str:
    """The table's event for a digit (or the menu's timeout, ``digit=None``)."""
    if state.menu not in state.policy.menus:
        return "menu_exit"  # (a menu that vanished: a human takes over)
    target, _ = _outcome(state, digit)
    return "menu_stay" if target is None or target.startswith("ivr:") else "menu_exit"


def enter_menu(state: CallState, menu_id: str) -> Result:
    menu = state.policy.menus[menu_id]
    state = state.with_(
        menu=menu_id, menu_misses=0, language=menu.language or state.language, audio="menu"
    )
    return _play_menu(state)


def _play_menu(state: CallState) -> Result:
    menu = state.policy.menus[state.menu or ""]
    cust = state.customer_leg
    assert cust is not None
    state, timer = arm(state.with_(audio="menu"), "menu", state.policy.prompt_wait)
    return state, [fx.Play(cust, menu.prompt, language=state.language), timer]


def begin_menu(state: CallState, msg: CallMessage, now: float) -> Result:
    cust = state.customer_leg
    assert cust is not None and state.menu is not None
    state, effects = enter_menu(state, state.menu)
    return state, [journey(state, "started"), fx.Save(), fx.Answer(cust), *effects]


def begin_modem_menu(state: CallState, msg: CallMessage, now: float) -> Result:
    """A GSM caller for a menu: answer the modem, then make its PCM port their leg."""
    return state, [journey(state, "started"), fx.Save(), fx.ModemPickUp()]


def modem_picked_up(state: CallState) -> Result:
    state, leg = new_leg(state, "m")
    return state.with_(customer_leg=leg), [fx.ModemLeg(leg)]


def modem_leg_ready(state: CallState, msg: CallMessage, now: float) -> Result:
    """The caller's leg exists (it holds the worker now): the menu."""
    assert state.menu is not None
    return enter_menu(state.with_(worker_reserved=False), state.menu)


def modem_leg_failed(state: CallState, msg: CallMessage, now: float) -> Result:
    leg = state.customer_leg
    state = state.with_(customer_leg=None, legs=state.legs - {leg} if leg else state.legs)
    state, effects = finish(state, now, "bridge_failed")
    return state, [fx.Log("gsm_menu_failed", {}), *effects]


def menu_prompt_played(state: CallState) -> Result:
    """The prompt is over: the caller has ``timeout`` seconds for a digit."""
    if state.audio != "menu" or state.menu not in state.policy.menus:
        return state, []
    menu = state.policy.menus[state.menu or ""]
    state, timer = arm(state.with_(audio=None), "menu", menu.timeout)
    return state, [timer]


def menu_event_handler(state: CallState, msg: CallMessage, now: float) -> Result:
    """A digit or the menu's timeout (``menu_stay`` and ``menu_exit``)."""
    digit = msg.digit if isinstance(msg, DtmfReceived) else None
    menu_id = state.menu or ""
    if menu_id not in state.policy.menus:
        return _go(state.with_(menu=None), state.policy.human, [], now)
    target, chosen = _outcome(state, digit)
    state, effects = disarm(state, "menu")
    if digit is not None and chosen:
        state = state.with_(choices=(*state.choices, (menu_id, digit)))
        effects += [fx.IvrChoice(menu_id, digit), fx.Save()]
    if target is None:  # invalid, or nothing: the menu again
        state = state.with_(menu_misses=state.menu_misses + 1)
        log = fx.Log("ivr_retry", {"menu": menu_id, "digit": digit, "misses": state.menu_misses})
        state, more = _play_menu(state)
        return state, [*effects, log, *more]
    if not chosen:
        effects.append(fx.Log("ivr_fallback", {"menu": menu_id, "to": target}))
    return _go(state, target, effects, now)


def _go(state: CallState, target: str, effects: list[fx.Effect], now: float) -> Result:
    kind, _, name = target.partition(":")
    if kind == "ivr" and name in state.policy.menus:
        state, more = enter_menu(state, name)
        return state, effects + more
    queue = f"agent:{name}" if kind == "agent" else name
    if kind == "ivr":  # a menu that does not exist (the config forbids it): the default
        queue = "default"
    cust = state.customer_leg
    if state.audio is not None and cust is not None and not state.policy.hold_music:
        effects.append(fx.StopPlay(cust))
    state = state.with_(menu=None, queue=queue, audio=None)
    effects.append(fx.Log("ivr_to_queue", {"queue": queue}))
    state, more = start_queue(state, now)
    return state, effects + more
