"""A bounded mailbox with an explicit overflow policy.

Rules: a mailbox never grows past ``capacity``. When full, the policy decides:
``"reject"`` raises :class:`MailboxFull` to the sender (who then answers the outside
world with an error: nothing is lost silently), ``"drop_oldest"`` discards the oldest
message (telemetry, where the newest value is what matters) and counts it.

The storage is a deque created on first use, and a consumer waits on a bare future:
leaner than ``asyncio.Queue`` because an idle actor should cost almost nothing.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, Literal, TypeVar

from base.errors import ChannelUnavailable

T = TypeVar("T")
Overflow = Literal["reject", "drop_oldest"]


class MailboxFull(ChannelUnavailable):
    """The receiver's mailbox is full; try again later."""


class Mailbox(Generic[T]):
    __slots__ = ("_items", "_waiter", "capacity", "dropped", "overflow")

    def __init__(self, capacity: int, overflow: Overflow = "reject") -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.overflow: Overflow = overflow
        self._items: deque[T] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items) if self._items is not None else 0

    def put(self, item: T) -> None:
        """Enqueue without waiting; applies the overflow policy when full."""
        items = self._items
        if items is None:
            items = self._items = deque()
        if len(items) >= self.capacity:
            if self.overflow == "reject":
                raise MailboxFull(f"mailbox full ({self.capacity} messages)")
            items.popleft()
            self.dropped += 1
        items.append(item)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def get_nowait(self) -> T | None:
        items = self._items
        if not items:
            return None
        return items.popleft()

    async def wait(self) -> None:
        """Wait until there is at least one message."""
        if self._items:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        try:
            await waiter
        finally:
            if self._waiter is waiter:
                self._waiter = None

    def wake(self) -> None:
        """Release a waiting consumer without a message (used to park or stop it)."""
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def drain(self) -> list[T]:
        items = list(self._items or ())
        if self._items is not None:
            self._items.clear()
        return items
