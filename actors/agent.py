"""The agent actor: one agent's availability, driven by :mod:`actors.agent_state`.

Work and reach events (a ring, an answer, a phone registering) arrive as
:class:`AgentEvent`; the agent's own wishes (available, break with a reason, offline)
as :class:`SetIntent`; open chat/SMS conversations as :class:`ChatOpened` /
:class:`ChatClosed`. An event the table does not allow in the current state is logged
and ignored (a late ``no_answer`` after the agent already answered elsewhere must not
break the call plane); a ring the agent cannot take is refused with
:class:`AgentUnavailable` so the caller's queue offers the call to someone else.

Durable: the agent's intent (so a break survives a restart), calls handled (longest
idle and daily counts). Every change is reported to ``on_change`` (the routing engine
keeps a view of every agent); a wrap-up ends by itself after its time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import structlog

from actors.agent_state import (
    AgentState,
    Intent,
    apply,
    can,
    close_chat,
    open_chat,
    set_intent,
)
from actors.runtime import Actor, Registry
from actors.store import EventStore
from base.clock import TimerHandle
from base.errors import Rejected

log = structlog.get_logger("agent")


@dataclass(frozen=True, slots=True)
class AgentEvent:
    event: str
    at: float
    call_id: str | None = None
    wrap_up: float | None = None  # hangup: seconds of wrap-up (the queue's)


@dataclass(frozen=True, slots=True)
class SetIntent:
    intent: Intent
    at: float
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ChatOpened:
    item: str
    at: float


@dataclass(frozen=True, slots=True)
class ChatClosed:
    item: str
    at: float


@dataclass(frozen=True, slots=True)
class GetAgent:
    pass


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """What the agent actor knows from the config."""

    skills: frozenset[str] = frozenset()
    max_chats: int = 3
    wrap_up: float = 3.0  # default wrap-up after a call


@dataclass(frozen=True, slots=True)
class SetProfile:
    """The config was reloaded: the agent's skills and capacity from now on."""

    profile: AgentProfile


class AgentUnavailable(Rejected):
    def __init__(self, agent: str, status: str) -> None:
        super().__init__("agent_unavailable", f"agent {agent} is {status}", 409)
        self.agent_status = status


_STATE_NAMES: dict[str, Intent] = {"available": "ready", "break": "break", "offline": "offline"}
OnChange = Callable[[AgentState, AgentProfile], None]


def intent_for(state: str) -> Intent:
    """The intent of an API state name (``available`` / ``break`` / ``offline``)."""
    if state not in _STATE_NAMES:
        raise Rejected(
            "invalid_state", f"state must be available, break or offline, not {state!r}", 422
        )
    return _STATE_NAMES[state]


class AgentActor(Actor):
    __slots__ = ("on_change", "profile", "state", "store", "wrap_timer")

    def __init__(
        self,
        actor_id: str,
        registry: Registry,
        store: EventStore,
        profile: AgentProfile | None = None,
        on_change: OnChange | None = None,
    ) -> None:
        super().__init__(actor_id, registry)
        self.store = store
        self.profile = profile or AgentProfile()
        self.on_change = on_change
        self.state = AgentState(actor_id.partition(":")[2])
        self.wrap_timer: TimerHandle | None = None

    async def start(self) -> None:
        _, events = self.store.load_actor(self.actor_id)
        handled = 0
        intent: Intent = "ready"
        reason: str | None = None
        for e in events:
            if e.kind == "call_handled":
                handled += 1
            elif e.kind == "intent_set":
                intent, reason = e.data["intent"], e.data.get("reason")
        now = self.registry.clock.now()
        self.state = replace(
            self.state, calls_handled=handled, intent=intent, reason=reason, since=now
        )
        self._changed()

    def idle(self) -> bool:
        return False  # agents are few and always wanted: they stay in memory

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self.state, self.profile)

    async def handle(self, message: Any) -> Any:
        match message:
            case GetAgent():
                return self.state
            case SetProfile(profile=profile):
                if profile != self.profile:
                    self.profile = profile
                    self._changed()  # the engine matches with the new skills
                return self.state
            case AgentEvent(event=event, at=at, call_id=call_id):
                return await self._event(event, at, call_id, message.wrap_up)
            case SetIntent(intent=intent, at=at, reason=reason):
                new = set_intent(self.state, intent, reason, at)
                if (new.intent, new.reason, new.pending) != (
                    self.state.intent,
                    self.state.reason,
                    self.state.pending,
                ):
                    await self._record_intent(new, at)
                if new.work == "idle" and self.state.work == "wrap_up":
                    self._cancel_wrap_up()
                return self._adopt(new)
            case ChatOpened(item=item, at=at):
                if item not in self.state.chats and not self.state.can_take_chat(
                    self.profile.max_chats
                ):
                    raise AgentUnavailable(self.state.agent_id, self.state.status)
                return self._adopt(open_chat(self.state, item, at))
            case ChatClosed(item=item, at=at):
                return self._adopt(close_chat(self.state, item, at))
        raise TypeError(f"agent cannot handle {type(message).__name__}")

    async def _event(
        self, event: str, at: float, call_id: str | None, wrap_up: float | None
    ) -> AgentState:
        if not can(self.state, event):
            if event == "ring":
                raise AgentUnavailable(self.state.agent_id, self.state.status)
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
            self._start_wrap_up(self.profile.wrap_up if wrap_up is None else wrap_up)
        if event == "missed":
            await self._record_intent(new, at)
        if new.intent != self.state.intent and event != "missed":
            await self._record_intent(new, at)  # a pending break taking effect
        return self._adopt(new)

    def _adopt(self, new: AgentState) -> AgentState:
        changed = new != self.state
        self.state = new
        if changed:
            self._changed()
        return new

    async def _record_intent(self, state: AgentState, at: float) -> None:
        data: dict[str, Any] = {"intent": state.intent, "reason": state.reason}
        if state.pending is not None:
            data["pending"] = list(state.pending)
        await self.store.append(self.actor_id, "intent_set", data, at)

    def _start_wrap_up(self, seconds: float) -> None:
        self._cancel_wrap_up()
        at = self.registry.clock.now() + seconds
        self.wrap_timer = self.registry.schedule(
            self.actor_id, seconds, AgentEvent("wrap_up_done", at)
        )

    def _cancel_wrap_up(self) -> None:
        if self.wrap_timer is not None:
            self.wrap_timer.cancel()
            self.wrap_timer = None
