"""Callbacks: the shell around :mod:`actors.callback` and the API's ``/callbacks``.

A callback is asked for by the API (``POST /api/v1/callbacks``), by a caller pressing 1
in a queue that offers it, or by an SMS; it is durable before the answer: its record
(``callback`` records), its own log (``callback:<id>``) and its place in the queue's log
are written before the 202 or the confirmation SMS. An SMS confirms the place in the
customer's language. At start, every callback not yet done or failed is recovered (a
call it had in progress died with the switch: it goes back to its place).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from actors import callback as cb
from actors.agent import SetIntent
from actors.messages import JourneyEntry
from actors.router import ROUTER, GetItem
from actors.routing import Accepted, Declined, Enqueue, Withdraw
from actors.runtime import Actor, Registry
from actors.store import Event, Put, Write
from base.errors import ChannelUnavailable, Rejected
from switch.calls.records import iso
from switch.center.queues import DEFAULT_QUEUE
from switch.center.texts import text
from switch.phone import phone_identity

if TYPE_CHECKING:
    from switch.core import Core

log = structlog.get_logger("callbacks")

CALLBACK_NS = "callback"


@dataclass(frozen=True, slots=True)
class Start:
    """A new callback, already built: record it, join its queue, confirm it."""

    state: cb.CallbackState
    confirm: bool = True


class CallbackActor(Actor):
    __slots__ = ("core", "state")

    def __init__(self, actor_id: str, registry: Registry, core: Core) -> None:
        super().__init__(actor_id, registry)
        self.core = core
        self.state: cb.CallbackState | None = None

    async def start(self) -> None:
        record = self.core.store.get(CALLBACK_NS, self.actor_id.partition(":")[2])
        if record is not None:
            self.state = cb.CallbackState.from_json(record, self.core.callbacks.policy)

    def idle(self) -> bool:
        return self.state is None or self.state.state not in cb.LIVE

    async def handle(self, message: Any) -> Any:
        now = self.core.clock.now()
        if isinstance(message, Start):
            return await self._start(message, now)
        if self.state is None:
            log.info("callback_unknown", callback=self.actor_id, message=type(message).__name__)
            return None
        pending: list[Any] = [message]
        while pending:
            current = pending.pop(0)
            self.state, effects = cb.decide(self.state, current, now)
            for effect in effects:
                pending.extend(await self._perform(effect, now))
        return self.state

    async def _start(self, start: Start, now: float) -> cb.CallbackState:
        state = start.state
        if self.state is not None:
            return self.state  # asked twice: the first one stands
        await self._record(state, "requested", now)
        self.state = state
        await self.registry.ask(
            f"contact:{state.contact_id}",
            JourneyEntry(
                "voice",
                "callback_requested",
                now,
                {"via": state.queue, "callback": state.id, "phone": state.phone},
                idem=f"cb:{state.id}:requested",
            ),
        )
        await self.registry.ask(ROUTER, Enqueue(state.item()))
        if start.confirm:
            item = await self.registry.ask(ROUTER, GetItem(state.id))
            position = item["position"] if item else 1
            await self.core.callbacks.sms(
                state,
                text("callback_confirm", state.language, phone=state.phone, position=position),
            )
        return state

    async def _record(self, state: cb.CallbackState, kind: str, now: float) -> None:
        data = state.to_json()
        await self.core.store.write(
            Write(
                events=(Event(self.actor_id, kind, now, data),),
                puts=(Put(CALLBACK_NS, state.id, data),),
            )
        )

    async def _perform(self, effect: cb.CallbackEffect, now: float) -> list[Any]:
        now = self.core.clock.now()  # (placing a call takes a while: time each effect)
        state = self.state
        assert state is not None
        registry = self.registry
        match effect:
            case cb.Record(kind=kind):
                await self._record(state, kind, now)
            case cb.TakeFromQueue(agent=agent):
                await registry.ask(ROUTER, Accepted(state.id, agent))
            case cb.BackInQueue():
                await registry.ask(ROUTER, Enqueue(state.item()))
            case cb.LeaveQueue():
                await registry.ask(ROUTER, Withdraw(state.id, "withdrawn"))
            case cb.DeclineOffer(agent=agent):
                registry.tell(ROUTER, Declined(state.id, agent, "not_waiting"))
            case cb.PlaceCall(agent=agent):
                return [await self._place(state, agent)]
            case cb.Journey(kind=kind, data=data):
                await registry.ask(
                    f"contact:{state.contact_id}",
                    JourneyEntry("voice", kind, now, {"via": state.queue, **data}),
                )
            case cb.Notify(text=name):
                body = text(f"callback_{name}", state.language, phone=state.phone)
                await self.core.callbacks.sms(state, body)
            case cb.AgentMissed(agent=agent):
                await self.core.callbacks.missed(agent)
            case cb.WakeAfter(seconds=seconds, attempt=attempt):
                registry.schedule(self.actor_id, seconds, cb.Retry(attempt))
        return []

    async def _place(self, state: cb.CallbackState, agent: str) -> Any:
        calls = self.core.calls
        if calls is None:
            return cb.CallNotPlaced("no SIP: callbacks need [sip]")
        try:
            call_id = await calls.place_click(agent, state.phone, owner=self.actor_id)
        except (Rejected, ChannelUnavailable) as exc:
            log.warning("callback_not_placed", callback=state.id, agent=agent, error=str(exc))
            return cb.CallNotPlaced(str(exc))
        return cb.CallPlaced(call_id)


class Callbacks:
    """The app side of callbacks: ask for one, look one up, recover them at start."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.policy = cb.CallbackPolicy()
        core.registry.register_kind("callback", lambda aid, reg: CallbackActor(aid, reg, core))

    def queue_of(self, queue: str | None) -> str:
        queues = [q.id for q in self.core.config.queues]
        if queue is None:
            return queues[0] if queues else DEFAULT_QUEUE
        if queue not in queues and queue != DEFAULT_QUEUE:
            raise Rejected("unknown_queue", f"no queue {queue!r}", 422)
        return queue

    async def request(
        self,
        phone_raw: str,
        queue: str | None,
        *,
        queued_at: float | None = None,
        language: str | None = None,
        confirm: bool = True,
    ) -> cb.CallbackState:
        """A new callback (durable, in its queue, confirmed by SMS) — or, when the
        number already waits for one in that queue, that one."""
        phone = self.core.normalize(phone_raw)
        queue_id = self.queue_of(queue)
        for _, record in self.core.store.scan(CALLBACK_NS):
            if (
                record["phone"] == phone
                and record["queue"] == queue_id
                and record["state"] in ("waiting", "retry_wait", "dialing", "connected")
            ):
                return cb.CallbackState.from_json(record, self.policy)
        contact_id = await self.core.directory.contact_for(phone_identity(phone))
        now = self.core.clock.now()
        state = cb.CallbackState(
            id="cb" + secrets.token_hex(6),
            phone=phone,
            queue=queue_id,
            contact_id=contact_id,
            queued_at=queued_at if queued_at is not None else now,
            requested_at=now,
            language=language or self.core.config.routing.language,
            policy=self.policy,
        )
        result: cb.CallbackState = await self.core.registry.ask(
            f"callback:{state.id}", Start(state, confirm)
        )
        log.info("callback_requested", callback=state.id, queue=queue_id)
        return result

    async def view(self, callback_id: str) -> dict[str, Any]:
        record = self.core.store.get(CALLBACK_NS, callback_id) if len(callback_id) <= 64 else None
        if record is None:
            raise Rejected("not_found", f"callback {callback_id!r} not found", 404)
        position = None
        if record["state"] in ("waiting", "retry_wait"):
            item = await self.core.registry.ask(ROUTER, GetItem(callback_id))
            position = item["position"] if item else None
        return public(record, position)

    async def listing(self) -> list[dict[str, Any]]:
        """Every callback not done or failed, with its position (waiting ones first, in
        their queue's order)."""
        rows = await self._live(lambda record: True)
        never = len(rows) + 1
        rows.sort(key=lambda r: (r["position"] or never, r["queued_at"] or "", r["id"]))
        return rows

    async def of_phones(self, phones: set[str]) -> list[dict[str, Any]]:
        """The callbacks not finished for any of ``phones`` (E.164), oldest first."""
        rows = await self._live(lambda record: record["phone"] in phones)
        rows.sort(key=lambda r: (r["requested_at"] or "", r["id"]))
        return rows

    async def _live(self, wanted: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """The views of the callbacks not finished whose record is ``wanted``."""
        rows = []
        for key, record in self.core.store.scan(CALLBACK_NS):
            if record["state"] in cb.LIVE and wanted(record):
                rows.append(await self.view(key))
        return rows

    async def recover(self) -> int:
        """Wake every callback not finished (after a restart)."""
        count = 0
        for key, record in self.core.store.scan(CALLBACK_NS):
            if record["state"] in cb.LIVE:
                self.core.registry.tell(f"callback:{key}", cb.Recovered())
                count += 1
        if count:
            log.info("callbacks_recovered", count=count)
        return count

    async def sms(self, state: cb.CallbackState, body: str) -> None:
        service = self.core.sms
        if service is None:
            log.info("callback_sms_skipped", callback=state.id, reason="no modems")
            return
        try:
            await service.submit(state.phone, body, modem=None, idem=None)
        except (Rejected, ChannelUnavailable) as exc:
            log.warning("callback_sms_failed", callback=state.id, error=str(exc))

    async def missed(self, agent: str) -> None:
        """The agent did not take a callback's call: a break, as for a missed ring."""
        if self.core.config.routing.missed_call_break:
            await self.core.registry.ask(
                f"agent:{agent}", SetIntent("break", self.core.clock.now(), "missed")
            )


def public(record: dict[str, Any], position: int | None) -> dict[str, Any]:
    state = record["state"]
    return {
        "id": record["id"],
        "phone": record["phone"],
        "queue": record["queue"],
        "state": "waiting" if state == "retry_wait" else state,
        "position": position,
        "attempts": record.get("attempts", 0),
        "agent": record.get("agent"),
        "reason": record.get("reason"),
        "contact_id": record.get("contact_id"),
        "requested_at": iso(record.get("requested_at")),
        "queued_at": iso(record.get("queued_at")),
    }
