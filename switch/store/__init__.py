"""Durable store: an event log per actor, snapshots, keyed records, idempotency keys."""

from switch.store.sqlite import (
    Committed,
    Event,
    Put,
    Snapshot,
    Store,
    StoreClosed,
    StoredEvent,
    Write,
)

__all__ = [
    "Committed",
    "Event",
    "Put",
    "Snapshot",
    "Store",
    "StoreClosed",
    "StoredEvent",
    "Write",
]
