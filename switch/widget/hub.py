"""The customers' open pages: who is connected, and pushing frames to them.

Rules: pushing never blocks and never fails the pusher (an actor's turn, an API
request). Each page has a bounded queue of frames; a page that lets it fill up (a dead
connection, a stalled tab) is marked ``lost`` and its socket is closed, so it reconnects
and reloads its history rather than making the switch hold frames without bound.

A visitor may have a few pages open at once (tabs, a phone and a laptop after proving
the same number); every page of a contact gets what is said in its chat.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

QUEUE_SIZE = 256  # frames waiting for one page


@dataclass(eq=False, slots=True)
class Page:
    """One open widget (one WebSocket)."""

    visitor: str
    language: str
    address: str  # the client's address (rate limits, logs)
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    lost: bool = False
    typing_at: float = 0.0  # when this page last said the customer is typing

    def push(self, text: str) -> None:
        if self.lost:
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.lost = True


class Hub:
    def __init__(self, per_visitor: int) -> None:
        self.per_visitor = per_visitor
        self._pages: dict[str, set[Page]] = {}
        self.changed = asyncio.Event()  # a page came or went (the queue watcher)

    def add(self, page: Page) -> bool:
        """Register an open page; False when the visitor has too many open."""
        pages = self._pages.setdefault(page.visitor, set())
        if len(pages) >= self.per_visitor:
            return False
        pages.add(page)
        self.changed.set()
        return True

    def remove(self, page: Page) -> None:
        pages = self._pages.get(page.visitor)
        if pages is None:
            return
        pages.discard(page)
        if not pages:
            del self._pages[page.visitor]
        self.changed.set()

    @property
    def pages(self) -> int:
        return sum(len(p) for p in self._pages.values())

    def all_pages(self) -> list[Page]:
        return [page for pages in self._pages.values() for page in pages]

    def pages_of(self, visitors: list[str]) -> list[Page]:
        return [page for v in visitors for page in self._pages.get(v, ())]

    def push(self, visitors: list[str], text: str, *, but: Page | None = None) -> int:
        """Push to every open page of these visitors (``but`` one); how many got it."""
        count = 0
        for page in self.pages_of(visitors):
            if page is not but:
                page.push(text)
                count += 1
        return count

    def broadcast(self, text: str) -> None:
        for page in self.all_pages():
            page.push(text)

    def language_of(self, visitors: list[str]) -> str | None:
        """The language of one of these visitors' open pages (the most recent choice)."""
        for page in self.pages_of(visitors):
            return page.language
        return None
