"""A caller waiting in a queue: hold music, position announcements, questions.

Theory of operation
-------------------
Joining the queue (:func:`start_queue`) starts the queue's *wait policy* for a caller
who has a SIP leg (a GSM caller is not answered while waiting, so hears nothing):

- **Questions** (``[[queues]] questions``), one after another: the prompt plays (hold
  music stops), then the caller has ``timeout`` seconds. A ``digits`` question takes
  digits until ``#`` or ``max_length`` digits (a timeout with digits keeps them); a
  ``choice`` question takes one of its digits. The answer is an ``ivr_choice`` in the
  journey (``via`` the question id) and kept on the call; no answer (a wrong digit,
  nothing) asks again, ``retries`` times, then the next question. Then hold music.
- **Announcements** every ``announce_every`` seconds: the call asks the routing engine
  where it stands (:class:`~actors.call.effects.QueryQueue`, answered by
  :class:`~actors.call.messages.QueueStatus`), says "you are number N, expected wait
  about M minutes" as one prompt made of parts (:func:`announcement`), then hold music
  again. Not while a question is asked or an agent rings.

The caller keeps their place in the queue all along: an agent offered meanwhile rings,
and answering stops all of it (:func:`stop_waiting`).
Pure; imports nothing but ``base`` and this package.
"""

from __future__ import annotations

import math

from actors.call import effects as fx
from actors.call.messages import CallMessage, DtmfReceived, QueueStatus
from actors.call.policy import Question
from actors.call.state import CallState
from actors.call.steps import Result, arm, disarm, join_queue

# ------------------------------------------------------------------- the parts


def number_parts(n: int) -> list[str]:
    """Prompt names that say ``n``: ``num_0`` .. ``num_19``, tens ``num_20`` ..
    ``num_90``; from 100 on, digit by digit."""
    if n < 0:
        raise ValueError(f"no words for {n}")
    if n < 20:
        return [f"num_{n}"]
    if n < 100:
        tens, units = divmod(n, 10)
        return [f"num_{tens * 10}"] + ([f"num_{units}"] if units else [])
    return [f"num_{d}" for d in str(n)]


def announcement(position: int, expected_wait: float | None) -> tuple[str, ...]:
    """The parts of "you are number N, expected wait about M minutes" (whole minutes,
    rounded up; under a minute: "less than a minute"; unknown: the position only)."""
    parts = ["queue_position", *number_parts(position)]
    if expected_wait is not None:
        if expected_wait < 60:
            parts.append("queue_wait_short")
        else:
            minutes = math.ceil(expected_wait / 60)
            parts += ["queue_wait", *number_parts(minutes)]
            parts.append("minute" if minutes == 1 else "minutes")
    return tuple(parts)


# --------------------------------------------------------------- into the queue


def start_queue(state: CallState, now: float) -> Result:
    """Wait in the call's queue: hold music (or the first question), announcements."""
    cust = state.customer_leg
    wait = state.policy.wait_policy(state.queue)
    effects: list[fx.Effect] = []
    if cust is not None and wait.announce_every and state.timer_token("announce") is None:
        state, timer = arm(state, "announce", wait.announce_every)
        effects.append(timer)
    if cust is not None and state.asking is None and state.asked < len(wait.questions):
        state, more = _ask(state, wait.questions[state.asked])
        effects = more + effects
    elif state.policy.hold_music and cust is not None:
        effects.insert(0, fx.Play(cust, "hold", loop=True))
    state, more = join_queue(state, now)
    return state, effects + more


def stop_waiting(state: CallState) -> Result:
    """An agent took the call: no more questions or announcements. Stops what plays."""
    state, effects = disarm(state, "announce")
    state, more = disarm(state, "question")
    return state.with_(asking=None, digits="", audio=None), effects + more


def playing(state: CallState) -> bool:
    """A prompt of the queue plays to the caller (StopPlay before bridging)."""
    return state.audio is not None


# --------------------------------------------------------------------- questions


def _question(state: CallState) -> Question | None:
    for question in state.policy.wait_policy(state.queue).questions:
        if question.id == state.asking:
            return question
    return None


def _ask(state: CallState, question: Question) -> Result:
    cust = state.customer_leg
    assert cust is not None
    asked = state.asked + (0 if state.asking == question.id else 1)
    state = state.with_(asking=question.id, asked=asked, digits="", audio="question")
    state, timer = arm(state, "question", state.policy.prompt_wait)
    return state, [fx.Play(cust, question.prompt, language=state.language), timer]


