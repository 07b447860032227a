"""Proving a phone number with a one-time code: the pure state machine."""

from __future__ import annotations

from typing import Any

import pytest

from actors import verification as vf
from base.errors import ProtocolError

PHONE = "+85512345678"
POLICY = vf.VerifyPolicy(code_ttl=600, attempts=3, lock=900, codes_per_hour=5)


class Run:
    def __init__(self, visitor: str = "v1") -> None:
        self.state = vf.VerificationState(visitor, policy=POLICY)
        self.number = vf.NumberState(PHONE)
        self.now = 1000.0

    def send(self, msg: Any, after: float = 0.0) -> list[Any]:
        self.now += after
        self.state, effects = vf.decide(self.state, msg, self.now)
        for effect in effects:
            if isinstance(effect, vf.SaveNumber):
                self.number = effect.number
        return effects

    def ask(self, code: str = "h-111111", after: float = 0.0) -> list[Any]:
        return self.send(vf.AskCode(PHONE, code, self.number), after)

    def try_(self, code: str, after: float = 0.0) -> list[Any]:
        return self.send(vf.TryCode(code, self.number), after)


def test_the_right_code_proves_the_number() -> None:
    run = Run()
    effects = run.ask("h-123456")
    assert vf.SendCode(PHONE) in effects and run.state.state == "code_sent"
    assert run.state.verified is None  # asking proves nothing
    assert run.try_("h-123456", after=30) == [vf.Proven(PHONE)]
    assert run.state.state == "verified" and run.state.verified == PHONE


def test_a_wrong_code_proves_nothing_and_says_how_many_tries_are_left() -> None:
    run = Run()
    run.ask("h-123456")
    assert run.try_("h-000000") == [vf.Refused("wrong_code", left=2)]
    assert run.state.verified is None and run.state.state == "code_sent"
    assert run.try_("h-123456") == [vf.Proven(PHONE)]  # still in time, still possible


def test_three_wrong_codes_lock_the_visitor_and_the_number() -> None:
    run = Run()
    run.ask("h-123456")
    run.try_("h-1")
    run.try_("h-2")
    effects = run.try_("h-3")
    assert vf.Refused("locked", left=0, until=run.now + 900) in effects
    assert run.state.state == "locked" and run.number.locked_until == run.now + 900
    # the right code no longer helps, nor does a new code
    assert run.try_("h-123456")[0].reason == "locked"
    assert run.ask("h-999999")[0].reason == "locked"
    assert run.state.verified is None


def test_another_visitor_cannot_try_a_locked_number() -> None:
    run = Run()
    run.ask("h-123456")
    for n in range(3):
        run.try_(f"h-{n}")
    other = Run("v2")
    other.number = run.number
    other.now = run.now + 60
    assert other.ask("h-222222") == [vf.Refused("locked", until=run.number.locked_until)]


def test_the_lock_ends_and_the_counts_start_again() -> None:
    run = Run()
    run.ask("h-123456")
    for n in range(3):
        run.try_(f"h-{n}")
    effects = run.ask("h-444444", after=901)
    assert vf.SendCode(PHONE) in effects and run.state.wrong == 0
    assert run.try_("h-444444") == [vf.Proven(PHONE)]


def test_a_new_code_does_not_give_new_guesses() -> None:
    run = Run()
    run.ask("h-123456")
    run.try_("h-1")
    run.try_("h-2")
    run.ask("h-654321", after=5)
    assert run.try_("h-3")[-1].reason == "locked"


def test_an_expired_code_is_refused_even_when_right() -> None:
    run = Run()
    run.ask("h-123456")
    assert run.try_("h-123456", after=601) == [vf.Refused("expired")]
    assert run.state.state == "idle" and run.state.verified is None


def test_a_code_never_asked_for_is_refused() -> None:
    run = Run()
    assert run.try_("h-123456") == [vf.Refused("no_code")]


def test_codes_per_hour_are_limited_per_number_and_per_visitor() -> None:
    run = Run()
    for n in range(5):
        assert vf.SendCode(PHONE) in run.ask(f"h-{n}", after=10)
    refused = run.ask("h-6", after=10)
    assert refused == [vf.Refused("too_many_codes", until=1010 + 3600)]
    other = Run("v2")  # a new browser: the number is still spared
    other.number, other.now = run.number, run.now
    assert other.ask("h-7")[0].reason == "too_many_codes"
    assert vf.SendCode(PHONE) in run.ask("h-8", after=3600)  # an hour later


def test_a_proven_number_stays_proven_while_another_is_tried() -> None:
    run = Run()
    run.ask("h-1")
    run.try_("h-1")
    run.send(vf.AskCode("+85598765432", "h-2", vf.NumberState("+85598765432")))
    assert run.state.state == "code_sent" and run.state.verified == PHONE


def test_the_state_survives_a_round_trip_through_json() -> None:
    run = Run()
    run.ask("h-1")
    run.try_("h-2")
    back = vf.VerificationState.from_json(run.state.to_json(), POLICY)
    assert back == run.state
    assert vf.NumberState.from_json(run.number.to_json()) == run.number


def test_the_table_refuses_a_transition_it_does_not_have() -> None:
    with pytest.raises(ProtocolError):
        vf.next_state("locked", "right_code")
