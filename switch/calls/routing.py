"""Agents as calls reach them, and the way out to a number.

:class:`AgentRouter` sends agents the events of calls (ring, answered, hangup...) and
claims an available agent for a transfer under one lock, so two transfers never ring the
same agent. Which agent a waiting caller gets is the routing engine's decision
(:mod:`actors.routing`). The outbound route of a number is a trunk (by prefix) or a
voice modem.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Protocol

from actors.agent import AgentEvent, GetAgent
from actors.agent_state import AgentState
from actors.runtime import Registry
from base.clock import Clock
from base.errors import Rejected
from drivers.sip import TrunkSettings


class AgentRouter:
    def __init__(self, registry: Registry, clock: Clock, skills: Mapping[str, Sequence[str]]):
        self.registry = registry
        self.clock = clock
        self.skills = {agent: list(s) for agent, s in skills.items()}
        self._lock = asyncio.Lock()

    async def state(self, agent_id: str) -> AgentState:
        state: AgentState = await self.registry.ask(f"agent:{agent_id}", GetAgent())
        return state

    async def states(self) -> list[AgentState]:
        return [await self.state(agent_id) for agent_id in self.skills]

    async def event(
        self,
        agent_id: str,
        event: str,
        call_id: str | None = None,
        *,
        wrap_up: float | None = None,
    ) -> AgentState:
        state: AgentState = await self.registry.ask(
            f"agent:{agent_id}", AgentEvent(event, self.clock.now(), call_id, wrap_up)
        )
        return state

    async def claim(self, agent_id: str, call_id: str) -> AgentState:
        """Mark ``agent_id`` ringing for ``call_id`` if available (a transfer's target)."""
        async with self._lock:
            state = await self.state(agent_id)
            if state.status == "available":
                state = await self.event(agent_id, "ring", call_id)
            return state


class VoiceModems(Protocol):
    """The modems as outgoing calls see them (the SMS service)."""

    def voice_modem(self, number: str) -> tuple[bool, str] | None: ...


def choose_trunk(trunks: Sequence[TrunkSettings], number: str) -> TrunkSettings:
    """The trunk for ``number``: the longest matching prefix (no prefixes: any number)."""
    best: tuple[int, TrunkSettings] | None = None
    for trunk in trunks:
        for prefix in trunk.prefixes or ("",):
            if number.startswith(prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), trunk)
    if best is None:
        raise Rejected("no_route", f"no trunk routes {number}", 422)
    return best[1]


def choose_route(
    trunks: Sequence[TrunkSettings], modems: VoiceModems | None, number: str
) -> tuple[str, str]:
    """Where a call to ``number`` goes out: ``("trunk", id)`` or ``("modem", id)``.

    1. the trunk whose ``prefixes`` match (longest prefix);
    2. a voice modem (voice profile and PCM port) whose ``[sms] routes`` prefix
       matches (longest);
    3. the first trunk without ``prefixes`` (it takes any number);
    4. the ``[sms] default_modem`` when it has voice, else the first voice modem.
    """
    best: tuple[int, TrunkSettings] | None = None
    catch_all: TrunkSettings | None = None
    for trunk in trunks:
        if not trunk.prefixes:
            catch_all = catch_all or trunk
        for prefix in trunk.prefixes:
            if number.startswith(prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), trunk)
    if best is not None:
        return "trunk", best[1].id
    modem = modems.voice_modem(number) if modems is not None else None
    if modem is not None and modem[0]:
        return "modem", modem[1]
    if catch_all is not None:
        return "trunk", catch_all.id
    if modem is not None:
        return "modem", modem[1]
    raise Rejected("no_route", f"no trunk or voice modem routes {number}", 422)
