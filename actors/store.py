"""The store as actors see it: durable writes and the reads that rebuild state.

This module holds the interface only (values and a :class:`EventStore` protocol); the
app supplies an implementation (``switch.store``: SQLite, WAL, group commit). Actors
never know which one they run on, so tests may hand them any object with these methods.

Rules: a write is acknowledged only once it is durable; a write carrying an idempotency
key that was already committed changes nothing and reports ``duplicate=True``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from base.errors import ChannelUnavailable

JSON = Any


@dataclass(frozen=True, slots=True)
class Event:
    actor: str
    kind: str
    at: float
    data: dict[str, JSON]


@dataclass(frozen=True, slots=True)
class Put:
    """Set (or, with ``value=None``, delete) one keyed record."""

    ns: str
    key: str
    value: JSON | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    actor: str
    state: dict[str, JSON]


@dataclass(frozen=True, slots=True)
class Write:
    events: Sequence[Event] = ()
    puts: Sequence[Put] = ()
    snapshots: Sequence[Snapshot] = ()
    idem: str | None = None


@dataclass(frozen=True, slots=True)
class Committed:
    seqs: tuple[int, ...]
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    actor: str
    kind: str
    at: float
    data: dict[str, JSON]


class StoreClosed(ChannelUnavailable):
    """The store no longer takes writes (shutting down)."""


class EventStore(Protocol):
    """What actors need of a store: durable writes, the actor's log, keyed records."""

    def submit(self, write: Write) -> asyncio.Future[Committed]: ...

    async def write(self, write: Write) -> Committed: ...

    async def append(
        self, actor: str, kind: str, data: dict[str, JSON], at: float, *, idem: str | None = None
    ) -> Committed: ...

    async def put(self, ns: str, key: str, value: JSON | None) -> Committed: ...

    def load_actor(self, actor: str) -> tuple[dict[str, JSON] | None, list[StoredEvent]]: ...

    def events_for(self, actors: Sequence[str], *, limit: int = 10_000) -> list[StoredEvent]: ...

    def events_page(
        self,
        actors: Sequence[str],
        *,
        kinds: Collection[str] = (),
        before: int | None = None,
        limit: int = 100,
    ) -> tuple[list[StoredEvent], bool]: ...

    def get(self, ns: str, key: str) -> JSON | None: ...

    def scan(self, ns: str, prefix: str = "") -> list[tuple[str, JSON]]: ...
