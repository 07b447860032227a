"""Store: group commit, idempotency, snapshots + replay, schema versions."""

import asyncio
import sqlite3
from pathlib import Path

import pytest

from base.errors import ConfigError
from switch.store import Event, Put, Snapshot, Store, StoreClosed, Write
from switch.store.schema import SCHEMA_VERSION


async def test_many_concurrent_writes_commit_in_few_batches(store: Store) -> None:
    futures = [
        store.submit(Write(events=(Event(f"a:{i % 7}", "k", 1.0, {"i": i}),))) for i in range(500)
    ]
    results = await asyncio.gather(*futures)
    seqs = [r.seqs[0] for r in results]
    assert seqs == sorted(seqs) and len(set(seqs)) == 500
    assert store.count_events() == 500
    assert [e.data["i"] for e in store.load_actor("a:3")[1]] == list(range(3, 500, 7))


async def test_idempotency_key_records_once_even_within_one_batch(store: Store) -> None:
    w = Write(
        events=(Event("a:1", "sms", 1.0, {"t": "hi"}),), puts=(Put("n", "k", 1),), idem="pdu-1"
    )
    first, second = await asyncio.gather(store.submit(w), store.submit(w))
    third = await store.write(w)
    assert not first.duplicate and second.duplicate and third.duplicate
    assert store.count_events("a:1") == 1
    assert store.seen("pdu-1") and not store.seen("pdu-2")


async def test_snapshot_then_replay_only_later_events(store: Store) -> None:
    await store.append("c:1", "x", {"n": 1}, 1.0)
    await store.write(
        Write(events=(Event("c:1", "x", 2.0, {"n": 2}),), snapshots=(Snapshot("c:1", {"sum": 3}),))
    )
    await store.append("c:1", "x", {"n": 3}, 3.0)
    snap, events = store.load_actor("c:1")
    assert snap == {"sum": 3}
    assert [e.data["n"] for e in events] == [3]


async def test_records_put_scan_delete(store: Store) -> None:
    await store.write(
        Write(puts=(Put("m", "a1", {"x": "សួស្តី"}), Put("m", "a2", 2), Put("m", "b1", 3)))
    )
    assert store.get("m", "a1") == {"x": "សួស្តី"}
    assert [k for k, _ in store.scan("m", "a")] == ["a1", "a2"]
    await store.put("m", "a1", None)
    assert store.get("m", "a1") is None


async def test_data_survives_reopen(tmp_path: Path) -> None:
    s = await Store.open(tmp_path / "s.db")
    await s.append("c:1", "x", {"v": "ok"}, 1.0, idem="k")
    await s.close()
    s2 = await Store.open(tmp_path / "s.db")
    assert [e.data for e in s2.load_actor("c:1")[1]] == [{"v": "ok"}]
    assert (await s2.append("c:1", "x", {}, 2.0, idem="k")).duplicate
    await s2.close()


async def test_closed_store_refuses_writes(tmp_path: Path) -> None:
    s = await Store.open(tmp_path / "s.db")
    pending = s.submit(Write(events=(Event("a:1", "k", 1.0, {}),)))
    await s.close()
    assert (await pending).seqs  # queued before close: committed, not lost
    with pytest.raises(StoreClosed):
        s.submit(Write())


async def test_database_from_a_newer_switch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    s = await Store.open(path)
    await s.close()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),)
        )
    with pytest.raises(ConfigError, match="newer"):
        await Store.open(path)


async def test_wal_and_full_sync_are_on(store: Store) -> None:
    rows = store._read("PRAGMA journal_mode")
    assert rows[0][0] == "wal"
