"""The core: store + actor runtime + directory, the things every channel builds on.

The HTTP API and the channel drivers receive a :class:`Core`; they reach actors through
it (by messages), never through each other.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from actors.agent import AgentActor, AgentProfile, GetAgent, SetProfile
from actors.agent_state import AgentState
from actors.contact import ContactActor, ContactState, journey_actor_ids, journey_view
from actors.directory import Directory
from actors.messages import JOURNEY_KINDS, GetContact, MergeFrom, UndoMerge
from actors.modem import TELEMETRY_MAILBOX, ModemActor
from actors.router import ROUTER, GetQueues, RouterActor
from actors.routing import AgentUpdate, AgentView, Reconfigure, RoutingSettings
from actors.runtime import Registry
from base.clock import Clock, RealClock
from base.errors import Rejected
from switch.center.callbacks import Callbacks
from switch.center.conversations import Conversations
from switch.center.live import QueueMeter
from switch.center.presence import PresenceLog
from switch.center.queues import Queues, agent_view, queue_settings
from switch.config import Config
from switch.live import LiveFeed
from switch.phone import normalize_phone, phone_identity
from switch.store import Store
from switch.widget.service import WidgetService

if TYPE_CHECKING:
    from switch.calls import CallService
    from switch.calls.storage import RecordingGuard
    from switch.center.csat import CsatService
    from switch.reload.service import Reloader
    from switch.sms import SmsService

log = structlog.get_logger("core")


class Core:
    def __init__(self, config: Config, store: Store, clock: Clock) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        rt = config.runtime
        self.registry = Registry(
            clock,
            mailbox_size=rt.mailbox_size,
            hibernate_after=rt.hibernate_after,
            restart_max=rt.restart_max,
            restart_window=rt.restart_window,
        )
        snapshot_every = config.store.snapshot_every
        self.registry.register_kind(
            "contact",
            lambda aid, reg: ContactActor(aid, reg, store, snapshot_every=snapshot_every),
        )
        self.profiles = _profiles(config)
        self.registry.register_kind(
            "agent",
            lambda aid, reg: AgentActor(
                aid, reg, store, self.profiles.get(aid.partition(":")[2]), self._agent_changed
            ),
        )
        queues = queue_settings(config)
        ring = config.sip.ring_timeout if config.sip is not None else 20.0
        routing = _routing(config)
        self.registry.register_kind(
            "router",
            lambda aid, reg: RouterActor(aid, reg, store, queues, routing, offer_timeout=ring + 30),
        )
        self.queues = Queues(self.registry, queues)
        self.meter = QueueMeter({q.id: q.service_level for q in queues}, list(self.profiles))
        store.add_commit_listener(self.meter.committed)
        self.callbacks = Callbacks(self)
        self.conversations = Conversations(self)
        self.widget = WidgetService(self)  # the customers' web chat (switch/widget)
        self.registry.register_kind(
            "modem", ModemActor, mailbox_size=TELEMETRY_MAILBOX, overflow="drop_oldest"
        )
        self.directory = Directory(self.registry, store)
        self.presence = PresenceLog(store)
        self.live = LiveFeed(self)  # what the desktops see change (switch/live)
        # One merge (or unmerge) at a time: two crossing merges (A into B, B into A)
        # would each wait for the other's actor; in turn, the second sees the first.
        self._merging = asyncio.Lock()
        # Channel services, set once each has started (None: not configured / not up).
        self.sms: SmsService | None = None
        self.calls: CallService | None = None
        self.csat: CsatService | None = None  # surveys, when a queue asks for them
        self.reloader: Reloader | None = None  # set by the app (config reload)
        self.recordings: RecordingGuard | None = None  # with [sip] record_calls

    @classmethod
    async def open(cls, config: Config, clock: Clock | None = None) -> Core:
        store = await Store.open(Path(config.store.path), max_batch=config.store.group_commit_max)
        core = cls(config, store, clock or RealClock())
        core.registry.start_sweeper()
        await core.start_contact_center()
        return core

    async def start_contact_center(self) -> None:
        """Rebuild the queues from the store and have every agent report to them."""
        await self.registry.ask(ROUTER, GetQueues())
        for agent in self.config.agents:
            await self.registry.ask(f"agent:{agent.id}", GetAgent())
        await self.callbacks.recover()
        await self.conversations.recover()

    def _agent_changed(self, state: AgentState, profile: AgentProfile) -> None:
        self.presence.changed(state)
        try:
            self.registry.tell(ROUTER, AgentUpdate(agent_view(state, profile)))
        except Exception as exc:  # shutting down: nobody routes any more
            log.debug("agent_update_dropped", agent=state.agent_id, error=repr(exc))
        self.live.agent_changed(state)

    async def reconfigure(self, config: Config) -> None:
        """Run from ``config`` from now on (a reload: :mod:`switch.reload`). Only the
        contact center's parts change here (the plan kept the rest as it runs): agents'
        skills and capacity, the queues and the engine's settings, the conversations'
        timings, the calls' menus, routes and prompts. Calls and waiting customers go
        on; an agent gone from the config is signed out of the engine."""
        old = set(self.profiles)
        profiles = _profiles(config)
        self.config = config
        self.profiles.clear()
        self.profiles.update(profiles)  # the actors' factory reads this dict
        queues = queue_settings(config)
        self.queues.settings = {q.id: q for q in queues}
        self.meter.service_levels = {q.id: q.service_level for q in queues}
        self.meter.agents = list(profiles)
        self.conversations.reconfigure(config)
        await self.registry.ask(ROUTER, Reconfigure(tuple(queues), _routing(config)))
        for agent_id, profile in profiles.items():
            await self.registry.ask(f"agent:{agent_id}", SetProfile(profile))
        for gone in sorted(old - set(profiles)):
            self.registry.tell(ROUTER, AgentUpdate(AgentView(gone, "offline")))
        if self.calls is not None:
            self.calls.reconfigure(config)

    async def close(self) -> None:
        await self.widget.close()
        await self.live.close()
        await self.registry.close()
        self.presence.stopping(self.clock.now())
        await self.store.close()

    # ------------------------------------------------------------ contacts

    def normalize(self, raw: str) -> str:
        return normalize_phone(raw, self.config.numbers.default_region)

    async def contact_state(self, contact_id: str) -> ContactState:
        if not _valid_id(contact_id):
            raise Rejected("not_found", f"contact {contact_id!r} not found", 404)
        state: ContactState = await self.registry.ask(f"contact:{contact_id}", GetContact())
        if not state.exists:
            self.registry.hibernate(f"contact:{contact_id}")
            raise Rejected("not_found", f"contact {contact_id!r} not found", 404)
        return state

    async def contacts_by_phone(self, raw: str) -> list[ContactState]:
        """The live contact owning the number (never one merged away), or nobody."""
        identity = phone_identity(self.normalize(raw))
        found = self.directory.lookup(identity)
        seen: set[str] = set()
        while found is not None and found not in seen:
            seen.add(found)
            try:
                state = await self.contact_state(found)
            except Rejected:
                return []
            if state.merged_into is None:
                return [state]
            found = state.merged_into  # a record left pointing at a merged-away contact
        return []

    async def merge(self, into: str, other: str) -> ContactState:
        """Merge contact ``other`` into ``into``; 409 when either was merged away."""
        async with self._merging:
            await self.contact_state(into)
            await self.registry.ask(f"contact:{into}", MergeFrom(other, self.clock.now()))
        return await self.contact_state(into)

    async def unmerge(self, into: str, other: str) -> ContactState:
        async with self._merging:
            await self.contact_state(into)
            await self.registry.ask(f"contact:{into}", UndoMerge(other, self.clock.now()))
        return await self.contact_state(into)

    async def journey(self, contact_id: str) -> list[dict[str, Any]]:
        """The newest page of the journey (see :meth:`journey_page`)."""
        return (await self.journey_page(contact_id))[0]

    async def journey_page(
        self, contact_id: str, *, before: int | None = None, limit: int = 100
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Up to ``limit`` journey events before event ``before`` (the newest ones when
        None), oldest first, and the cursor of the older page (None: this is the first).
        Rejected 422 for a cursor that is not one of this contact's events."""
        await self.contact_state(contact_id)
        actors = journey_actor_ids(self.store, contact_id)
        try:
            events, more = self.store.events_page(
                actors, kinds=JOURNEY_KINDS, before=before, limit=limit
            )
        except ValueError:
            raise Rejected(
                "invalid_cursor", f"before={before} is not an event of this journey", 422
            ) from None
        return journey_view(events), (events[0].seq if more and events else None)


def _profiles(config: Config) -> dict[str, AgentProfile]:
    return {a.id: AgentProfile(frozenset(a.skills), a.max_chats) for a in config.agents}


def _routing(config: Config) -> RoutingSettings:
    return RoutingSettings(retry=config.routing.offer_retry, sticky_wait=config.routing.sticky_wait)


def _valid_id(contact_id: str) -> bool:
    return 0 < len(contact_id) <= 64 and all(c.isalnum() or c in "-_" for c in contact_id)
