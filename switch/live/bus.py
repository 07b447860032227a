"""The live bus: small frozen events of what changed, and who may see which.

Rules: publishing never blocks and never fails the publisher (an actor's shell calls
it in the middle of its turn). Each subscriber has a bounded queue; when a slow client
lets it fill up, its subscription is marked ``lost`` and gets nothing more: the
WebSocket then tells the client to reload its views (it missed something) rather than
growing without bound.

Topics (``LiveEvent.topic``):

- ``agent`` — one agent's state (the API's agent view); ``agent`` names them;
- ``queues`` — every queue's counts (waiting, longest wait, agents available);
- ``call`` — a call record changed; ``agent`` is its agent, ``contact`` its contact,
  ``also`` the agent who transferred it (they see how their transfer goes: ringing,
  consulting, completed, failed);
- ``conversation`` — an SMS/chat conversation changed (assigned, replied, closed);
- ``journey`` — a new event in a contact's journey; ``contact`` names the contact;
- ``offer`` — work offered to ``agent``: a ringing call or a new conversation, with
  the contact's context;
- ``audit`` — a new entry of the audit trail.

:func:`visible` says whether a viewer (a signed-in person, or a bearer token) may see
an event: the same limits as the API's role table (:mod:`switch.api.access`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal

Topic = Literal["agent", "queues", "call", "conversation", "journey", "offer", "audit"]
QUEUE_SIZE = 512


@dataclass(frozen=True, slots=True)
class LiveEvent:
    topic: Topic
    data: Any
    agent: str | None = None  # the agent it concerns
    contact: str | None = None  # the contact it concerns
    also: str | None = None  # another agent it concerns (who transferred a call)


@dataclass(slots=True)
class Viewer:
    """Who is watching: a role, the person (None for a bearer token) and the contacts
    on their screen (their journeys are pushed)."""

    role: str
    user: str | None = None
    watching: frozenset[str] = frozenset()


def visible(event: LiveEvent, viewer: Viewer) -> bool:
    role = viewer.role
    if role in ("operator", "api") or (role == "technician" and viewer.user is None):
        # operators and tokens see everything; an offer is for its agent's desktop
        if event.topic == "offer":
            return False
        if event.topic == "journey":
            return event.contact in viewer.watching
        return True
    if role == "technician":
        return event.topic == "audit"
    if role == "agent":
        match event.topic:
            case "agent" | "call" | "conversation" | "offer":
                return viewer.user is not None and viewer.user in (event.agent, event.also)
            case "queues":
                return True
            case "journey":
                return event.contact in viewer.watching
    return False


@dataclass(eq=False, slots=True)
class Subscription:
    """One desktop's feed: what its viewer may see, queued until the socket sends it."""

    viewer: Viewer
    queue: asyncio.Queue[LiveEvent] = field(
        default_factory=lambda: asyncio.Queue(maxsize=QUEUE_SIZE)
    )
    lost: bool = False

    def offer(self, event: LiveEvent) -> None:
        if self.lost or not visible(event, self.viewer):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.lost = True


class Bus:
    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()
        self.published = 0

    def subscribe(self, viewer: Viewer) -> Subscription:
        sub = Subscription(viewer)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    @property
    def listeners(self) -> int:
        return len(self._subscribers)

    def watched(self) -> set[str]:
        """Contacts on somebody's screen."""
        return {c for sub in self._subscribers for c in sub.viewer.watching}

    def publish(self, event: LiveEvent) -> None:
        self.published += 1
        for sub in self._subscribers:
            sub.offer(event)
