"""Store upgrades: every released schema's database opens with this code and shows the
same contacts and journeys; a newer database is refused; a failed migration changes
nothing; an upgrade keeps a copy of the database as it was."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from base.errors import ConfigError
from switch.config import parse_config
from switch.core import Core
from switch.store import Store
from switch.store.schema import MIGRATIONS, SCHEMA_VERSION, migrate, schema_version

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "store"


def released() -> list[int]:
    return sorted(int(p.stem[1:]) for p in FIXTURES.glob("v*.db"))


def test_every_schema_up_to_the_current_one_has_a_fixture() -> None:
    assert released() == list(range(1, SCHEMA_VERSION + 1))


@pytest.mark.parametrize("version", released())
async def test_a_released_database_opens_and_shows_what_it_showed(
    version: int, tmp_path: Path
) -> None:
    db = tmp_path / "switch.db"
    shutil.copyfile(FIXTURES / f"v{version}.db", db)
    expected = json.loads((FIXTURES / f"v{version}.json").read_text(encoding="utf-8"))
    core = await Core.open(
        parse_config({"store": {"path": str(db)}, "api": {"tokens": ["secret-token-for-tests"]}})
    )
    try:
        for phone, view in expected.items():
            found = await core.contacts_by_phone(phone)
            assert [c.to_json() for c in found] == view["contacts"]
            assert [await core.journey(c.contact_id) for c in found] == view["journeys"]
    finally:
        await core.close()
    conn = sqlite3.connect(db)
    assert schema_version(conn) == SCHEMA_VERSION
    conn.close()


NEXT = "ALTER TABLE records ADD COLUMN updated_at REAL; CREATE INDEX records_by_ns ON records (ns)"


def _counts(db: Path) -> tuple[int, int, int]:
    conn = sqlite3.connect(db)
    try:
        return tuple(  # type: ignore[return-value]
            conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("events", "records", "snapshots")
        )
    finally:
        conn.close()


def test_an_upgrade_keeps_every_row_and_a_copy_of_the_old_database(tmp_path: Path) -> None:
    db = tmp_path / "switch.db"
    shutil.copyfile(FIXTURES / f"v{SCHEMA_VERSION}.db", db)
    before = _counts(db)
    conn = sqlite3.connect(db, isolation_level=None)
    assert migrate(conn, (*MIGRATIONS, NEXT)) == SCHEMA_VERSION
    assert schema_version(conn) == SCHEMA_VERSION + 1
    conn.close()
    assert _counts(db) == before
    copy = tmp_path / f"switch.db.pre-schema-{SCHEMA_VERSION}"
    assert _counts(copy) == before
    old = sqlite3.connect(copy)
    assert schema_version(old) == SCHEMA_VERSION
    old.close()


def test_a_migration_that_fails_halfway_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "switch.db"
    shutil.copyfile(FIXTURES / f"v{SCHEMA_VERSION}.db", db)
    before = _counts(db)
    broken = "ALTER TABLE records ADD COLUMN updated_at REAL; CREATE TABLE events (x INTEGER)"
    conn = sqlite3.connect(db, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, (*MIGRATIONS, broken))
    assert schema_version(conn) == SCHEMA_VERSION
    columns = [row[1] for row in conn.execute("PRAGMA table_info(records)")]
    assert "updated_at" not in columns  # the first statement was rolled back too
    conn.close()
    assert _counts(db) == before


async def test_a_database_from_a_newer_switch_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "switch.db"
    shutil.copyfile(FIXTURES / f"v{SCHEMA_VERSION}.db", db)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),)
        )
    conn.close()
    data = db.read_bytes()
    with pytest.raises(ConfigError, match="written by a newer switch"):
        await Store.open(db)
    assert db.read_bytes() == data
