"""Agent availability: the state machine that decides who may be offered work.

Rules: everything that changes an agent's availability lives here; it knows nothing of
SIP (a phone's registration arrives as an event) or of clocks (``now`` is passed in).
It imports nothing of ours but ``base``.

Theory of operation
-------------------
An agent's state has three parts:

- the *work* of their voice channel, a table (:data:`TRANSITIONS`): ``idle`` ->
  ``ringing`` (a call is offered; nobody else rings them meanwhile) -> ``busy`` (they
  answered) -> ``wrap_up`` (notes, forms; a timer ends it) -> ``idle``. A ring not
  answered returns to ``idle`` (``no_answer``), or, with ``missed``, also puts the agent
  on break with the reason ``missed``, so an absent agent is not rung again and again;
- their *intent*: ``ready``, ``break`` (with a reason) or ``offline`` (signed out),
  set by the agent (API, desktop). A change asked while they work takes effect when the
  work ends (``pending``);
- their *reach*: a registered phone (the edge tells) and, later, a signed-in browser.

What the API shows as ``state`` follows from them: ``ringing``/``busy``/``wrap_up``
while there is voice work; ``busy`` while they have open chats or SMS conversations and
no call; otherwise ``offline`` (signed out, or no phone reachable), ``break``, or
``available``. "Longest idle first" orders available agents by when they last became
available.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from base.errors import ProtocolError

Work = Literal["idle", "ringing", "busy", "wrap_up"]
Intent = Literal["ready", "break", "offline"]
Status = Literal["offline", "available", "ringing", "busy", "wrap_up", "break"]
STATUSES: tuple[Status, ...] = ("offline", "available", "ringing", "busy", "wrap_up", "break")

# The voice channel's work: {work: {event: next work}}.
TRANSITIONS: dict[Work, dict[str, Work]] = {
    "idle": {"ring": "ringing", "busy_elsewhere": "busy"},
    "ringing": {"answered": "busy", "no_answer": "idle", "missed": "idle"},
    "busy": {"hangup": "wrap_up"},
    "wrap_up": {"wrap_up_done": "idle", "ring": "ringing", "busy_elsewhere": "busy"},
}
# Events about reach and intent, allowed whatever the work.
REACH_EVENTS = frozenset({"registered", "unregistered"})


@dataclass(frozen=True, slots=True)
class AgentState:
    agent_id: str
    work: Work = "idle"
    intent: Intent = "ready"
    reason: str | None = None  # the break's reason
    pending: tuple[Intent, str | None] | None = None  # asked while working
    phone: bool = False  # a registered phone
    chats: frozenset[str] = frozenset()  # open chat/SMS conversations (work item ids)
    idle_since: float = 0.0
    since: float = 0.0  # when ``status`` last changed
    calls_handled: int = 0
    current_call: str | None = None

    @property
    def reachable(self) -> bool:
        return self.phone

    @property
    def status(self) -> Status:
        if self.work != "idle":
            return self.work
        if self.chats:
            return "busy"
        if self.intent == "offline" or not self.reachable:
            return "offline"
        if self.intent == "break":
            return "break"
        return "available"

    def can_take_call(self) -> bool:
        return self.status == "available" or (
            self.work == "wrap_up" and self.intent == "ready" and not self.chats
        )

    def can_take_chat(self, max_chats: int) -> bool:
        return (
            self.work == "idle"
            and self.intent == "ready"
            and self.reachable
            and len(self.chats) < max_chats
        )


def _settle(old: AgentState, new: AgentState, now: float) -> AgentState:
    """Apply a pending intent once the work is over; keep the clocks right."""
    if new.work == "idle" and new.pending is not None and not new.chats:
        intent, reason = new.pending
        new = replace(new, intent=intent, reason=reason, pending=None)
    if new.status != old.status:
        new = replace(new, since=now)
        if new.status == "available":
            new = replace(new, idle_since=now)
    return new


def apply(agent: AgentState, event: str, now: float, call_id: str | None = None) -> AgentState:
    """The agent after a work or reach event; :class:`ProtocolError` if not allowed."""
    if event in REACH_EVENTS:
        return _settle(agent, replace(agent, phone=event == "registered"), now)
    row = TRANSITIONS[agent.work]
    if event not in row:
        raise ProtocolError(f"agent {agent.agent_id}: {event!r} while {agent.work!r}")
    if event == "ring" and not agent.can_take_call():
        raise ProtocolError(f"agent {agent.agent_id} is {agent.status}: cannot ring")
    new = replace(agent, work=row[event])
    if event in ("ring", "busy_elsewhere"):
        new = replace(new, current_call=call_id)
    elif event in ("no_answer", "missed"):
        new = replace(new, current_call=None)
        if event == "missed":
            new = replace(new, intent="break", reason="missed", pending=None)
    elif event == "hangup":
        new = replace(new, calls_handled=agent.calls_handled + 1, current_call=None)
    return _settle(agent, new, now)


def can(agent: AgentState, event: str) -> bool:
    if event in REACH_EVENTS:
        return True
    if event == "ring" and not agent.can_take_call():
        return False
    return event in TRANSITIONS[agent.work]


def set_intent(agent: AgentState, intent: Intent, reason: str | None, now: float) -> AgentState:
    """The agent asks to be available, on break or offline. While they work (a call or
    its wrap-up), a break or offline waits for the end; ``ready`` during wrap-up ends
    the wrap-up at once."""
    if intent == "ready" and agent.work == "wrap_up":
        new = replace(agent, work="idle", intent="ready", reason=None, pending=None)
        return _settle(agent, new, now)
    if agent.work != "idle" and intent != "ready":
        return replace(agent, pending=(intent, reason))
    new = replace(agent, intent=intent, reason=reason if intent == "break" else None, pending=None)
    return _settle(agent, new, now)


def open_chat(agent: AgentState, item: str, now: float) -> AgentState:
    return _settle(agent, replace(agent, chats=agent.chats | {item}), now)


def close_chat(agent: AgentState, item: str, now: float) -> AgentState:
    return _settle(agent, replace(agent, chats=agent.chats - {item}), now)


def ring_order(
    agents: list[AgentState],
    skill_filter: set[str] | None = None,
    skills: dict[str, list[str]] | None = None,
) -> list[AgentState]:
    """Available agents, longest idle first; restricted to a skill when one is asked
    (falling back to everyone available when nobody has it)."""
    ready = [a for a in agents if a.status == "available"]
    if skill_filter and skills is not None:
        skilled = [a for a in ready if skill_filter & set(skills.get(a.agent_id, ()))]
        ready = skilled or ready
    return sorted(ready, key=lambda a: (a.idle_since, a.agent_id))
