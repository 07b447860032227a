"""The agent actor: one agent's availability, driven by :mod:`actors.agent_state`.

Registration changes and call phases arrive as :class:`AgentEvent` messages; an event
the table does not allow in the current state is logged and ignored (a late
``no_answer`` after the agent already answered elsewhere must not break the call
plane). Calls handled are recorded durably so "longest idle" and daily counts survive
a restart.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import structlog

from actors.agent_state import AgentState, apply, can
from actors.runtime import Actor, Registry
from actors.store import EventStore

log = structlog.get_logger("agent")


@dataclass(frozen=True, slots=True)
class AgentEvent:
    event: str
    at: float
    call_id: str | None = None


@dataclass(frozen=True, slots=True)
class GetAgent:
    pass


class AgentActor(Actor):
    __slots__ = ("state", "store")

    def __init__(self, actor_id: str, registry: Registry, store: EventStore) -> None:
        super().__init__(actor_id, registry)
        self.store = store
        self.state = AgentState(actor_id.partition(":")[2])

    async def start(self) -> None:
        _, events = self.store.load_actor(self.actor_id)
        handled = sum(1 for e in events if e.kind == "call_handled")
        self.state = replace(self.state, calls_handled=handled)

    def idle(self) -> bool:
        return self.state.status == "offline"

    async def handle(self, message: Any) -> Any:
        match message:
            case GetAgent():
                return self.state
            case AgentEvent(event=event, at=at, call_id=call_id):
                if not can(self.state, event):
                    log.info(
                        "agent_event_ignored",
                        agent=self.state.agent_id,
                        agent_event=event,
                        status=self.state.status,
                    )
                    return self.state
                new = apply(self.state, event, at, call_id)
                if event == "hangup":
                    await self.store.append(
                        self.actor_id, "call_handled", {"call_id": self.state.current_call}, at
                    )
                self.state = new
                return new
        raise TypeError(f"agent cannot handle {type(message).__name__}")
