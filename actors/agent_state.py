"""Agent availability: the state machine that decides who may be rung.

Rules: everything that changes an agent's availability lives here; it knows nothing of
SIP (registration arrives as an event) or of clocks (``now`` is passed in).

Theory of operation: an agent whose phone is not registered is ``offline``. A
registered agent is ``available``; ringing their phone makes them ``ringing`` (nobody
else rings them meanwhile); answering makes them ``busy``; hanging up puts them in
``wrap_up`` for a few seconds (notes, forms) and then back to ``available``. A ring
that is not answered returns them to ``available``. "Longest idle first" orders
available agents by the time they last became available.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from base.errors import ProtocolError

TRANSITIONS: dict[str, dict[str, str]] = {
    "offline": {"registered": "available", "unregistered": "offline"},
    "available": {
        "ring": "ringing",
        "unregistered": "offline",
        "registered": "available",
        "busy_elsewhere": "busy",
    },
    "ringing": {
        "answered": "busy",
        "no_answer": "available",
        "unregistered": "offline",
        "registered": "ringing",
    },
    "busy": {"hangup": "wrap_up", "registered": "busy", "unregistered": "busy"},
    "wrap_up": {
        "wrap_up_done": "available",
        "registered": "wrap_up",
        "ring": "ringing",
        "unregistered": "offline",
        "busy_elsewhere": "busy",
    },
}


@dataclass(frozen=True, slots=True)
class AgentState:
    agent_id: str
    status: str = "offline"
    idle_since: float = 0.0
    calls_handled: int = 0
    current_call: str | None = None


def apply(agent: AgentState, event: str, now: float, call_id: str | None = None) -> AgentState:
    row = TRANSITIONS[agent.status]
    if event not in row:
        raise ProtocolError(f"agent {agent.agent_id}: {event!r} while {agent.status!r}")
    status = row[event]
    changes: dict[str, object] = {"status": status}
    if status == "available" and agent.status != "available":
        changes["idle_since"] = now
    if event in ("ring", "busy_elsewhere"):
        changes["current_call"] = call_id
    if event == "hangup":
        changes["calls_handled"] = agent.calls_handled + 1
        changes["current_call"] = None
    if event in ("no_answer", "unregistered") and status != "busy":
        changes["current_call"] = None
    return replace(agent, **changes)  # type: ignore[arg-type]


def can(agent: AgentState, event: str) -> bool:
    return event in TRANSITIONS[agent.status]


def ring_order(
    agents: list[AgentState],
    skill_filter: set[str] | None = None,
    skills: dict[str, list[str]] | None = None,
) -> list[AgentState]:
    """Available agents, longest idle first; restricted to a skill when one is asked."""
    ready = [a for a in agents if a.status == "available"]
    if skill_filter and skills is not None:
        skilled = [a for a in ready if skill_filter & set(skills.get(a.agent_id, ()))]
        ready = skilled or ready
    return sorted(ready, key=lambda a: (a.idle_since, a.agent_id))
