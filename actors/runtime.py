"""The actor runtime: registry (get-or-spawn by id), supervision, hibernation, shutdown.

Theory of operation
-------------------
An actor is addressed by an id ``"<kind>:<key>"`` (``contact:c7f3``, ``agent:alice``,
``modem:gsm1``). :meth:`Registry.tell` finds the actor or spawns it through the factory
registered for its kind, so the same id always lands in the same actor. Each live actor
has a bounded :class:`~actors.mailbox.Mailbox`; a task drains it, one message at a time,
so an actor never runs two handlers at once.

Tasks are cheap but not free: an actor idle for ``park_after`` seconds gives its task
back (its state stays in memory); one idle for ``hibernate_after`` seconds is evicted
altogether. Nothing is lost by eviction because actors make every important change
durable before acknowledging it; the next message revives the actor from the store.

Supervision: a handler that raises fails that one message (an ``ask`` gets the
exception). :class:`~base.errors.Rejected` is the actor refusing a request, not a crash:
the actor carries on. Anything else is a crash: it is logged with the actor's id, and the
actor is rebuilt by its factory, i.e. from its last durable state, after a backoff. More
than ``restart_max`` crashes within ``restart_window`` seconds cut the actor off: it
refuses messages with :class:`ActorFailed` for ``cutoff_seconds``, then gets a fresh
start. The rest of the system keeps running.

Shutdown: :meth:`Registry.close` stops intake (new messages get :class:`ShuttingDown`),
waits for every mailbox to drain, then returns; the app closes the store afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from actors.mailbox import Mailbox, Overflow
from actors.metrics import (
    ACTOR_CUT_OFF,
    ACTOR_RESTARTS,
    ACTORS_HIBERNATED,
    ACTORS_LIVE,
    MAILBOX_DROPPED,
    MAILBOX_REJECTED,
)
from base.clock import Clock, TimerHandle
from base.errors import ChannelUnavailable, Rejected

log = structlog.get_logger("actors")


class ShuttingDown(ChannelUnavailable):
    """The runtime is stopping and takes no new messages."""


class ActorFailed(ChannelUnavailable):
    """The actor crashed repeatedly and is cut off for a while."""


class Actor:
    """Base class: override :meth:`start` (load state) and :meth:`handle`."""

    __slots__ = ("actor_id", "registry")

    def __init__(self, actor_id: str, registry: Registry) -> None:
        self.actor_id = actor_id
        self.registry = registry

    async def start(self) -> None:
        """Load state (from the store); runs before the first message."""

    async def handle(self, message: Any) -> Any:
        raise NotImplementedError

    def idle(self) -> bool:
        """May this actor hibernate now? (False while it owns live timers or calls.)"""
        return True


Factory = Callable[[str, "Registry"], Actor]


@dataclass(frozen=True, slots=True)
class _Envelope:
    message: Any
    reply: asyncio.Future[Any] | None


class _Cell:
    __slots__ = (
        "actor",
        "actor_id",
        "crashes",
        "failed_until",
        "kind",
        "last_active",
        "mailbox",
        "parking",
        "started",
        "task",
    )

    def __init__(self, actor_id: str, kind: str, actor: Actor, mailbox: Mailbox[_Envelope]):
        self.actor_id = actor_id
        self.kind = kind
        self.actor = actor
        self.mailbox = mailbox
        self.task: asyncio.Task[None] | None = None
        self.started = False
        self.parking = False
        self.last_active = 0.0
        self.crashes: list[float] = []
        self.failed_until = 0.0


@dataclass(frozen=True, slots=True)
class KindSpec:
    factory: Factory
    mailbox_size: int
    overflow: Overflow


class ActorRef:
    """A handle on an actor id; spawning happens on first message."""

    __slots__ = ("actor_id", "registry")

    def __init__(self, registry: Registry, actor_id: str) -> None:
        self.registry = registry
        self.actor_id = actor_id

    def tell(self, message: Any) -> None:
        self.registry.tell(self.actor_id, message)

    async def ask(self, message: Any, timeout: float | None = None) -> Any:
        return await self.registry.ask(self.actor_id, message, timeout=timeout)

    def __repr__(self) -> str:
        return f"ActorRef({self.actor_id!r})"


class Registry:
    def __init__(
        self,
        clock: Clock,
        *,
        mailbox_size: int = 1000,
        park_after: float = 2.0,
        hibernate_after: float = 300.0,
        sweep_interval: float = 1.0,
        restart_max: int = 5,
        restart_window: float = 60.0,
        restart_backoff: float = 0.05,
        cutoff_seconds: float = 60.0,
    ) -> None:
        self.clock = clock
        self.mailbox_size = mailbox_size
        self.park_after = park_after
        self.hibernate_after = hibernate_after
        self.sweep_interval = sweep_interval
        self.restart_max = restart_max
        self.restart_window = restart_window
        self.restart_backoff = restart_backoff
        self.cutoff_seconds = cutoff_seconds
        self._kinds: dict[str, KindSpec] = {}
        self._cells: dict[str, _Cell] = {}
        self._accepting = True
        self._sweeper: TimerHandle | None = None
        self._idle_event: asyncio.Event | None = None

    # ------------------------------------------------------------- spawning

    def register_kind(
        self,
        kind: str,
        factory: Factory,
        *,
        mailbox_size: int | None = None,
        overflow: Overflow = "reject",
    ) -> None:
        self._kinds[kind] = KindSpec(factory, mailbox_size or self.mailbox_size, overflow)

    def ref(self, actor_id: str) -> ActorRef:
        return ActorRef(self, actor_id)

    def _cell(self, actor_id: str) -> _Cell:
        cell = self._cells.get(actor_id)
        if cell is not None:
            return cell
        kind = actor_id.partition(":")[0]
        spec = self._kinds.get(kind)
        if spec is None:
            raise KeyError(f"no actor kind {kind!r} registered (id {actor_id!r})")
        actor = spec.factory(actor_id, self)
        cell = _Cell(actor_id, kind, actor, Mailbox(spec.mailbox_size, spec.overflow))
        cell.last_active = self.clock.now()
        self._cells[actor_id] = cell
        ACTORS_LIVE.labels(kind).inc()
        return cell

    def is_live(self, actor_id: str) -> bool:
        return actor_id in self._cells

    def live_count(self, kind: str | None = None) -> int:
        if kind is None:
            return len(self._cells)
        return sum(1 for c in self._cells.values() if c.kind == kind)

    def actor(self, actor_id: str) -> Actor | None:
        """The live actor object (for inspection in tests and diagnostics)."""
        cell = self._cells.get(actor_id)
        return cell.actor if cell else None

    # ------------------------------------------------------------- messaging

    def tell(self, actor_id: str, message: Any) -> None:
        self._enqueue(actor_id, _Envelope(message, None))

    def schedule(self, actor_id: str, delay: float, message: Any) -> TimerHandle:
        """Deliver ``message`` to ``actor_id`` after ``delay`` seconds of the injected clock.

        A timer firing during shutdown, or into a full mailbox, is logged and dropped:
        timers carry reminders (ring timeout, retry), never data that must not be lost.
        """

        def fire() -> None:
            try:
                self.tell(actor_id, message)
            except ChannelUnavailable as exc:
                log.warning(
                    "timer_dropped",
                    actor_id=actor_id,
                    message=type(message).__name__,
                    error=str(exc),
                )

        return self.clock.call_later(delay, fire)

    async def ask(self, actor_id: str, message: Any, timeout: float | None = None) -> Any:
        reply = self.ask_nowait(actor_id, message)
        if timeout is None:
            return await reply
        return await asyncio.wait_for(reply, timeout)

    def ask_nowait(self, actor_id: str, message: Any) -> asyncio.Future[Any]:
        """Enqueue ``message`` now and return the future of its reply: messages sent
        this way, one after another, reach the actor in that order."""
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._enqueue(actor_id, _Envelope(message, reply))
        return reply

    def _enqueue(self, actor_id: str, envelope: _Envelope) -> None:
        if not self._accepting:
            raise ShuttingDown("the switch is shutting down")
        cell = self._cell(actor_id)
        if cell.failed_until:
            if self.clock.now() < cell.failed_until:
                raise ActorFailed(f"{actor_id} is cut off after repeated crashes")
            cell.failed_until = 0.0
            cell.crashes.clear()
        dropped_before = cell.mailbox.dropped
        try:
            cell.mailbox.put(envelope)
        except ChannelUnavailable:
            MAILBOX_REJECTED.labels(cell.kind).inc()
            raise
        if cell.mailbox.dropped != dropped_before:
            MAILBOX_DROPPED.labels(cell.kind).inc()
        cell.parking = False
        if cell.task is None:
            cell.task = asyncio.create_task(self._run(cell), name=actor_id)

    async def _run(self, cell: _Cell) -> None:
        try:
            while True:
                if not cell.started:
                    try:
                        await cell.actor.start()
                        cell.started = True
                    except Exception as exc:
                        if not await self._crashed(cell, exc, None):
                            return
                        continue
                envelope = cell.mailbox.get_nowait()
                if envelope is None:
                    if cell.parking or not self._accepting:
                        return
                    await cell.mailbox.wait()
                    continue
                try:
                    result = await cell.actor.handle(envelope.message)
                except Rejected as exc:
                    # A refused request (bad merge, unknown contact): the actor decided,
                    # its state is intact. Not a crash: no restart, no step to a cut-off.
                    if envelope.reply is not None and not envelope.reply.done():
                        envelope.reply.set_exception(exc)
                except ChannelUnavailable as exc:
                    # Something outside is unavailable (the store's disk is full, a peer
                    # is gone): what was not made durable was not adopted. Not the
                    # actor's fault: no restart, so it works again when the fault clears.
                    log.warning(
                        "actor_message_failed",
                        actor_id=cell.actor_id,
                        message=type(envelope.message).__name__,
                        error=str(exc),
                    )
                    if envelope.reply is not None and not envelope.reply.done():
                        envelope.reply.set_exception(exc)
                except Exception as exc:
                    if envelope.reply is not None and not envelope.reply.done():
                        envelope.reply.set_exception(exc)
                    if not await self._crashed(cell, exc, envelope.message):
                        return
                else:
                    if envelope.reply is not None and not envelope.reply.done():
                        envelope.reply.set_result(result)
                cell.last_active = self.clock.now()
        finally:
            cell.task = None
            cell.parking = False
            self._check_idle()

    async def _crashed(self, cell: _Cell, exc: Exception, message: Any) -> bool:
        """Log, then restart from durable state; False when the actor is cut off."""
        now = self.clock.now()
        cell.crashes = [t for t in cell.crashes if now - t < self.restart_window]
        cell.crashes.append(now)
        bound = log.bind(actor_id=cell.actor_id, kind=cell.kind)
        bound.error(
            "actor_crashed",
            error=repr(exc),
            message=type(message).__name__ if message is not None else None,
            crashes=len(cell.crashes),
            exc_info=exc,
        )
        if len(cell.crashes) > self.restart_max:
            ACTOR_CUT_OFF.labels(cell.kind).inc()
            cell.failed_until = now + self.cutoff_seconds
            bound.error("actor_cut_off", seconds=self.cutoff_seconds)
            for envelope in cell.mailbox.drain():
                if envelope.reply is not None and not envelope.reply.done():
                    envelope.reply.set_exception(ActorFailed(f"{cell.actor_id} is cut off"))
            # Rebuild from the store now so the next message after the cut-off starts clean.
            cell.actor = self._kinds[cell.kind].factory(cell.actor_id, self)
            cell.started = False
            return False
        ACTOR_RESTARTS.labels(cell.kind).inc()
        delay = (
            self.restart_backoff * 2 ** (len(cell.crashes) - 2) if len(cell.crashes) > 1 else 0.0
        )
        if delay:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.clock.call_later(delay, lambda: _resolve(waiter))
            await waiter
        cell.actor = self._kinds[cell.kind].factory(cell.actor_id, self)
        cell.started = False
        bound.info("actor_restarted", after=delay)
        return True

    # ------------------------------------------------------ parking, hibernation

    def start_sweeper(self) -> None:
        self._sweeper = self.clock.call_later(self.sweep_interval, self._sweep_tick)

    def _sweep_tick(self) -> None:
        self.sweep()
        if self._accepting:
            self._sweeper = self.clock.call_later(self.sweep_interval, self._sweep_tick)

    def sweep(self) -> int:
        """Park idle tasks, evict actors idle past ``hibernate_after``; returns evictions."""
        now = self.clock.now()
        evicted = 0
        for actor_id, cell in list(self._cells.items()):
            idle_for = now - cell.last_active
            if len(cell.mailbox) or cell.failed_until:
                continue
            if cell.task is not None:
                if idle_for >= self.park_after:
                    cell.parking = True
                    cell.mailbox.wake()
                continue
            if idle_for >= self.hibernate_after and cell.actor.idle():
                del self._cells[actor_id]
                ACTORS_LIVE.labels(cell.kind).dec()
                ACTORS_HIBERNATED.labels(cell.kind).inc()
                evicted += 1
        return evicted

    def hibernate(self, actor_id: str) -> bool:
        """Evict one idle actor now (tests, benchmarks, memory pressure)."""
        cell = self._cells.get(actor_id)
        if cell is None or len(cell.mailbox) or not cell.actor.idle():
            return False
        if cell.task is not None:  # waiting for mail: let it finish
            cell.parking = True
            cell.mailbox.wake()
        del self._cells[actor_id]
        ACTORS_LIVE.labels(cell.kind).dec()
        ACTORS_HIBERNATED.labels(cell.kind).inc()
        return True

    # ----------------------------------------------------------------- shutdown

    def _busy(self) -> bool:
        return any(len(c.mailbox) or (c.task is not None) for c in self._cells.values())

    def _check_idle(self) -> None:
        if self._idle_event is not None and not self._busy():
            self._idle_event.set()

    async def close(self, timeout: float = 10.0) -> None:
        """Stop intake, let every mailbox drain, stop all actor tasks."""
        self._accepting = False
        if self._sweeper is not None:
            self._sweeper.cancel()
        for cell in self._cells.values():
            cell.mailbox.wake()
        self._idle_event = asyncio.Event()
        self._check_idle()
        try:
            await asyncio.wait_for(self._idle_event.wait(), timeout)
        except TimeoutError:
            stuck = [c.actor_id for c in self._cells.values() if c.task is not None]
            log.error("actors_not_drained", stuck=stuck[:20], count=len(stuck))
            for cell in self._cells.values():
                if cell.task is not None:
                    cell.task.cancel()


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
