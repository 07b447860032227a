"""A bounded queue of messages waiting for the broker: the newest are kept.

While the broker is away the box keeps working; what it would have published waits
here. When full, the oldest message goes and :attr:`Outbox.dropped` counts it, so the
fleet learns how much it missed (telemetry carries the count).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


class Outbox:
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("an outbox holds at least one message")
        self.limit = limit
        self.dropped = 0
        self._items: deque[Outgoing] = deque()

    def put(self, item: Outgoing) -> None:
        self._items.append(item)
        while len(self._items) > self.limit:
            self._items.popleft()
            self.dropped += 1

    def peek(self) -> Outgoing | None:
        return self._items[0] if self._items else None

    def pop(self, item: Outgoing) -> None:
        """Remove ``item`` once the broker took it (unless it was dropped meanwhile)."""
        if self._items and self._items[0] is item:
            self._items.popleft()

    def __len__(self) -> int:
        return len(self._items)
