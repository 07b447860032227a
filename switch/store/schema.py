"""Store schema and its migrations.

Rules: migrations are append-only; each runs once inside a transaction and bumps
``meta.schema_version``; a database newer than this code is refused rather than guessed at.
"""

from __future__ import annotations

import sqlite3

from base.errors import ConfigError

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
)

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring ``conn`` to :data:`SCHEMA_VERSION`; return the version found before."""
    conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    found = int(row[0]) if row else 0
    if found > SCHEMA_VERSION:
        raise ConfigError(
            [
                (
                    "store.path",
                    f"database schema {found} is newer than this switch ({SCHEMA_VERSION})",
                )
            ]
        )
    for version in range(found, SCHEMA_VERSION):
        with conn:
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(version + 1),),
            )
    return found


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
