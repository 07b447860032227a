"""A durable follower of the event log: every event of some kinds, in commit order,
handed to a handler, and the follower's place kept in the store across restarts.

Theory of operation
-------------------
The event log is the outbox: an event is there the moment it is committed, in the same
write that records it, so a kill -9 can lose nothing between "recorded" and "to be
sent". A follower keeps a cursor (the seq of the last event it finished with) in the
store's records (``cursor/<name>``). It reads the next events after the cursor
(:meth:`Store.events_after`), hands each accepted one to its handler, and moves the
cursor once the handler returns; a restart resumes after the cursor, so a handler may
see an event again if the switch died after it acted and before the cursor was written
(at-least-once; the webhooks give receivers a delivery id to drop repeats).

A new follower starts at the end of the log (it does not replay history). It wakes when
the store commits an event of its kinds, and every ``poll`` seconds anyway. It runs in
its own task: a slow handler delays only its own follower, never the writers of events.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

import structlog

from actors.store import StoredEvent
from switch.store import Store

log = structlog.get_logger("follower")

CURSOR_NS = "cursor"
Handler = Callable[[StoredEvent], Awaitable[None]]


class LogFollower:
    def __init__(
        self,
        store: Store,
        name: str,
        kinds: Sequence[str],
        handle: Handler,
        *,
        accept: Callable[[StoredEvent], bool] | None = None,
        batch: int = 100,
        poll: float = 5.0,
        retry: float = 5.0,
    ) -> None:
        self.store = store
        self.name = name
        self.kinds = tuple(kinds)
        self.handle = handle
        self.accept = accept or (lambda _: True)
        self.batch = batch
        self.poll = poll
        self.retry = retry
        self.cursor = 0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        saved = self.store.get(CURSOR_NS, self.name)
        if isinstance(saved, dict) and isinstance(saved.get("seq"), int):
            self.cursor = saved["seq"]
        else:
            self.cursor = self.store.last_seq()
            await self.store.put(CURSOR_NS, self.name, {"seq": self.cursor})
        kinds = set(self.kinds)
        self.store.add_commit_listener(
            lambda events: self._wakeup.set() if any(e.kind in kinds for e in events) else None
        )
        self._task = asyncio.create_task(self._run(), name=f"follower:{self.name}")
        log.info("follower_started", follower=self.name, cursor=self.cursor)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def behind(self) -> int:
        """Events of its kinds after the cursor (accepted or not)."""
        return self.store.count_after(self.cursor, self.kinds)

    async def _run(self) -> None:
        while True:
            self._wakeup.clear()
            events = self.store.events_after(self.cursor, self.kinds, limit=self.batch)
            if not events:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self.poll)
                continue
            for event in events:
                if self.accept(event):
                    await self._handle(event)
                    await self._advance(event.seq)
            if events[-1].seq > self.cursor:
                await self._advance(events[-1].seq)

    async def _handle(self, event: StoredEvent) -> None:
        while True:
            try:
                await self.handle(event)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the handler's bug: keep the place, try again later
                log.error(
                    "follower_handler_failed",
                    follower=self.name,
                    seq=event.seq,
                    error=repr(exc),
                    exc_info=exc,
                )
                await asyncio.sleep(self.retry)

    async def _advance(self, seq: int) -> None:
        self.cursor = seq
        await self.store.put(CURSOR_NS, self.name, {"seq": seq})
