"""Messaging conversations routed to agents: the shell around :mod:`actors.conversation`.

A received SMS (durable first, see ``switch.sms``) is handed here off the modem's path
(on a box with agents: without any, SMS are only recorded, for the API's users):
``CALL`` (or ``CALLBACK``; also ហៅ, โทร, تماس) asks for a callback to the sender;
anything else goes to the sender's conversation on that channel, which opens one in
the queue the modem's route names when none is open. A web chat message (durable first,
see ``switch.widget``) goes to the contact's ``chat`` conversation the same way, in the
widget's queue. Agents answer through ``POST /api/v1/contacts/{id}/messages``; the
channel, when not given, is where the contact is reachable now (an open chat first,
then SMS, then the chat page they may come back to). The chat side is a
:class:`ChatChannel` the widget plugs in.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from actors import conversation as cv
from actors.agent import AgentUnavailable, ChatClosed, ChatOpened
from actors.contact import ContactState
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
WIDGET = "widget"  # the ``via`` of web chat (journey, conversations)
_CALL_WORDS = re.compile(
    r"^\s*(call|callback|call me|ហៅ|ហៅមកវិញ|โทร|โทรกลับ|تماس)\s*[.!]?\s*$", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class Get:
    pass


class ChatChannel(Protocol):
    """The web chat as conversations use it (``switch.widget`` provides it)."""

    async def send(self, contact_id: str, text: str, agent: str | None) -> str:
        """Record an answer in the contact's chat and push it to their pages; its id."""
        ...

    async def treated(self, contact_id: str, reason: str) -> None:
        """The queue gave up on the contact's chat (``closed``, ``no_agents``,
        ``max_wait``): tell them so, and what they may do instead."""
        ...


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
        before = self.state
        pending: list[Any] = [message]
        while pending:
            current = pending.pop(0)
            now = self.core.clock.now()
            item_before = self.state.id
            self.state, effects = cv.decide(self.state, current, now)
            for effect in effects:
                pending.extend(await self._perform(effect, item_before, now))
        return before if isinstance(message, cv.MoveOut) else self.state

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
                for listener in self.core.conversations.listeners:
                    listener(state, kind)
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
        self.chat: ChatChannel | None = None  # the widget, once it is plugged in
        # Told of every recorded change (state, kind), in the actor's turn: quick, no raise.
        self.listeners: list[Callable[[cv.ConversationState, str], None]] = []
        core.registry.register_kind("conv", lambda aid, reg: ConversationActor(aid, reg, core))

    def reconfigure(self, config: Config) -> None:
        """The timings from ``config`` (at start, and after a reload)."""
        routing = config.routing
        self.policy = cv.ConversationPolicy(routing.reply_timeout, routing.conversation_idle)

    def queue_for(self, via: str) -> str:
        """The queue a conversation opened through ``via`` (a modem, or ``widget``) goes
        to: for the widget its ``[widget] queue``; else the route of the modem's number
        (the widget's: its call number) when there is one, else the first queue (or
        ``default``)."""
        config = self.core.config
        if via == WIDGET and config.widget.queue is not None:
            return config.widget.queue
        if via == WIDGET:
            number = config.webrtc.widget_number if config.webrtc is not None else None
        else:
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

    async def on_chat(self, contact_id: str, message_id: str, at: float) -> None:
        """A web chat message, already in the contact's journey: to their chat
        conversation (which opens one in the widget's queue when none is open)."""
        queue = self.queue_for(WIDGET)
        sticky = await self.core.queues.last_agent(contact_id)
        self.core.registry.tell(
            f"conv:{contact_id}.chat", cv.CustomerWrote(message_id, at, WIDGET, queue, sticky)
        )

    async def answer_by_sms(self, contact_id: str, phone: str, message_id: str) -> None:
        """The customer asked to be answered by SMS (nobody could chat): an SMS
        conversation that waits for an agent however long it takes."""
        sms = self.core.sms
        if sms is None:
            raise Rejected("unavailable", "no modems are configured", 503)
        modem = sms.choose_modem(phone, None)
        now = self.core.clock.now()
        await self.core.registry.ask(
            f"conv:{contact_id}.sms",
            cv.CustomerWrote(message_id, now, modem, self.queue_for(WIDGET), None, patient=True),
        )

    async def move(self, from_contact: str, to_contact: str) -> None:
        """``from_contact`` was merged into ``to_contact``: its open conversations go
        along (see :class:`actors.conversation.MoveIn`)."""
        for channel in ("chat", "sms"):
            prior: cv.ConversationState = await self.core.registry.ask(
                f"conv:{from_contact}.{channel}", cv.MoveOut()
            )
            if prior.state != "idle":
                prior = replace(prior, contact_id=to_contact)
                await self.core.registry.ask(f"conv:{to_contact}.{channel}", cv.MoveIn(prior))
                log.info(
                    "conversation_moved",
                    contact_id=to_contact,
                    merged=from_contact,
                    channel=channel,
                )

    async def state(self, contact_id: str, channel: str) -> cv.ConversationState:
        result: cv.ConversationState = await self.core.registry.ask(
            f"conv:{contact_id}.{channel}", Get()
        )
        return result

    async def reply(
        self, contact_id: str, body: str, channel: str | None, agent: str | None
    ) -> str:
        """Send an agent's answer to the contact; the message's id."""
        contact = await self.live_contact(contact_id)
        contact_id = contact.contact_id
        phones = [i.removeprefix("phone:") for i in contact.identities if i.startswith("phone:")]
        on_web = self.chat is not None and any(i.startswith("web:") for i in contact.identities)
        if channel is None:
            chat_open = on_web and (await self.state(contact_id, "chat")).state != "idle"
            channel = "chat" if chat_open or (on_web and not phones) else "sms"
        if channel == "chat":
            if self.chat is None or not on_web:
                raise Rejected("channel_unavailable", "the contact has no web chat", 409)
            message_id = await self.chat.send(contact_id, body, agent)
            self.core.registry.tell(
                f"conv:{contact_id}.chat", cv.AgentReplied(agent, self.core.clock.now())
            )
            return message_id
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

    async def live_contact(self, contact_id: str) -> ContactState:
        """The contact, or the one it was merged into (where its conversations went)."""
        state = await self.core.contact_state(contact_id)
        seen = {contact_id}
        while state.merged_into is not None and state.merged_into not in seen:
            seen.add(state.merged_into)
            state = await self.core.contact_state(state.merged_into)
        return state

    async def close(self, contact_id: str, channel: str, by: str) -> cv.ConversationState:
        contact_id = (await self.live_contact(contact_id)).contact_id
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
        if state.channel == "chat":
            if self.chat is not None:
                await self.chat.treated(state.contact_id, reason)
            return
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
