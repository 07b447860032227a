"""Durable store: an event log per actor, snapshots, keyed records, idempotency keys.

The interface and its values are the runtime's (:mod:`actors.store`); this package is
the embedded implementation (SQLite).
"""

from actors.store import (
    Committed,
    Event,
    EventStore,
    Put,
    Snapshot,
    StoreClosed,
    StoredEvent,
    Write,
)
from switch.store.sqlite import Store

__all__ = [
    "Committed",
    "Event",
    "EventStore",
    "Put",
    "Snapshot",
    "Store",
    "StoreClosed",
    "StoredEvent",
    "Write",
]
