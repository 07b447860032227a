"""Web chat messages: recorded in the contact's journey, with their delivery state.

A message is a journey event of the contact (``message_in`` / ``message_out``, channel
``chat``, ``via`` ``widget``), written by the contact's actor before anybody is told
about it; its delivery state is a small record next to it (``chat`` records, keyed by
the message id) written in the same commit.

Delivery states:

- the customer's messages: ``sent`` (the switch has it), ``delivered`` (an agent has the
  conversation), ``read`` (an agent answered after it; the switch's automatic answers do
  not count). These follow from the conversation and the answers, so they are worked
  out when shown, never rewritten;
- the agents' messages: ``sent``, then ``delivered`` once a page of the customer got it,
  ``read`` once a page showed it (the page says so); never backwards.

A customer's message id is derived from the visitor and the page's own id for it, so a
page that sends it again (after a reconnect, not knowing whether it arrived) gets the
same message back instead of a second one.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from actors.contact import journey_actor_ids
from actors.messages import InboundMessage, OutboundMessage
from actors.store import Committed, Put, StoredEvent, Write
from base.timestamps import iso_utc
from switch.center.conversations import WIDGET
from switch.widget.visitor import visitor_identity

if TYPE_CHECKING:
    from switch.core import Core

CHAT_NS = "chat"
_KINDS = frozenset({"message_in", "message_out"})
_RANK = {"sent": 0, "delivered": 1, "read": 2}
PAGE = 200  # journey events read at a time when looking for chat messages


@dataclass(frozen=True, slots=True)
class ChatMessage:
    id: str
    contact_id: str
    direction: str  # "in" (from the customer) or "out"
    text: str
    at: float
    status: str = "sent"
    agent: str | None = None  # the agent who wrote it (out), when one is known
    automatic: bool = False  # the switch's own answer (the queue gave up), no person's
    duplicate: bool = False  # a repeat of a message already recorded

    def view(self, names: dict[str, str]) -> dict[str, Any]:
        """The message as a page shows it (agents by their name, never their id)."""
        out: dict[str, Any] = {
            "id": self.id,
            "dir": self.direction,
            "text": self.text,
            "at": iso_utc(self.at),
            "status": self.status,
        }
        if self.direction == "out":
            out["agent"] = names.get(self.agent, self.agent) if self.agent else None
            out["auto"] = self.automatic
        return out


def inbound_id(visitor: str, client_id: str) -> str:
    digest = hashlib.sha256(f"{visitor}:{client_id}".encode()).hexdigest()
    return "w" + digest[:23]


class ChatLog:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def record_in(
        self, visitor: str, contact_id: str, client_id: str, text: str
    ) -> ChatMessage:
        """The customer's message, durable in their journey once this returns."""
        message_id = inbound_id(visitor, client_id)
        now = self.core.clock.now()
        record = {"contact_id": contact_id, "dir": "in", "at": now}
        committed: Committed = await self.core.registry.ask(
            f"contact:{contact_id}",
            InboundMessage(
                channel="chat",
                via=WIDGET,
                sender=visitor_identity(visitor),
                text=text,
                at=now,
                message_id=message_id,
                idem=f"widget:{message_id}",
                puts=(Put(CHAT_NS, message_id, record),),
            ),
        )
        if committed.duplicate:
            known = self.core.store.get(CHAT_NS, message_id)
            at = float(known["at"]) if isinstance(known, dict) else now
            return ChatMessage(message_id, contact_id, "in", text, at, duplicate=True)
        return ChatMessage(message_id, contact_id, "in", text, now)

    async def record_out(
        self, contact_id: str, to: str, text: str, agent: str | None, *, automatic: bool = False
    ) -> ChatMessage:
        """An answer to the customer (``automatic``: the switch's own), durable."""
        message_id = "chat-" + secrets.token_hex(8)
        now = self.core.clock.now()
        record = {
            "contact_id": contact_id,
            "dir": "out",
            "at": now,
            "status": "sent",
            "agent": agent,
            "auto": automatic,
        }
        await self.core.registry.ask(
            f"contact:{contact_id}",
            OutboundMessage(
                channel="chat",
                via=WIDGET,
                recipient=to,
                text=text,
                at=now,
                message_id=message_id,
                puts=(Put(CHAT_NS, message_id, record),),
            ),
        )
        return ChatMessage(message_id, contact_id, "out", text, now, "sent", agent, automatic)

    async def mark(self, ids: tuple[str, ...], status: str, contact_ids: set[str]) -> list[str]:
        """The customer's page got (``delivered``) or showed (``read``) these answers;
        only answers to ``contact_ids`` (the visitor's own) move, and only forward.
        The ids that changed."""
        puts = []
        for message_id in ids:
            record = self.core.store.get(CHAT_NS, message_id)
            if (
                not isinstance(record, dict)
                or record.get("dir") != "out"
                or record.get("contact_id") not in contact_ids
                or _RANK[status] <= _RANK.get(record.get("status", "sent"), 0)
            ):
                continue
            puts.append(Put(CHAT_NS, message_id, {**record, "status": status}))
        if puts:
            await self.core.store.write(Write(puts=tuple(puts)))
        return [p.key for p in puts]

    def history(
        self, contact_id: str, *, limit: int = 50, assigned: bool = False
    ) -> list[ChatMessage]:
        """The contact's last ``limit`` chat messages (across contacts merged into it),
        oldest first, with their delivery state; ``assigned``: an agent has the chat
        now (the customer's unanswered messages are delivered)."""
        actors = journey_actor_ids(self.core.store, contact_id)
        found: list[StoredEvent] = []
        before: int | None = None
        while len(found) < limit:
            events, more = self.core.store.events_page(
                actors, kinds=_KINDS, before=before, limit=PAGE
            )
            found = [e for e in events if e.data.get("channel") == "chat"] + found
            if not more or not events:
                break
            before = events[0].seq
        found = found[-limit:]
        out: list[ChatMessage] = []
        answered_after: float | None = None
        for event in reversed(found):  # newest first: is there an answer after it?
            message_id = str(event.data.get("message_id", ""))
            text = str(event.data.get("text", ""))
            record = self.core.store.get(CHAT_NS, message_id) or {}
            if event.kind == "message_out":
                agent, auto = record.get("agent"), bool(record.get("auto", False))
                if not auto and answered_after is None:
                    answered_after = event.at  # a person's answer (not the switch's own)
                status = str(record.get("status", "sent"))
                out.append(
                    ChatMessage(message_id, contact_id, "out", text, event.at, status, agent, auto)
                )
                continue
            status = "read" if answered_after is not None else "delivered" if assigned else "sent"
            out.append(ChatMessage(message_id, contact_id, "in", text, event.at, status))
        out.reverse()
        return out

    def answer_status(self, message_id: str) -> str | None:
        record = self.core.store.get(CHAT_NS, message_id)
        return str(record.get("status", "sent")) if isinstance(record, dict) else None
