"""Proving a phone number with a one-time code (the widget's "leave your number").

Rules: everything that decides whether a web visitor has proven a number lives here, as
a table and a pure ``decide(state, message, now) -> (state, effects)``; the shell
(``switch.widget.verify``) makes the codes, sends them by SMS and merges the contacts.
Codes reach this module only as keyed hashes (the shell's): nothing here can leak one.
Imports nothing of ours but ``base``.

Theory of operation
-------------------
A visitor (``web:<id>``) asks for a code to be sent to a number; they prove the number
by typing the code back before it expires. Only a proven number ever joins the visitor
to a contact: a wrong, expired or missing code changes nothing but the counters.

Guessing is bounded twice. Per visitor: ``attempts`` wrong codes lock the visitor out of
verification for ``lock`` seconds (a new code does not reset the count; a success or the
end of a lock does). Per number: the same wrong codes lock the *number* for ``lock``
seconds whoever asks (a new browser does not get new guesses), and at most
``codes_per_hour`` codes are sent to one number (nobody can flood a stranger's phone).

The visitor's states (:data:`TRANSITIONS`): ``idle`` -> ``code_sent`` -> ``verified``;
``code_sent`` -> ``locked`` (too many wrong codes) -> ``idle`` (the lock ended);
``verified`` -> ``code_sent`` (proving another number: the first stays proven until
then).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeAlias

from base.errors import ProtocolError

State = Literal["idle", "code_sent", "verified", "locked"]

TRANSITIONS: dict[State, dict[str, State]] = {
    "idle": {"code_asked": "code_sent"},
    "code_sent": {
        "code_asked": "code_sent",
        "right_code": "verified",
        "wrong_code": "code_sent",
        "too_many_wrong": "locked",
        "expired": "idle",
    },
    "verified": {"code_asked": "code_sent"},
    "locked": {"lock_ended": "idle"},
}

HOUR = 3600.0


def next_state(state: State, event: str) -> State:
    row = TRANSITIONS[state]
    if event not in row:
        raise ProtocolError(f"verification: {event!r} while {state!r}")
    return row[event]


@dataclass(frozen=True, slots=True)
class VerifyPolicy:
    code_ttl: float = 600.0
    attempts: int = 3
    lock: float = 900.0
    codes_per_hour: int = 5


@dataclass(frozen=True, slots=True)
class NumberState:
    """What every visitor shares about one number: codes sent lately, and its lock."""

    phone: str
    sent: tuple[float, ...] = ()  # when codes were sent to it (the last hour)
    locked_until: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"phone": self.phone, "sent": list(self.sent), "locked_until": self.locked_until}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NumberState:
        return cls(
            str(data["phone"]),
            tuple(float(t) for t in data.get("sent", ())),
            data.get("locked_until"),
        )


@dataclass(frozen=True, slots=True)
class VerificationState:
    visitor: str
    state: State = "idle"
    phone: str | None = None  # the number a code was sent to
    code_hash: str | None = None
    expires_at: float | None = None
    wrong: int = 0  # wrong codes since the last success or lock
    locked_until: float | None = None
    sent: tuple[float, ...] = ()  # codes sent to this visitor (the last hour)
    verified: str | None = None  # the number proven (E.164)
    policy: VerifyPolicy = VerifyPolicy()

    def to_json(self) -> dict[str, Any]:
        return {
            "visitor": self.visitor,
            "state": self.state,
            "phone": self.phone,
            "code_hash": self.code_hash,
            "expires_at": self.expires_at,
            "wrong": self.wrong,
            "locked_until": self.locked_until,
            "sent": list(self.sent),
            "verified": self.verified,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], policy: VerifyPolicy) -> VerificationState:
        return cls(
            visitor=str(data["visitor"]),
            state=data.get("state", "idle"),
            phone=data.get("phone"),
            code_hash=data.get("code_hash"),
            expires_at=data.get("expires_at"),
            wrong=int(data.get("wrong", 0)),
            locked_until=data.get("locked_until"),
            sent=tuple(float(t) for t in data.get("sent", ())),
            verified=data.get("verified"),
            policy=policy,
        )


# ------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True)
class AskCode:
    """Send a new code (its keyed hash here; the shell holds the code) to ``phone``."""

    phone: str
    code_hash: str
    number: NumberState


@dataclass(frozen=True, slots=True)
class TryCode:
    code_hash: str  # the keyed hash of what the visitor typed
    number: NumberState  # the state of the number the code was sent to


VerificationMessage: TypeAlias = AskCode | TryCode

# -------------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class SendCode:
    phone: str


@dataclass(frozen=True, slots=True)
class Proven:
    """The visitor proved ``phone``: join them to its contact."""

    phone: str


@dataclass(frozen=True, slots=True)
class Refused:
    """Why nothing was sent or proven: ``locked``, ``too_many_codes``, ``no_code``,
    ``expired`` or ``wrong_code`` (with the attempts ``left``); ``until``: when asking
    again can help (a lock's end, the hour's end)."""

    reason: str
    left: int | None = None
    until: float | None = None


@dataclass(frozen=True, slots=True)
class SaveNumber:
    """The number's shared state changed (a code sent, or a lock)."""

    number: NumberState


