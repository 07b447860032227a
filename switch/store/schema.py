"""Store schema and its migrations.

Rules: migrations are append-only (a released one is never edited: a database made by
it exists somewhere); each runs once, all its statements in ONE transaction with the
bump of ``meta.schema_version``, so a migration that fails leaves the database exactly
as it was; a database newer than this code is refused rather than guessed at. Before
upgrading a database that holds data, a copy of it is kept beside it
(``<db>.pre-schema-<found>``), made with SQLite's backup API.

Every released schema has a fixture database under ``tests/fixtures/store/`` (made by
the script there) that a test opens with the current code: a new migration must carry
those databases forward without losing anything they hold.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import structlog

from base.errors import ConfigError

log = structlog.get_logger("store")

MIGRATIONS: tuple[str, ...] = (
    # 1: the event log, snapshots, idempotency keys and keyed records (projections)
    """
    CREATE TABLE events (
        seq   INTEGER PRIMARY KEY AUTOINCREMENT,
        actor TEXT NOT NULL,
        kind  TEXT NOT NULL,
        at    REAL NOT NULL,
        data  TEXT NOT NULL
    );
    CREATE INDEX events_by_actor ON events (actor, seq);
    CREATE TABLE snapshots (
        actor TEXT PRIMARY KEY,
        seq   INTEGER NOT NULL,
        state TEXT NOT NULL
    );
    CREATE TABLE idempotency (
        key TEXT PRIMARY KEY,
        seq INTEGER
    );
    CREATE TABLE records (
        ns    TEXT NOT NULL,
        key   TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (ns, key)
    ) WITHOUT ROWID;
    """,
    # 2: events by kind and time (statistics read queue, call, survey and agent-status
    # events of a time range without scanning every contact's log)
    """
    CREATE INDEX events_by_kind_at ON events (kind, at);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, migrations: Sequence[str] = MIGRATIONS) -> int:
    """Bring ``conn`` to the last of ``migrations``; return the version found before."""
    target = len(migrations)
    conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    found = schema_version(conn)
    path = _file_of(conn)
    if found > target:
        raise ConfigError(
            [
                (
                    "store.path",
                    f"the store {path or ''} was written by a newer switch (schema {found}; "
                    f"this switch knows up to {target}): run that version, or restore a "
                    "backup made with this one (switch restore)",
                )
            ]
        )
    if 0 < found < target and path is not None:
        _keep_copy(conn, Path(f"{path}.pre-schema-{found}"))
    for version in range(found, target):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(migrations[version]):
                conn.execute(statement)
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(version + 1),),
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        if found > 0:
            log.info("store_migrated", path=path, schema=version + 1)
    return found


def schema_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def _file_of(conn: sqlite3.Connection) -> str | None:
    for _, name, file in conn.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return str(file) or None
    return None


def _keep_copy(conn: sqlite3.Connection, copy: Path) -> None:
    if copy.exists():  # an earlier attempt at this upgrade already kept one
        return
    partial = copy.with_name(copy.name + ".partial")
    target = sqlite3.connect(partial)
    try:
        conn.backup(target)
    finally:
        target.close()
    partial.replace(copy)
    log.info("store_copy_before_upgrade", copy=str(copy))


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
