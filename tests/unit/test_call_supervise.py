"""Supervision through the pure call state machine: who hears whom in each mode, mode
changes rewire only the difference, the supervisor leaving never ends the call."""

from __future__ import annotations

import pytest

from actors.call import effects as fx
from actors.call.messages import (
    Begin,
    DialFailed,
    DtmfReceived,
    LegAnswered,
    LegEnded,
    Supervise,
    TransferTo,
)
from actors.call.policy import CallPolicy
from actors.call.supervise import WIRING
from base.errors import Rejected
from switch.api.access import decide as access
from tests.unit.test_call_decide import Run, answered_inbound, inbound

CUST = "w0-1"


def supervised(mode: str = "listen") -> tuple[Run, str, str]:
    run = answered_inbound(CallPolicy())
    agent = run.state.agent_leg or ""
    effects = run.send(Supervise(mode, "ops", user="1003"))  # type: ignore[arg-type]
    sup = run.state.supervisor
    assert sup is not None and not sup.answered
    assert fx.DialUser(sup.leg, "1003", "85512345678") in effects
    return run, agent, sup.leg


def test_listen_the_supervisor_hears_both_and_nobody_hears_them() -> None:
    run, agent, sup = supervised("listen")
    effects = run.send(LegAnswered(sup))
    assert {e for e in effects if isinstance(e, fx.Listen)} == {
        fx.Listen(sup, CUST),
        fx.Listen(sup, agent),
    }
    assert not any(isinstance(e, fx.Bridge) for e in effects)
    assert fx.Supervised("listen", "ops") in effects
    assert run.state.supervisor is not None and run.state.supervisor.answered


def test_whisper_the_agent_alone_hears_the_supervisor() -> None:
    run, agent, sup = supervised("whisper")
    effects = run.send(LegAnswered(sup))
    assert fx.Listen(agent, sup) in effects
    assert fx.Listen(CUST, sup) not in effects


def test_barge_is_a_three_way_conversation() -> None:
    run, agent, sup = supervised("barge")
    effects = run.send(LegAnswered(sup))
    assert {e for e in effects if isinstance(e, fx.Bridge)} == {
        fx.Bridge(sup, CUST),
        fx.Bridge(sup, agent),
    }


def test_a_mode_change_rewires_only_the_difference() -> None:
    run, agent, sup = supervised("listen")
    run.send(LegAnswered(sup))
    effects = run.send(Supervise("whisper", "ops", user="1003"))
    media = [e for e in effects if isinstance(e, fx.Listen | fx.Unlisten | fx.Bridge)]
    assert media == [fx.Listen(agent, sup)]
    assert fx.Supervised("whisper", "ops") in effects
    effects = run.send(Supervise("barge", "ops", user="1003"))
    undone = {e for e in effects if isinstance(e, fx.Unlisten)}
    assert undone == {fx.Unlisten(sup, CUST), fx.Unlisten(sup, agent), fx.Unlisten(agent, sup)}
    assert {e for e in effects if isinstance(e, fx.Bridge)} == {
        fx.Bridge(sup, CUST),
        fx.Bridge(sup, agent),
    }
    assert not any(isinstance(e, fx.DialUser) for e in effects)  # the same phone


def test_the_supervisor_hanging_up_leaves_the_call_going() -> None:
    run, _, sup = supervised()
    run.send(LegAnswered(sup))
    effects = run.send(LegEnded(sup, 200, ""))
    assert run.state.phase == "connected" and run.state.supervisor is None
    assert not any(isinstance(e, fx.Hangup) for e in effects)


def test_a_supervisor_phone_not_reached_ends_only_the_supervision() -> None:
    run, _, sup = supervised()
    run.send(DialFailed(sup, "unreachable"))
    assert run.state.phase == "connected" and run.state.supervisor is None


def test_the_call_ending_hangs_the_supervisor_up() -> None:
    run, _, sup = supervised()
    run.send(LegAnswered(sup))
    effects = run.send(LegEnded(CUST, 200, ""))
    assert fx.Hangup(sup) in effects and run.state.phase == "ended"


def test_supervision_needs_a_live_conversation() -> None:
    run = inbound(CallPolicy())
    run.send(Begin())
    with pytest.raises(Rejected) as queued:
        run.send(Supervise("listen", "ops", user="1003"))
    assert queued.value.code == "not_answered" and queued.value.status == 409
    run = answered_inbound(CallPolicy())
    run.send(LegEnded(CUST, 200, ""))
    with pytest.raises(Rejected) as ended:
        run.send(Supervise("listen", "ops", user="1003"))
    assert ended.value.code == "call_ended"


def test_no_transfer_while_supervised() -> None:
    run, _, sup = supervised()
    run.send(LegAnswered(sup))
    with pytest.raises(Rejected) as refused:
        run.send(TransferTo("agent", "bob"))
    assert refused.value.code == "supervised"
    assert run.send(DtmfReceived(sup, "1")) == []  # the supervisor's keys do nothing


def test_every_mode_is_wired() -> None:
    assert set(WIRING) == {"listen", "whisper", "barge"}


def test_only_operators_may_supervise() -> None:
    template = "/api/v1/calls/{call_id}/supervise"
    assert access("operator", "POST", template) == "allow"
    assert access("agent", "POST", template) == "deny"
    assert access("technician", "POST", template) == "deny"
