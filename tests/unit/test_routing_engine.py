"""Routing engine rules found by the day simulation (tests/unit/test_day_simulation.py)."""

from __future__ import annotations

from actors.queue import QueueSettings, QueueState, WorkItem
from actors.routing import Accepted, AgentUpdate, AgentView, Enqueue, Offer, RouterState, decide

T = 1000.0


def agent(name: str, idle_since: float) -> AgentView:
    return AgentView(name, "available", idle_since=idle_since, signed_in=True, can_call=True)


def item(n: int) -> WorkItem:
    return WorkItem(f"i{n}", f"call:i{n}", "voice", f"c{n}", "q", T)


def test_an_item_taken_by_another_agent_frees_the_agent_it_was_offered_to() -> None:
    state = RouterState({"q": QueueState(QueueSettings("q"))})
    state, _ = decide(state, AgentUpdate(agent("ann", 1.0)), T)
    state, effects = decide(state, Enqueue(item(1)), T)
    assert effects[-1] == Offer("call:i1", "i1", "ann")
    # bob picks it up himself (after a router restart, a transfer, the desktop)
    state, _ = decide(state, Accepted("i1", "bob"), T + 1)
    assert "ann" not in state.offered
    state, effects = decide(state, Enqueue(item(2)), T + 2)
    assert Offer("call:i2", "i2", "ann") in effects  # ann is offered the next one