def _next_question(state: CallState) -> Result:
    questions = state.policy.wait_policy(state.queue).questions
    state = state.with_(asking=None, digits="", question_misses=0)
    if state.asked < len(questions):
        return _ask(state, questions[state.asked])
    state, effects = disarm(state, "question")
    cust = state.customer_leg
    if cust is not None and state.policy.hold_music:
        effects.append(fx.Play(cust, "hold", loop=True))
    elif cust is not None and state.audio is not None:
        effects.append(fx.StopPlay(cust))
    return state.with_(audio=None), effects


def _answer(state: CallState, question: Question, value: str) -> Result:
    state = state.with_(answers=(*state.answers, (question.id, value)))
    effects: list[fx.Effect] = [fx.IvrChoice(question.id, value), fx.Save()]
    state, more = _next_question(state)
    return state, effects + more


def _miss(state: CallState, question: Question) -> Result:
    misses = state.question_misses + 1
    state = state.with_(question_misses=misses, digits="")
    if misses > question.retries:
        log = fx.Log("question_unanswered", {"question": question.id})
        state, effects = _next_question(state)
        return state, [log, *effects]
    return _ask(state, question)


def question_digit(state: CallState, msg: CallMessage, now: float) -> Result:
    """A digit while a question is asked (it cuts the prompt short)."""
    assert isinstance(msg, DtmfReceived)
    question = _question(state)
    if question is None:
        return state, []
    effects: list[fx.Effect] = []
    if state.audio == "question" and state.customer_leg is not None:
        effects.append(fx.StopPlay(state.customer_leg))
        state = state.with_(audio=None)
    digit = msg.digit
    if question.kind == "choice":
        if digit in question.options:
            state, more = _answer(state, question, digit)
        else:
            state, more = _miss(state, question)
        return state, effects + more
    if digit == "#":
        if state.digits:
            state, more = _answer(state, question, state.digits)
        else:
            state, more = _miss(state, question)
        return state, effects + more
    digits = (state.digits + digit) if digit != "*" else ""  # "*" starts over
    if len(digits) >= question.max_length:
        state, more = _answer(state, question, digits)
        return state, effects + more
    state, timer = arm(state.with_(digits=digits), "question", question.timeout)
    return state, [*effects, timer]


def question_timeout(state: CallState, msg: CallMessage, now: float) -> Result:
    state = state.with_(timers=tuple(t for t in state.timers if t[0] != "question"))
    question = _question(state)
    if question is None:
        return state, []
    state = state.with_(audio=None)
    if question.kind == "digits" and state.digits:
        return _answer(state, question, state.digits)
    return _miss(state, question)


# ----------------------------------------------------------------- announcements


def announce_due(state: CallState, msg: CallMessage, now: float) -> Result:
    """Every ``announce_every`` seconds: ask the engine where the call stands."""
    every = state.policy.wait_policy(state.queue).announce_every
    state = state.with_(timers=tuple(t for t in state.timers if t[0] != "announce"))
    effects: list[fx.Effect] = []
    if every:
        state, timer = arm(state, "announce", every)
        effects.append(timer)
    quiet = state.asking is None and state.audio is None
    if state.phase == "queued" and state.in_queue and quiet and state.customer_leg:
        effects.append(fx.QueryQueue())
    return state, effects


def queue_status(state: CallState, msg: CallMessage, now: float) -> Result:
    """Where the call stands: say it (then hold music again, when the prompt ends)."""
    assert isinstance(msg, QueueStatus)
    cust = state.customer_leg
    if msg.position is None or cust is None or state.asking is not None or state.audio:
        return state, []
    parts = announcement(msg.position, msg.expected_wait)
    log = fx.Log(
        "queue_announcement", {"position": msg.position, "expected_wait": msg.expected_wait}
    )
    state = state.with_(audio="announce")
    return state, [log, fx.PlayParts(cust, parts, language=state.language)]


def waiting_prompt_played(state: CallState) -> Result:
    """A question's prompt ended (the caller's time starts) or an announcement did."""
    cust = state.customer_leg
    if state.audio == "question":
        question = _question(state)
        state = state.with_(audio=None)
        if question is None:
            return state, []
        state, timer = arm(state, "question", question.timeout)
        return state, [timer]
    if state.audio == "announce":
        state = state.with_(audio=None)
        if cust is not None and state.policy.hold_music:
            return state, [fx.Play(cust, "hold", loop=True)]
    return state, []
