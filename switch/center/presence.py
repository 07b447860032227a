"""Agents' presence log: every change of an agent's status, as an event in the agent's
own presence log (``presence:<agent>``, kind ``agent_status``).

The statistics read it for occupancy (busy time over signed-in time) and for the
wrap-up that follows each call (:mod:`actors.kpis`). An event says the status from its
time on: ``{"status", "reason"?, "call"?}``; ``call`` names the call an agent rings
for, talks on or wraps up after. Writes are submitted in the order the changes happen
and never awaited: presence must not slow the agents down, and a failed write is logged
with what was lost. A clean stop records every agent offline; after a kill the time
until the next start counts in the status the agent had.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from actors.agent_state import AgentState
from actors.kpis import BUSY_STATUSES, STATUS_KIND
from actors.store import Committed, Event, EventStore, StoreClosed, Write

log = structlog.get_logger("presence")


class PresenceLog:
    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.status: dict[str, str] = {}
        self.calls: dict[str, str] = {}  # agent -> the call of their current work

    def changed(self, state: AgentState) -> None:
        agent = state.agent_id
        if state.current_call is not None:
            self.calls[agent] = state.current_call
        status = state.status
        if self.status.get(agent) == status:
            return
        self.status[agent] = status
        data: dict[str, Any] = {"status": status}
        if status == "break" and state.reason is not None:
            data["reason"] = state.reason
        call = state.current_call or self.calls.get(agent)
        if status in BUSY_STATUSES and call is not None and state.work != "idle":
            data["call"] = call
        if state.work == "idle":
            self.calls.pop(agent, None)
        self._record(agent, state.since, data)

    def stopping(self, now: float) -> None:
        """The switch stops: nobody is reachable any more."""
        for agent, status in list(self.status.items()):
            if status != "offline":
                self.status[agent] = "offline"
                self._record(agent, now, {"status": "offline"})

    def _record(self, agent: str, at: float, data: dict[str, Any]) -> None:
        write = Write(events=(Event(f"presence:{agent}", STATUS_KIND, at, data),))
        try:
            future = self.store.submit(write)
        except StoreClosed:
            log.warning("presence_not_recorded", agent=agent, status=data["status"])
            return

        def done(f: asyncio.Future[Committed]) -> None:
            if f.cancelled() or f.exception() is not None:
                log.error(
                    "presence_not_recorded",
                    agent=agent,
                    status=data["status"],
                    error=None if f.cancelled() else repr(f.exception()),
                )

        future.add_done_callback(done)
