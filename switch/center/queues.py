"""The routing engine as the channels use it: join, leave, accept, decline.

:func:`queue_settings` maps the config to the engine's queues: every configured
``[[queues]]`` entry, the implicit ``default`` queue (any agent: where a number without
a route leads) and one queue per agent (``agent:<id>``, for routes straight to an
agent). The implicit ones keep their items' places like any queue but write nothing in
the customers' journeys (the customer never chose them). :func:`agent_view` is what an
agent's actor reports to the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actors.agent import AgentProfile
from actors.agent_state import AgentState
from actors.messages import GetContact
from actors.queue import QueueSettings, WorkItem
from actors.router import ROUTER
from actors.routing import Accepted, AgentView, Declined, Enqueue, Withdraw
from actors.runtime import Registry
from actors.schedule import parse_schedule

if TYPE_CHECKING:
    from actors.call import CallState
    from switch.config import Config

DEFAULT_QUEUE = "default"


def queue_settings(config: Config) -> list[QueueSettings]:
    hours = {s.id: parse_schedule(s.id, s.timezone, s.weekly, s.holidays) for s in config.schedules}
    queues = [
        QueueSettings(
            id=q.id,
            skills=frozenset(q.skills),
            max_wait=q.max_wait,
            callback=q.callback,
            service_level=q.service_level,
            wrap_up=q.wrap_up,
            hours=hours[q.hours] if q.hours else None,
        )
        for q in config.queues
    ]
    if DEFAULT_QUEUE not in {q.id for q in queues}:
        queues.append(QueueSettings(DEFAULT_QUEUE, journal=False))
    queues += [
        QueueSettings(f"agent:{a.id}", only_agent=a.id, journal=False) for a in config.agents
    ]
    return queues


def agent_view(state: AgentState, profile: AgentProfile) -> AgentView:
    return AgentView(
        id=state.agent_id,
        status=state.status,
        skills=profile.skills,
        idle_since=state.idle_since,
        signed_in=state.reachable and state.intent != "offline",
        can_call=state.status == "available",
        can_chat=state.can_take_chat(profile.max_chats),
    )


class Queues:
    """The engine's front door for the channels (calls now; SMS, chat, callbacks)."""

    def __init__(self, registry: Registry, settings: list[QueueSettings]) -> None:
        self.registry = registry
        self.settings = {q.id: q for q in settings}

    def wrap_up(self, queue: str) -> float | None:
        settings = self.settings.get(queue)
        return settings.wrap_up if settings is not None else None

    def has(self, queue: str) -> bool:
        return queue in self.settings

    async def last_agent(self, contact_id: str) -> str | None:
        state: Any = await self.registry.ask(f"contact:{contact_id}", GetContact())
        return getattr(state, "last_agent", None)

    async def join(self, call: CallState, queue: str, skill: str | None, queued_at: float) -> None:
        item = WorkItem(
            id=call.id,
            owner=f"call:{call.id}",
            kind="voice",
            contact_id=call.contact_id,
            queue=queue if queue in self.settings else DEFAULT_QUEUE,
            enqueued_at=queued_at,
            skill=skill,
            # back from a transfer away from an agent: not to that agent again
            sticky=None if call.requeued_from else await self.last_agent(call.contact_id),
            phone=call.number,
        )
        await self.registry.ask(ROUTER, Enqueue(item))

    async def leave(self, item_id: str, reason: Any) -> None:
        await self.registry.ask(ROUTER, Withdraw(item_id, reason))

    async def accept(self, item_id: str, agent: str) -> None:
        await self.registry.ask(ROUTER, Accepted(item_id, agent))

    def decline(self, item_id: str, agent: str, reason: str) -> None:
        self.registry.tell(ROUTER, Declined(item_id, agent, reason))
