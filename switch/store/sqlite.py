"""The embedded store: SQLite in WAL mode, one writer thread doing group commit.

Theory of operation
-------------------
Every durable change is a :class:`Write`: events appended to actors' logs, keyed records
put or deleted (the projections the API reads: identities, messages, calls...), an
optional snapshot, and an optional idempotency key. Writes queue up in memory; one
writer task takes everything queued, commits it in ONE transaction on a dedicated
thread (``synchronous=FULL``: the commit is fsync'd), and only then resolves each
write's future. So "acknowledged" always means "on disk", and a burst of writes costs
one fsync, not one each (group commit).

A write whose idempotency key was already committed changes nothing and reports
``duplicate=True``: a modem re-delivering an SMS, or a client retrying a POST, is
recorded once.

Reads run on the caller's thread on a separate connection; WAL lets them proceed while
the writer commits, and they see every acknowledged write.

Commit listeners (:meth:`Store.add_commit_listener`) are called on the event loop after
each group commit with the events it committed (their seqs assigned): live metrics and
the log followers (webhooks, surveys) wake on them instead of polling. Write listeners
(:meth:`Store.add_write_listener`) get each durable write whole, puts included: the
desktops' live feed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from actors.store import (
    JSON,
    Committed,
    Event,
    Put,
    StoreClosed,
    StoredEvent,
    Write,
)
from base.errors import ChannelUnavailable
from switch.metrics import STORE_BATCH_SIZE, STORE_COMMIT_SECONDS, STORE_EVENTS, STORE_FAILED
from switch.store.lock import make_private_dir
from switch.store.schema import migrate

log = structlog.get_logger("store")


@dataclass(slots=True)
class _Pending:
    write: Write
    future: asyncio.Future[Committed]
    queued_at: float = field(default_factory=time.perf_counter)


CommitListener = Callable[[list[StoredEvent]], None]
WriteListener = Callable[[Write, Committed], None]

_INSERT_EVENT = "INSERT INTO events (seq, actor, kind, at, data) VALUES (?, ?, ?, ?, ?)"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def _private_files(path: Path) -> None:
    """The store holds every message and number: its directory is created 0700, and the
    database is created 0600 before SQLite opens it (SQLite gives its ``-wal`` and
    ``-shm`` files the database's mode). Files left 0644 by an older version are
    tightened; an existing directory open to others is reported, not changed."""
    directory = path.parent
    if directory.is_dir():
        mode = directory.stat().st_mode & 0o777
        if mode & 0o077:
            log.warning(
                "store_dir_not_private",
                path=str(directory),
                mode=oct(mode),
                fix=f"chmod 700 {directory}",
            )
    else:
        make_private_dir(directory)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            if name.stat().st_mode & 0o077:
                os.chmod(name, 0o600)
                log.info("store_file_made_private", path=str(name))
        except FileNotFoundError:
            continue
        except PermissionError as exc:  # not ours: say so, the owner can fix it
            log.warning("store_file_not_private", path=str(name), error=str(exc))


class StoreUnavailable(ChannelUnavailable):
    """The store could not make a write durable (disk full, I/O error): nothing of it
    was acknowledged; the caller may retry once the fault clears."""


def _why(exc: Exception) -> str:
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and "full" in text.lower():
        return f"the disk holding the store is full ({text}): free some space"
    if isinstance(exc, OSError) and exc.errno == 28:
        return f"the disk holding the store is full ({text}): free some space"
    return f"the store could not write: {text}"


class Store:
    """Embedded event store; create with :meth:`open`, finish with :meth:`close`."""

    def __init__(self, path: str, *, max_batch: int = 256) -> None:
        self.path = path
        self._max_batch = max_batch
        self._queue: deque[_Pending] = deque()
        self._wakeup: asyncio.Future[None] | None = None
        self._closing = False
        self._writer_task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        self._rlock = threading.Lock()
        # Set to a list to collect (commit seconds, writes) per group commit (benchmarks).
        self.commit_log: list[tuple[float, int]] | None = None
        self._listeners: list[CommitListener] = []
        self._write_listeners: list[WriteListener] = []
        # Why the last group commit failed (disk full...), None once one succeeds again:
        # what the health view tells an operator.
        self.failing: str | None = None

    @classmethod
    async def open(cls, path: str | Path, *, max_batch: int = 256) -> Store:
        if str(path) != ":memory:":
            _private_files(Path(path))
        store = cls(str(path), max_batch=max_batch)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(store._executor, store._open_writer)
        store._rconn = _connect(store.path)
        store._writer_task = asyncio.create_task(store._writer(), name="store-writer")
        return store

    def _open_writer(self) -> None:
        self._wconn = _connect(self.path)
        found = migrate(self._wconn)
        log.info("store_opened", path=self.path, schema_found=found)

    # ------------------------------------------------------------------ writes

    def submit(self, write: Write) -> asyncio.Future[Committed]:
        """Queue ``write``; the future resolves once it is committed and fsync'd."""
        if self._closing:
            raise StoreClosed("store is shutting down")
        future: asyncio.Future[Committed] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(write, future))
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)
        return future

    async def write(self, write: Write) -> Committed:
        return await self.submit(write)

    async def append(
        self, actor: str, kind: str, data: dict[str, JSON], at: float, *, idem: str | None = None
    ) -> Committed:
        return await self.submit(Write(events=(Event(actor, kind, at, data),), idem=idem))

    async def put(self, ns: str, key: str, value: JSON | None) -> Committed:
        return await self.submit(Write(puts=(Put(ns, key, value),)))

    async def _writer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wakeup = loop.create_future()
                await self._wakeup
                self._wakeup = None
                continue
            batch = [self._queue.popleft() for _ in range(min(len(self._queue), self._max_batch))]
            started = time.perf_counter()
            try:
                results = await loop.run_in_executor(self._executor, self._commit, batch)
            except Exception as exc:  # disk full, I/O error: every write in the batch fails
                why = _why(exc)
                log.error("store_commit_failed", error=str(exc), why=why, writes=len(batch))
                STORE_FAILED.inc(len(batch))
                self.failing = why
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(StoreUnavailable(why))
                continue
            done = time.perf_counter()
            if self.failing is not None:
                log.info("store_commit_recovered", was=self.failing)
                self.failing = None
            STORE_COMMIT_SECONDS.observe(done - started)
            if self.commit_log is not None:
                self.commit_log.append((done - started, len(batch)))
            STORE_BATCH_SIZE.observe(len(batch))
            for pending, result in zip(batch, results, strict=True):
                if not pending.future.done():
                    pending.future.set_result(result)
            if self._listeners or self._write_listeners:
                self._tell_listeners(batch, results)

    def add_commit_listener(self, listener: CommitListener) -> None:
        """Call ``listener`` after every group commit with the events it committed."""
        self._listeners.append(listener)

    def add_write_listener(self, listener: WriteListener) -> None:
        """Call ``listener`` with every write once it is durable (duplicates excluded),
        after its writer was answered: the puts too, not only the events."""
        self._write_listeners.append(listener)

    def _tell_listeners(self, batch: list[_Pending], results: list[Committed]) -> None:
        events: list[StoredEvent] = []
        for pending, result in zip(batch, results, strict=True):
            if result.duplicate:
                continue
            for write_listener in self._write_listeners:
                try:
                    write_listener(pending.write, result)
                except Exception as exc:  # a listener's bug never stops the writer
                    log.error("write_listener_failed", error=repr(exc), exc_info=exc)
            for seq, ev in zip(result.seqs, pending.write.events, strict=True):
                events.append(StoredEvent(seq, ev.actor, ev.kind, ev.at, ev.data))
        if not events:
            return
        for listener in self._listeners:
            try:
                listener(events)
            except Exception as exc:  # a listener's bug never stops the writer
                log.error("commit_listener_failed", error=repr(exc), exc_info=exc)

    def _commit(self, batch: list[_Pending]) -> list[Committed]:
        """One transaction for the whole batch; seqs are assigned here, in batch order.

        Only this thread writes, so the next seq is known and events of the whole batch
        go in with one ``executemany``. A snapshot covers its actor's events up to and
        including its own write, never a later write's events from the same batch.
        """
        conn = self._wconn
        assert conn is not None
        results: list[Committed] = []
        rows: list[tuple[int, str, str, float, str]] = []
        idem_seqs: list[tuple[int, str]] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
            next_seq = (int(row[0]) if row else 0) + 1
            last_seq: dict[str, int] = {}
            seen_in_batch: set[str] = set()
            for pending in batch:
                write = pending.write
                if write.idem is not None:
                    cur = conn.execute(
                        "INSERT OR IGNORE INTO idempotency (key) VALUES (?)", (write.idem,)
                    )
                    if cur.rowcount == 0 or write.idem in seen_in_batch:
                        results.append(Committed((), duplicate=True))
                        continue
                    seen_in_batch.add(write.idem)
                first = next_seq
                for ev in write.events:
                    rows.append((next_seq, ev.actor, ev.kind, ev.at, _dumps(ev.data)))
                    last_seq[ev.actor] = next_seq
                    next_seq += 1
                for put in write.puts:
                    if put.value is None:
                        conn.execute(
                            "DELETE FROM records WHERE ns = ? AND key = ?", (put.ns, put.key)
                        )
                    else:
                        conn.execute(
                            "INSERT OR REPLACE INTO records (ns, key, value) VALUES (?, ?, ?)",
                            (put.ns, put.key, _dumps(put.value)),
                        )
                for snap in write.snapshots:
                    seq = last_seq.get(snap.actor)
                    if seq is None:
                        found = conn.execute(
                            "SELECT COALESCE(MAX(seq), 0) FROM events WHERE actor = ?",
                            (snap.actor,),
                        ).fetchone()
                        seq = int(found[0])
                    conn.execute(
                        "INSERT OR REPLACE INTO snapshots (actor, seq, state) VALUES (?, ?, ?)",
                        (snap.actor, seq, _dumps(snap.state)),
                    )
                if write.idem is not None and write.events:
                    idem_seqs.append((first, write.idem))
                results.append(Committed(tuple(range(first, next_seq))))
            if rows:
                conn.executemany(_INSERT_EVENT, rows)
            if idem_seqs:
                conn.executemany("UPDATE idempotency SET seq = ? WHERE key = ?", idem_seqs)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # (SQLite may have rolled back already: disk full)
                conn.execute("ROLLBACK")
            raise
        events = len(rows)
        STORE_EVENTS.inc(events)
        return results

    # ------------------------------------------------------------------- reads

    def _read(self, sql: str, args: Iterable[object] = ()) -> list[tuple[Any, ...]]:
        conn = self._rconn
        if conn is None:
            raise StoreClosed("store is closed")
        with self._rlock:
            return conn.execute(sql, tuple(args)).fetchall()

    def load_actor(self, actor: str) -> tuple[dict[str, JSON] | None, list[StoredEvent]]:
        """The actor's last snapshot (or None) and every event after it, oldest first."""
        rows = self._read("SELECT seq, state FROM snapshots WHERE actor = ?", (actor,))
        snap_seq, state = (rows[0][0], json.loads(rows[0][1])) if rows else (0, None)
        events = self._read(
            "SELECT seq, actor, kind, at, data FROM events WHERE actor = ? AND seq > ? "
            "ORDER BY seq",
            (actor, snap_seq),
        )
        return state, [StoredEvent(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in events]

    def events_for(self, actors: Sequence[str], *, limit: int = 10_000) -> list[StoredEvent]:
        """Events of several actors merged, oldest first (by time, then commit order)."""
        if not actors:
            return []
        marks = ",".join("?" for _ in actors)
        rows = self._read(
            f"SELECT seq, actor, kind, at, data FROM events WHERE actor IN ({marks}) "
            "ORDER BY at, seq LIMIT ?",
            (*actors, limit),
        )
        return [StoredEvent(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

    def events_by_kind(
        self, kinds: Sequence[str], since: float, until: float | None = None
    ) -> list[StoredEvent]:
        """Events of these kinds with ``since <= at < until``, oldest first (by time,
        then commit order); served by the ``(kind, at)`` index."""
        if not kinds:
            return []
        marks = ",".join("?" for _ in kinds)
        sql = f"SELECT seq, actor, kind, at, data FROM events WHERE kind IN ({marks}) AND at >= ?"
        args: list[object] = [*kinds, since]
        if until is not None:
            sql += " AND at < ?"
            args.append(until)
        rows = self._read(sql + " ORDER BY at, seq", args)
        return [StoredEvent(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

    def latest_by_actor(self, kind: str, before: float) -> list[StoredEvent]:
        """For each actor, its last event of ``kind`` with ``at < before``."""
        rows = self._read(
            "SELECT e.seq, e.actor, e.kind, e.at, e.data FROM events e JOIN "
            "(SELECT MAX(seq) AS last FROM events WHERE kind = ? AND at < ? GROUP BY actor) m "
            "ON e.seq = m.last ORDER BY e.seq",
            (kind, before),
        )
        return [StoredEvent(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

    def events_after(
        self, seq: int, kinds: Sequence[str], *, limit: int = 100
    ) -> list[StoredEvent]:
        """Events of these kinds committed after ``seq``, in commit order (a follower's
        next batch)."""
        if not kinds:
            return []
        marks = ",".join("?" for _ in kinds)
        rows = self._read(
            f"SELECT seq, actor, kind, at, data FROM events WHERE seq > ? AND +kind IN ({marks}) "
            "ORDER BY seq LIMIT ?",
            (seq, *kinds, limit),
        )
        return [StoredEvent(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

    def count_after(self, seq: int, kinds: Sequence[str]) -> int:
        """How many events of these kinds were committed after ``seq``."""
        if not kinds:
            return 0
        marks = ",".join("?" for _ in kinds)
        rows = self._read(
            f"SELECT COUNT(*) FROM events WHERE seq > ? AND +kind IN ({marks})", (seq, *kinds)
        )
        return int(rows[0][0])

    def last_seq(self) -> int:
        rows = self._read("SELECT seq FROM sqlite_sequence WHERE name = 'events'")
        return int(rows[0][0]) if rows else 0

    def events_page(
        self,
        actors: Sequence[str],
        *,
        kinds: Collection[str] = (),
        before: int | None = None,
        limit: int = 100,
    ) -> tuple[list[StoredEvent], bool]:
        """One page of the events of ``actors`` (of ``kinds``, when given), oldest first:
        the newest ``limit`` that come before event ``before`` (by time, then commit
        order), and whether older ones remain. ``ValueError`` when ``before`` is not an
        event of these actors."""
        if not actors:
            return [], False
        where = f"actor IN ({','.join('?' for _ in actors)})"
        args: list[object] = list(actors)
        if kinds:
            # (+kind: a contact's page is found by its actor, never by the kind index)
            where += f" AND +kind IN ({','.join('?' for _ in kinds)})"
            args += list(kinds)
        if before is not None:
            found = self._read(f"SELECT at FROM events WHERE seq = ? AND {where}", (before, *args))
            if not found:
                raise ValueError(f"no event {before} here")
            where += " AND (at, seq) < (?, ?)"
            args += [found[0][0], before]
        rows = self._read(
            f"SELECT seq, actor, kind, at, data FROM events WHERE {where} "
            "ORDER BY at DESC, seq DESC LIMIT ?",
            (*args, limit + 1),
        )
        page = [StoredEvent(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows[:limit]]
        page.reverse()
        return page, len(rows) > limit

    def actors_mentioning(self, prefix: str, needle: str, *, limit: int = 20) -> list[str]:
        """Actors whose id starts with ``prefix`` and one of whose events contains
        ``needle`` (ASCII letters in any case), the most recently mentioned first. A
        full scan of the log: for a person's search, not for a hot path."""
        like = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._read(
            "SELECT actor FROM events WHERE actor >= ? AND actor < ? "
            "AND data LIKE ? ESCAPE '\\' GROUP BY actor ORDER BY MAX(seq) DESC LIMIT ?",
            (prefix, prefix + "\U0010ffff", f"%{like}%", limit),
        )
        return [str(r[0]) for r in rows]

    def count_events(self, actor: str | None = None) -> int:
        if actor is None:
            return int(self._read("SELECT COUNT(*) FROM events")[0][0])
        return int(self._read("SELECT COUNT(*) FROM events WHERE actor = ?", (actor,))[0][0])

    def get(self, ns: str, key: str) -> JSON | None:
        rows = self._read("SELECT value FROM records WHERE ns = ? AND key = ?", (ns, key))
        return json.loads(rows[0][0]) if rows else None

    def scan(self, ns: str, prefix: str = "") -> list[tuple[str, JSON]]:
        rows = self._read(
            "SELECT key, value FROM records WHERE ns = ? AND key >= ? AND key < ? ORDER BY key",
            (ns, prefix, prefix + "\U0010ffff"),
        )
        return [(r[0], json.loads(r[1])) for r in rows]

    def seen(self, idem: str) -> bool:
        return bool(self._read("SELECT 1 FROM idempotency WHERE key = ?", (idem,)))

    # --------------------------------------------------------------- lifecycle

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def close(self) -> None:
        """Stop taking writes, commit everything queued, close the database."""
        self._closing = True
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)
        if self._writer_task is not None:
            await self._writer_task
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close_writer)
        self._executor.shutdown(wait=True)
        if self._rconn is not None:
            self._rconn.close()
            self._rconn = None
        log.info("store_closed", path=self.path)

    def _close_writer(self) -> None:
        if self._wconn is not None:
            try:
                self._wconn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:  # e.g. disk full: the WAL keeps every commit
                log.warning("store_checkpoint_failed", error=str(exc))
            self._wconn.close()
            self._wconn = None