VerificationEffect: TypeAlias = SendCode | Proven | Refused | SaveNumber
Result = tuple[VerificationState, list[VerificationEffect]]


def _recent(times: tuple[float, ...], now: float) -> tuple[float, ...]:
    return tuple(t for t in times if now - t < HOUR)


def _unlock(state: VerificationState, now: float) -> VerificationState:
    if state.state == "locked" and state.locked_until is not None and now >= state.locked_until:
        return replace(
            state,
            state=next_state(state.state, "lock_ended"),
            wrong=0,
            locked_until=None,
            code_hash=None,
            expires_at=None,
        )
    return state


def decide(state: VerificationState, msg: VerificationMessage, now: float) -> Result:
    policy = state.policy
    state = _unlock(state, now)
    match msg:
        case AskCode(phone=phone, code_hash=code_hash, number=number):
            if state.state == "locked":
                return state, [Refused("locked", until=state.locked_until)]
            if number.locked_until is not None and now < number.locked_until:
                return state, [Refused("locked", until=number.locked_until)]
            mine, theirs = _recent(state.sent, now), _recent(number.sent, now)
            if len(mine) >= policy.codes_per_hour or len(theirs) >= policy.codes_per_hour:
                first = min(mine if len(mine) >= policy.codes_per_hour else theirs)
                return state, [Refused("too_many_codes", until=first + HOUR)]
            state = replace(
                state,
                state=next_state(state.state, "code_asked"),
                phone=phone,
                code_hash=code_hash,
                expires_at=now + policy.code_ttl,
                sent=(*mine, now),
            )
            number = replace(number, sent=(*theirs, now), locked_until=None)
            return state, [SaveNumber(number), SendCode(phone)]
        case TryCode(code_hash=code_hash, number=number):
            if state.state == "locked":
                return state, [Refused("locked", until=state.locked_until)]
            expected, sent_to = state.code_hash, state.phone
            if state.state != "code_sent" or expected is None or sent_to is None:
                return state, [Refused("no_code")]
            if number.locked_until is not None and now < number.locked_until:
                return state, [Refused("locked", until=number.locked_until)]
            if state.expires_at is not None and now >= state.expires_at:
                state = replace(
                    state, state=next_state(state.state, "expired"), code_hash=None, expires_at=None
                )
                return state, [Refused("expired")]
            if hmac.compare_digest(expected, code_hash):
                state = replace(
                    state,
                    state=next_state(state.state, "right_code"),
                    verified=sent_to,
                    code_hash=None,
                    expires_at=None,
                    wrong=0,
                )
                return state, [Proven(sent_to)]
            wrong = state.wrong + 1
            if wrong < policy.attempts:
                state = replace(state, state=next_state(state.state, "wrong_code"), wrong=wrong)
                return state, [Refused("wrong_code", left=policy.attempts - wrong)]
            until = now + policy.lock
            state = replace(
                state,
                state=next_state(state.state, "too_many_wrong"),
                wrong=wrong,
                locked_until=until,
                code_hash=None,
                expires_at=None,
            )
            number = replace(number, locked_until=until)
            return state, [SaveNumber(number), Refused("locked", left=0, until=until)]
    raise TypeError(f"verification cannot handle {type(msg).__name__}")
