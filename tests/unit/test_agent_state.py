"""Agent availability table and longest-idle-first ordering."""

import pytest

from actors.agent_state import TRANSITIONS, AgentState, apply, ring_order
from base.errors import ProtocolError


def test_ring_answer_hangup_wrap_up_cycle() -> None:
    a = apply(AgentState("alice"), "registered", 10.0)
    assert a.status == "available" and a.idle_since == 10.0
    a = apply(a, "ring", 11.0, "call1")
    assert a.status == "ringing" and a.current_call == "call1"
    a = apply(a, "answered", 12.0)
    a = apply(a, "hangup", 20.0)
    assert a.status == "wrap_up" and a.calls_handled == 1 and a.current_call is None
    a = apply(a, "wrap_up_done", 23.0)
    assert a.status == "available" and a.idle_since == 23.0


def test_unanswered_ring_returns_to_available() -> None:
    a = apply(apply(AgentState("a"), "registered", 1.0), "ring", 2.0, "c")
    a = apply(a, "no_answer", 3.0)
    assert a.status == "available" and a.current_call is None


def test_offline_agent_cannot_be_rung() -> None:
    with pytest.raises(ProtocolError):
        apply(AgentState("a"), "ring", 1.0, "c")


def test_longest_idle_first_with_skill_filter_falling_back_to_all() -> None:
    agents = [
        apply(AgentState("bob"), "registered", 5.0),
        apply(AgentState("alice"), "registered", 3.0),
        apply(AgentState("carol"), "registered", 1.0),
        AgentState("dave"),  # offline
    ]
    assert [a.agent_id for a in ring_order(agents)] == ["carol", "alice", "bob"]
    skills = {"bob": ["km"], "alice": ["th"], "carol": []}
    assert [a.agent_id for a in ring_order(agents, {"km"}, skills)] == ["bob"]
    assert [a.agent_id for a in ring_order(agents, {"fa"}, skills)] == ["carol", "alice", "bob"]


def test_table_targets_are_states() -> None:
    assert {t for row in TRANSITIONS.values() for t in row.values()} <= set(TRANSITIONS)
