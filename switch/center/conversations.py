"""Messaging conversations routed to agents: the shell around :mod:`actors.conversation`.

A received SMS (durable first, see ``switch.sms``) is handed here off the modem's path
(on a box with agents: without any, SMS are only recorded, for the API's users):
``CALL`` (or ``CALLBACK``; also ហៅ, โทร, تماس) asks for a callback to the sender;
anything else goes to the sender's conversation on that channel, which opens one in
the queue the modem's route names when none is open. Agents answer through
``POST /api/v1/contacts/{id}/messages``; the channel, when not given, is where the
contact is reachable now (an open chat first, then SMS).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from actors import conversation as cv
from actors.agent import AgentUnavailable, ChatClosed, ChatOpened
from actors.router import ROUTER
from actors.routing import Accepted, Declined, Enqueue, Withdraw
from actors.runtime import Actor, Registry
from actors.store import Event, Put, Write
from base.errors import ChannelUnavailable, Rejected
from switch.calls.records import iso
from switch.center.queues import DEFAULT_QUEUE
from switch.center.texts import text

if TYPE_CHECKING:
    from switch.config import Config
    from switch.core import Core
    from switch.sms_inbound import InboundText

log = structlog.get_logger("conversations")

CONVERSATION_NS = "conversation"
_CALL_WORDS = re.compile(
    r"^\s*(call|callback|call me|ហៅ|ហៅមកវិញ|โทร|โทรกลับ|تماس)\s*[.!]?\s*$", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class Get:
    pass


class ConversationActor(Actor):
    __slots__ = ("core", "state")

    def __init__(self, actor_id: str, registry: Registry, core: Core) -> None:
        super().__init__(actor_id, registry)
        self.core = core
        key = actor_id.partition(":")[2]
        contact, _, channel = key.rpartition(".")
        policy = core.conversations.policy
        record = core.store.get(CONVERSATION_NS, key)
        if record is not None:
            self.state = cv.ConversationState.from_json(record, policy)
        else:
            self.state = cv.ConversationState(contact, channel, policy=policy)  # type: ignore[arg-type]

    def idle(self) -> bool:
        return self.state.state == "idle"

    async def handle(self, message: Any) -> Any:
        if isinstance(message, Get):
            return self.state
        pending: list[Any] = [message]
        while pending:
            current = pending.pop(0)
            now = self.core.clock.now()
            item_before = self.state.id
            self.state, effects = cv.decide(self.state, current, now)
            for effect in effects:
                pending.extend(await self._perform(effect, item_before, now))
        return self.state

    async def _perform(
        self, effect: cv.ConversationEffect, item: str | None, now: float
    ) -> list[Any]:
        state = self.state
        registry = self.registry
        match effect:
            case cv.Record(kind=kind):
                data = state.to_json()
                key = self.actor_id.partition(":")[2]
                await self.core.store.write(
                    Write(
                        events=(Event(self.actor_id, f"conversation_{kind}", now, data),),
                        puts=(Put(CONVERSATION_NS, key, data),),
                    )
                )
            case cv.Enqueue():
                await registry.ask(ROUTER, Enqueue(state.item()))
            case cv.Withdraw():
                if item is not None:
                    await registry.ask(ROUTER, Withdraw(item, "withdrawn"))
            case cv.Assign(agent=agent, item=item_id):
                try:
                    await registry.ask(f"agent:{agent}", ChatOpened(item_id, now))
                except AgentUnavailable:
                    return [cv.ChatRefused(agent)]
                await registry.ask(ROUTER, Accepted(item_id, agent))
                log.info("conversation_assigned", contact_id=state.contact_id, agent=agent)
            case cv.Release(agent=agent, item=item_id):
                await registry.ask(f"agent:{agent}", ChatClosed(item_id, now))
            case cv.Decline(agent=agent):
                if state.id is not None or item is not None:
                    registry.tell(ROUTER, Declined(state.id or item or "", agent, "refused"))
            case cv.AutoReply(reason=reason):
                await self.core.conversations.auto_reply(state, reason)
            case cv.Arm(name=name, delay=delay, token=token):
                registry.schedule(self.actor_id, delay, cv.Timer(name, token))
        return []


class Conversations:
    """The app side: take received messages, send agents' replies, list and close."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.reconfigure(core.config)
        core.registry.register_kind("conv", lambda aid, reg: ConversationActor(aid, reg, core))

    def reconfigure(self, config: Config) -> None:
        """The timings from ``config`` (at start, and after a reload)."""
        routing = config.routing
        self.policy = cv.ConversationPolicy(routing.reply_timeout, routing.conversation_idle)

    def queue_for(self, via: str) -> str:
        """The queue a conversation opened through ``via`` (a modem) goes to: the route
        of the modem's number when there is one, else the first queue (or ``default``)."""
        config = self.core.config
        number = next((getattr(m, "number", None) for m in config.modems if m.id == via), None)
        for route in config.routes:
            if number is not None and route.number == number:
                kind, _, target = route.to.partition(":")
                if kind == "queue":
                    return target
                if kind == "agent":
                    return f"agent:{target}"
        return config.queues[0].id if config.queues else DEFAULT_QUEUE

    async def on_sms(self, sms: InboundText) -> bool:
        """A received SMS (listener of the SMS service). A box without agents routes
        nothing (its SMS are for the API's users); CALL needs calls ([sip])."""
        if not self.core.config.agents:
            return False
        queue = self.queue_for(sms.modem_id)
        if self.core.config.sip is not None and _CALL_WORDS.match(sms.text):
            try:
                await self.core.callbacks.request(sms.sender, queue)
            except (Rejected, ChannelUnavailable) as exc:
                log.warning("sms_callback_refused", contact_id=sms.contact_id, error=str(exc))
            return True
        sticky = await self.core.queues.last_agent(sms.contact_id)
        self.core.registry.tell(
            f"conv:{sms.contact_id}.sms",
            cv.CustomerWrote(sms.message_id, sms.at, sms.modem_id, queue, sticky),
        )
        return True

    async def state(self, contact_id: str, channel: str) -> cv.ConversationState:
        result: cv.ConversationState = await self.core.registry.ask(
            f"conv:{contact_id}.{channel}", Get()
        )
        return result

    async def reply(
        self, contact_id: str, body: str, channel: str | None, agent: str | None
    ) -> str:
        """Send an agent's answer to the contact; the message's id."""
        contact = await self.core.contact_state(contact_id)
        if channel not in (None, "sms"):
            raise Rejected("channel_unavailable", f"no open {channel} for this contact", 409)
        phones = [i.removeprefix("phone:") for i in contact.identities if i.startswith("phone:")]
        if not phones:
            raise Rejected("unreachable", "the contact has no phone number to send to", 409)
        sms = self.core.sms
        if sms is None:
            raise Rejected("unavailable", "no modems are configured", 503)
        current = await self.state(contact_id, "sms")
        message_id = await sms.submit(phones[0], body, modem=current.via)
        self.core.registry.tell(
            f"conv:{contact_id}.sms", cv.AgentReplied(agent, self.core.clock.now())
        )
        return message_id

    async def close(self, contact_id: str, channel: str, by: str) -> cv.ConversationState:
        await self.core.contact_state(contact_id)
        result: cv.ConversationState = await self.core.registry.ask(
            f"conv:{contact_id}.{channel}", cv.Close(by)
        )
        return result

    def listing(self, agent: str | None = None) -> list[dict[str, Any]]:
        out = []
        for _, record in self.core.store.scan(CONVERSATION_NS):
            if record["state"] == "idle":
                continue
            if agent is not None and record.get("agent") != agent:
                continue
            out.append(public(record))
        return out

    async def auto_reply(self, state: cv.ConversationState, reason: str) -> None:
        sms = self.core.sms
        contact = await self.core.contact_state(state.contact_id)
        phones = [i.removeprefix("phone:") for i in contact.identities if i.startswith("phone:")]
        if sms is None or not phones:
            return
        language = self.core.config.routing.language
        try:
            await sms.submit(phones[0], text(f"conversation_{reason}", language), modem=state.via)
        except (Rejected, ChannelUnavailable) as exc:
            log.warning("auto_reply_failed", contact_id=state.contact_id, error=str(exc))

    async def recover(self) -> int:
        count = 0
        for key, record in self.core.store.scan(CONVERSATION_NS):
            if record["state"] != "idle":
                self.core.registry.tell(f"conv:{key}", cv.Recovered())
                count += 1
        return count


def public(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": record.get("id"),
        "contact_id": record["contact_id"],
        "channel": record["channel"],
        "state": record["state"],
        "queue": record.get("queue"),
        "agent": record.get("agent"),
        "opened_at": iso(record.get("opened_at")),
        "last_at": iso(record.get("last_at")),
        "reply_due": iso(record.get("reply_due")),
    }
