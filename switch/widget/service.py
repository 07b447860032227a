"""The widget's app side: what a customer's page may do, and the chat channel agents use.

:class:`WidgetService` is built with the core. It is the web chat for
:mod:`switch.center.conversations` (:class:`~switch.center.conversations.ChatChannel`:
an agent's answer is recorded, then pushed to every open page of the contact) and
answers the frames of the pages (:mod:`switch.widget.protocol`):

- a message is recorded in the visitor's contact (created at their first message)
  before the page is told ``sent``, then goes to the contact's chat conversation
  (queued, offered to an agent...);
- typing, delivery and reading are passed on (the customer's typing is kept a few
  seconds for the agent side, :meth:`chat_view`);
- "leave your number" goes to the visitor's verification actor
  (:mod:`switch.widget.verify`); a callback or an SMS answer needs a proven number;
- "call us" gets a SIP credential for the visitor's own guest user.

The queue's state (open, busy, nobody there, closed) is looked at every
:data:`QUEUE_LOOK` seconds while pages are open and pushed to them when it changes.
Rate limits: new connections per client address, messages per visitor and per
address, codes per address (the numbers' own limits are the verification's).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import structlog

from actors import conversation as cv
from actors.contact import ContactState, journey_actor_ids
from actors.messages import GetContact
from actors.router import ROUTER, GetQueue
from base.errors import Rejected, SwitchError
from base.secretfile import load_or_create_secret
from switch.api.ratelimit import RateLimit
from switch.center.conversations import WIDGET
from switch.center.queues import queue_settings
from switch.center.texts import text
from switch.config import store_path
from switch.widget import protocol as p
from switch.widget.chat import ChatLog, ChatMessage
from switch.widget.hub import Hub, Page
from switch.widget.verify import VERIFY_NS, CheckCode, Outcome, RequestCode, VerifyActor
from switch.widget.visitor import SECRET_FILE, VisitorKeys, visitor_identity

if TYPE_CHECKING:
    from switch.core import Core

log = structlog.get_logger("widget")

QUEUE_LOOK = 2.0  # s between two looks at the widget queue's state while pages are open
TYPING_FOR = 6.0  # s a "typing" lasts unless renewed
_SHOWN = frozenset({"assigned", "closed", "idle_closed", "treated", "reply_overdue", "moved_in"})


def queue_status(row: dict[str, Any] | None, *, open_now: bool) -> str:
    """The widget queue's state for a page: ``open`` (an agent can take a chat now),
    ``busy`` (agents are signed in, all full), ``no_agents`` or ``closed``."""
    if not open_now:
        return "closed"
    if row is None:
        return "no_agents"
    if row.get("agents_for_chat", 0) > 0:
        return "open"
    return "busy" if row.get("agents_signed_in", 0) > 0 else "no_agents"


class WidgetService:
    def __init__(self, core: Core) -> None:
        self.core = core
        cfg = core.config.widget
        self.config = cfg
        self._keys: VisitorKeys | None = None
        self.hub = Hub(cfg.sockets_per_visitor)
        self.chat = ChatLog(core)
        self.names = {a.id: a.name or a.id for a in core.config.agents}
        self.queue = core.conversations.queue_for(WIDGET)
        self.settings = next((q for q in queue_settings(core.config) if q.id == self.queue), None)
        per_minute = cfg.messages_per_minute
        self.connections = RateLimit(cfg.connections_per_minute, burst=cfg.connections_per_minute)
        self.visitor_messages = RateLimit(per_minute, burst=min(per_minute, 10))
        self.address_messages = RateLimit(per_minute * 4, burst=min(per_minute * 4, 40))
        codes = cfg.codes_per_hour * 2
        self.address_codes = RateLimit(codes / 60.0, burst=codes)
        guests = core.config.webrtc.guests_per_minute if core.config.webrtc is not None else 1
        self.calls = RateLimit(guests, burst=guests)
        self.customer_typing: dict[str, float] = {}  # contact -> until
        self.status = "no_agents"
        self._watcher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        core.registry.register_kind(
            "verify", lambda aid, reg: VerifyActor(aid, reg, core, self.keys)
        )
        core.conversations.chat = self
        core.conversations.listeners.append(self.conversation_changed)

    @property
    def keys(self) -> VisitorKeys:
        """The cookie keys (the secret file is made at the first visitor, not before)."""
        if self._keys is None:
            path = store_path(self.core.config).parent / SECRET_FILE
            self._keys = VisitorKeys(load_or_create_secret(path))
        return self._keys

    # ---------------------------------------------------------------- features

    def features(self) -> dict[str, bool]:
        config = self.core.config
        queue = next((q for q in config.queues if q.id == self.queue), None)
        webrtc = config.webrtc
        return {
            "call": webrtc is not None and webrtc.widget_number is not None,
            "verify": bool(config.modems),
            "callback": config.sip is not None and queue is not None and queue.callback,
            "sms": bool(config.modems),
        }

    # ----------------------------------------------------------------- contacts

    async def contact_of(self, visitor: str, *, create: bool = False) -> str | None:
        """The visitor's contact (the one their identity joined, after a merge)."""
        identity = visitor_identity(visitor)
        found = self.core.directory.lookup(identity)
        if found is None and create:
            found = await self.core.directory.contact_for(identity)
        return found

    async def visitors_of(self, contact_id: str) -> list[str]:
        state: ContactState = await self.core.registry.ask(f"contact:{contact_id}", GetContact())
        return [i.removeprefix("web:") for i in state.identities if i.startswith("web:")]

    def verified(self, visitor: str) -> str | None:
        record = self.core.store.get(VERIFY_NS, visitor)
        return record.get("verified") if isinstance(record, dict) else None

    # ------------------------------------------------------- the chat channel

    async def send(self, contact_id: str, body: str, agent: str | None) -> str:
        return await self._answer(contact_id, body, agent)

    async def _answer(
        self, contact_id: str, body: str, agent: str | None, *, automatic: bool = False
    ) -> str:
        visitors = await self.visitors_of(contact_id)
        to = visitor_identity(visitors[0]) if visitors else ""
        message = await self.chat.record_out(contact_id, to, body, agent, automatic=automatic)
        self.hub.push(visitors, p.frame("message", message=message.view(self.names)))
        return message.id

    async def treated(self, contact_id: str, reason: str) -> None:
        visitors = await self.visitors_of(contact_id)
        language = self.hub.language_of(visitors) or self.config.language
        await self._answer(contact_id, text(f"chat_{reason}", language), None, automatic=True)
        self.hub.push(visitors, p.frame("queue", state=await self.look_at_queue()))

    def conversation_changed(self, state: cv.ConversationState, kind: str) -> None:
        """A conversation's record changed (the actor's turn: never wait here)."""
        if state.channel != "chat" or kind not in _SHOWN:
            return
        self._spawn(self._push_conversation(state))

    async def _push_conversation(self, state: cv.ConversationState) -> None:
        visitors = await self.visitors_of(state.contact_id)
        agent = self.names.get(state.agent, state.agent) if state.agent else None
        self.hub.push(visitors, p.frame("conversation", state=state.state, agent=agent))

    async def agent_typing(self, contact_id: str, agent: str | None, on: bool) -> int:
        """An agent is typing an answer: tell the customer's pages; how many."""
        visitors = await self.visitors_of(contact_id)
        name = self.names.get(agent, agent) if agent else None
        return self.hub.push(visitors, p.frame("typing", on=on, agent=name))

    async def chat_view(self, contact_id: str, limit: int = 50) -> dict[str, Any]:
        """The chat as an agent sees it: messages with their delivery state, whether
        the customer is typing, whether a page of theirs is open."""
        conv = await self.core.conversations.state(contact_id, "chat")
        messages = self.chat.history(contact_id, limit=limit, assigned=conv.state == "assigned")
        visitors = await self.visitors_of(contact_id)
        until = self.customer_typing.get(contact_id, 0.0)
        return {
            "contact_id": contact_id,
            "conversation": {"state": conv.state, "agent": conv.agent, "queue": conv.queue},
            "online": bool(self.hub.pages_of(visitors)),
            "typing": until > self.core.clock.now(),
            "messages": [m.view({}) | {"agent": m.agent} for m in messages],
        }

    # ------------------------------------------------------------------ pages

    async def welcome(self, page: Page) -> str:
        contact = await self.contact_of(page.visitor)
        history: list[ChatMessage] = []
        conversation: dict[str, Any] = {"state": "idle", "agent": None}
        if contact is not None:
            conv = await self.core.conversations.state(contact, "chat")
            agent = self.names.get(conv.agent, conv.agent) if conv.agent else None
            conversation = {"state": conv.state, "agent": agent}
            history = self.chat.history(contact, assigned=conv.state == "assigned")
        self.ensure_watching()
        return p.frame(
            "welcome",
            history=[m.view(self.names) for m in history],
            conversation=conversation,
            queue=await self.look_at_queue(),
            verified=self.verified(page.visitor),
            features=self.features(),
            max_message=self.config.max_message,
        )

    async def handle(self, page: Page, frame: p.ClientFrame) -> list[str]:
        """Answer one frame of a page: the frames for that page (others get pushes)."""
        now = self.core.clock.now()
        match frame:
            case p.Send(client_id=client_id, text=body):
                return await self._send(page, client_id, body, now)
            case p.Typing(on=on):
                contact = await self.contact_of(page.visitor)
                if contact is not None:
                    if on:
                        self.customer_typing[contact] = now + TYPING_FOR
                    else:
                        self.customer_typing.pop(contact, None)
                return []
            case p.Seen(ids=ids, status=status):
                contact = await self.contact_of(page.visitor)
                if contact is not None:
                    mine = {
                        a.removeprefix("contact:")
                        for a in journey_actor_ids(self.core.store, contact)
                    }
                    await self.chat.mark(ids, status, mine)
                return []
            case p.LeavePhone(number=number):
                phone = self.core.normalize(number)
                if not self.address_codes.allow(page.address, now):
                    raise Rejected("rate_limited", "too many codes asked from here", 429)
                outcome = await self._verify(page, RequestCode(phone, page.language))
                return [_verify_frame(outcome)]
            case p.EnterCode(code=code):
                outcome = await self._verify(page, CheckCode(code))
                if outcome.state == "verified":
                    self.hub.push([page.visitor], _verify_frame(outcome), but=page)
                return [_verify_frame(outcome)]
            case p.AskCallback():
                return [await self._callback(page)]
            case p.AskSms():
                return [await self._answer_by_sms(page)]
            case p.AskCall():
                return [self._call(page, now)]
            case p.Ping():
                return [p.frame("pong")]
        raise Rejected("invalid_frame", f"unexpected frame {type(frame).__name__}", 422)

    async def _send(self, page: Page, client_id: str, body: str, now: float) -> list[str]:
        if not self.visitor_messages.allow(page.visitor, now) or not self.address_messages.allow(
            page.address, now
        ):
            raise Rejected("rate_limited", "too many messages: wait a moment", 429)
        contact = await self.contact_of(page.visitor, create=True)
        assert contact is not None
        message = await self.chat.record_in(page.visitor, contact, client_id, body)
        log.info(
            "widget_message",
            visitor=page.visitor,
            contact_id=contact,
            message_id=message.id,
            repeat=message.duplicate,
        )
        view = message.view(self.names)
        if not message.duplicate:
            self.customer_typing.pop(contact, None)
            self.hub.push(
                await self.visitors_of(contact), p.frame("message", message=view), but=page
            )
            await self.core.conversations.on_chat(contact, message.id, message.at)
        return [p.frame("sent", ref=client_id, message=view)]

    async def _verify(self, page: Page, request: RequestCode | CheckCode) -> Outcome:
        if not self.core.config.modems:
            raise Rejected("unavailable", "this switch sends no SMS (no modems)", 503)
        outcome: Outcome = await self.core.registry.ask(f"verify:{page.visitor}", request)
        return outcome

    async def _callback(self, page: Page) -> str:
        if not self.features()["callback"]:
            raise Rejected("unavailable", "callbacks are not offered here", 503)
        phone = self.verified(page.visitor)
        if phone is None:
            raise Rejected("not_verified", "leave (and prove) your number first", 409)
        contact = await self.contact_of(page.visitor)
        queued_at = None
        if contact is not None:
            conv = await self.core.conversations.state(contact, "chat")
            if conv.state == "queued":  # the callback takes the chat's place
                queued_at = conv.opened_at
                await self.core.conversations.close(contact, "chat", "callback")
        callback = await self.core.callbacks.request(
            phone, self.queue, queued_at=queued_at, language=page.language
        )
        view = await self.core.callbacks.view(callback.id)
        return p.frame("callback", id=callback.id, position=view["position"], state=view["state"])

    async def _answer_by_sms(self, page: Page) -> str:
        phone = self.verified(page.visitor)
        if phone is None:
            raise Rejected("not_verified", "leave (and prove) your number first", 409)
        contact = await self.contact_of(page.visitor)
        last = self.chat.history(contact, limit=1) if contact is not None else []
        if contact is None or not last:
            raise Rejected("nothing_to_answer", "write your question first", 409)
        await self.core.conversations.answer_by_sms(contact, phone, last[-1].id)
        return p.frame("sms", phone=phone)

    def _call(self, page: Page, now: float) -> str:
        web = self.core.calls.web if self.core.calls is not None else None
        if web is None or not self.features()["call"]:
            raise Rejected("unavailable", "calls from the page are not offered here", 503)
        if not self.calls.allow(page.address, now):
            raise Rejected("rate_limited", "too many calls from here: try again in a minute", 429)
        credential = web.guest_credential(now, None, page.visitor)
        return p.frame("call", credential=credential)

    # --------------------------------------------------------------- the queue

    async def look_at_queue(self) -> str:
        try:
            row = await self.core.registry.ask(ROUTER, GetQueue(self.queue))
        except SwitchError as exc:  # shutting down
            log.debug("widget_queue_unknown", error=str(exc))
            return self.status
        now = self.core.clock.now()
        open_now = self.settings is None or self.settings.open_at(now)
        self.status = queue_status(row, open_now=open_now)
        return self.status

    def ensure_watching(self) -> None:
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch_queue(), name="widget:queue")

    async def _watch_queue(self) -> None:
        await self.look_at_queue()
        while self.hub.pages:
            before = self.status
            if await self.look_at_queue() != before:
                self.hub.broadcast(p.frame("queue", state=self.status))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.hub.changed.wait(), QUEUE_LOOK)
            self.hub.changed.clear()

    # ----------------------------------------------------------------- tasks

    def _spawn(self, work: Any) -> None:
        try:
            task = asyncio.get_running_loop().create_task(work)
        except RuntimeError:  # no loop (closing): nobody is watching either
            work.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("widget_push_failed", error=repr(task.exception()))

    async def close(self) -> None:
        for page in self.hub.all_pages():  # their sockets close (4408): they reconnect
            page.lost = True
            with contextlib.suppress(asyncio.QueueFull):
                page.queue.put_nowait("")
        for task in [*self._tasks, *([self._watcher] if self._watcher else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _verify_frame(outcome: Outcome) -> str:
    fields: dict[str, Any] = {"state": outcome.state, "phone": outcome.phone}
    if outcome.reason is not None:
        fields["reason"] = outcome.reason
    if outcome.left is not None:
        fields["left"] = outcome.left
    if outcome.until is not None:
        fields["until"] = round(outcome.until)
    return p.frame("verify", **fields)
