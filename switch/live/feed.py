"""What feeds the live bus: agent changes, committed store writes, the queues' counts.

Three small hooks, no polling of actors but one:

- the agent actors' ``on_change`` (already there for the routing engine):
  :meth:`LiveFeed.agent_changed` publishes the agent's view; an agent who starts
  ringing gets an ``offer`` with the call and its contact's context;
- the store's commit listeners (:meth:`switch.store.Store.add_write_listener`): a committed
  journey event of a contact on somebody's screen becomes ``journey``; a call record
  ``call``; a conversation record ``conversation`` (and an ``offer`` when it is newly
  assigned to an agent); an audit entry ``audit``. What reaches the bus is durable;
- the router's counts: :meth:`LiveFeed.run_queues` asks the router for them once a
  second while someone listens, and at once (50 ms later) after any change that may
  move them, and publishes them when they differ.

Every hook is cheap and never raises into the actor or the store that calls it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import structlog

from actors.contact import journey_actor_ids, journey_view
from actors.messages import JOURNEY_KINDS
from actors.router import ROUTER, GetQueues
from actors.store import Committed, StoredEvent, Write
from base.errors import Rejected, SwitchError
from base.timestamps import iso_utc
from switch.audit import AUDIT_LOG
from switch.live.bus import Bus, LiveEvent
from switch.live.issues import open_issues

if TYPE_CHECKING:
    from actors.agent_state import AgentState
    from switch.core import Core

log = structlog.get_logger("live")

QUEUE_TICK = 1.0  # s between two looks at the queues' counts while someone listens
QUEUE_SETTLE = 0.05  # s after a change before looking
LAST_CONTACTS = 10
CONTEXT_EVENTS = 100
_CONTACT_KINDS = frozenset(
    {"message_in", "message_out", "call_started", "call_answered", "call_ended", "note"}
)


class LiveFeed:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.bus = Bus()
        self._ringing: dict[str, str | None] = {}  # agent -> the call ringing them
        self._assigned: dict[str, str | None] = {}  # conversation key -> its agent
        self._queues: list[dict[str, Any]] | None = None
        self._poke: asyncio.Event | None = None
        self._poller: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        core.store.add_write_listener(self.on_commit)

    # --------------------------------------------------------------- hooks

    def agent_changed(self, state: AgentState) -> None:
        """The agent actor's change hook (called in its turn: publish, never wait)."""
        from switch.center.api import agent_json

        agent = state.agent_id
        try:
            view = agent_json(self.core, state)
        except StopIteration:  # an agent no longer in the config
            return
        self.bus.publish(LiveEvent("agent", view, agent=agent))
        call = state.current_call if state.work == "ringing" else None
        if call is not None and self._ringing.get(agent) != call and self.bus.listeners:
            self._spawn(self._offer_call(agent, call, self.core.clock.now()))
        self._ringing[agent] = call
        self.poke()

    def on_commit(self, write: Write, committed: Committed) -> None:
        """The store's commit listener: what became durable, for the screens."""
        watched = self.bus.watched() if self.bus.listeners else set()
        for event, seq in zip(write.events, committed.seqs, strict=False):
            if event.actor == AUDIT_LOG:
                entry = {"id": seq, "at": iso_utc(event.at), **event.data}
                self.bus.publish(LiveEvent("audit", entry))
                continue
            contact = event.actor.removeprefix("contact:")
            if contact == event.actor or event.kind not in JOURNEY_KINDS:
                continue
            if contact in watched:
                stored = StoredEvent(seq, event.actor, event.kind, event.at, event.data)
                view = journey_view([stored])[0]
                self.bus.publish(
                    LiveEvent("journey", {"contact_id": contact, "event": view}, contact=contact)
                )
        for put in write.puts:
            if put.ns == "call" and isinstance(put.value, dict):
                record = put.value
                transfer = record.get("transfer") or {}
                self.bus.publish(
                    LiveEvent(
                        "call",
                        record,
                        agent=record.get("agent") or self._ringing_agent(put.key),
                        contact=record.get("contact_id"),
                        also=transfer.get("from_agent"),
                    )
                )
                self.poke()
            elif put.ns == "conversation" and isinstance(put.value, dict):
                self._conversation(put.key, put.value)

    def _ringing_agent(self, call_id: str) -> str | None:
        return next((a for a, c in self._ringing.items() if c == call_id), None)

    def _conversation(self, key: str, record: dict[str, Any]) -> None:
        from switch.center.conversations import public

        view = public(record)
        agent = record.get("agent") if record.get("state") == "assigned" else None
        self.bus.publish(
            LiveEvent("conversation", view, agent=record.get("agent"), contact=view["contact_id"])
        )
        if agent is not None and self._assigned.get(key) != agent and self.bus.listeners:
            self._spawn(self._offer_conversation(agent, view, self.core.clock.now()))
        self._assigned[key] = agent
        self.poke()

    # -------------------------------------------------------------- offers

    async def _offer_call(self, agent: str, call_id: str, offered_at: float) -> None:
        calls = self.core.calls
        record: dict[str, Any] | None = None
        if calls is not None and call_id in calls.states:
            from switch.calls.records import call_record

            record = call_record(calls.states[call_id], calls.recordings)
        if record is None:
            stored = self.core.store.get("call", call_id)
            record = stored if isinstance(stored, dict) else None
        contact_id = record.get("contact_id") if record else None
        context = await self.context(contact_id, call_id) if contact_id else None
        data = {
            "kind": "call",
            "call": record,
            "contact": context,
            "offered_at": iso_utc(offered_at),
            "offered_ts": offered_at,
        }
        self.bus.publish(LiveEvent("offer", data, agent=agent, contact=contact_id))

    async def _offer_conversation(
        self, agent: str, conversation: dict[str, Any], offered_at: float
    ) -> None:
        contact_id = conversation["contact_id"]
        data = {
            "kind": "conversation",
            "conversation": conversation,
            "contact": await self.context(contact_id),
            "offered_at": iso_utc(offered_at),
            "offered_ts": offered_at,
        }
        self.bus.publish(LiveEvent("offer", data, agent=agent, contact=contact_id))

    async def context(self, contact_id: str, call_id: str | None = None) -> dict[str, Any] | None:
        """What an agent wants to know before answering: who, their numbers, their last
        contacts, the IVR choices of this call, their CSAT history, their open issues."""
        from switch.api.contacts import contact_view
        from switch.phone import display_forms

        core = self.core
        try:
            state = await core.contact_state(contact_id)
        except Rejected:
            return None
        actors = journey_actor_ids(core.store, contact_id)
        events, _ = core.store.events_page(actors, kinds=JOURNEY_KINDS, limit=CONTEXT_EVENTS)
        journey = journey_view(events)
        csat_events, _ = core.store.events_page(actors, kinds=frozenset({"csat"}), limit=20)
        wrap_ups, _ = core.store.events_page(actors, kinds=frozenset({"wrap_up"}), limit=50)
        phones = [i.removeprefix("phone:") for i in state.identities if i.startswith("phone:")]
        callbacks = await core.callbacks.of_phones(set(phones)) if phones else []
        region = core.config.numbers.default_region
        ivr = [e for e in journey if e["kind"] == "ivr_choice"]
        if call_id is not None:
            ivr = [e for e in ivr if e.get("call_id") in (None, call_id)]
        return {
            **contact_view(state).model_dump(),
            "numbers": [display_forms(number, region) for number in phones],
            "last_contacts": [e for e in journey if e["kind"] in _CONTACT_KINDS][-LAST_CONTACTS:],
            "ivr": ivr[-5:],
            "csat": journey_view(csat_events),
            "open_issues": open_issues(journey_view(wrap_ups), callbacks),
            "last_agent": state.last_agent,
        }

    # -------------------------------------------------------------- queues

    def poke(self) -> None:
        if self._poke is not None:
            self._poke.set()

    def ensure_running(self) -> None:
        """Start looking at the queues (the first desktop connected)."""
        if self._poller is None or self._poller.done():
            self._poke = asyncio.Event()
            self._poller = asyncio.create_task(self.run_queues(), name="live:queues")

    def queues_now(self) -> list[dict[str, Any]] | None:
        return self._queues

    async def run_queues(self) -> None:
        from switch.center.api import queue_summary, queue_visible

        poke = self._poke
        assert poke is not None
        while self.bus.listeners:
            try:
                rows: list[dict[str, Any]] = await self.core.registry.ask(ROUTER, GetQueues())
            except SwitchError as exc:  # shutting down
                log.info("live_queues_stopped", error=str(exc))
                return
            summary = [queue_summary(r) for r in rows if queue_visible(r["id"])]
            if summary != self._queues:
                self._queues = summary
                self.bus.publish(LiveEvent("queues", summary))
            poke.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(poke.wait(), QUEUE_TICK)
            if poke.is_set():
                await asyncio.sleep(QUEUE_SETTLE)
        self._queues = None

    # ------------------------------------------------------------- helpers

    def _spawn(self, work: Any) -> None:
        try:
            task = asyncio.get_running_loop().create_task(work)
        except RuntimeError:  # no loop (closing): nobody is watching either
            work.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("live_offer_failed", error=repr(task.exception()))

    async def close(self) -> None:
        for task in [*self._tasks, *([self._poller] if self._poller else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
