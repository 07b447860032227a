"""Backup files and restoring them; the daily schedule and its retention."""

from __future__ import annotations

import asyncio
import fcntl
import io
import json
import os
import sqlite3
import tarfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from switch.backup.archive import (
    LOCK_NAME,
    BadBackup,
    StoreBusy,
    make_backup,
    read_backup,
    recordings_index,
    restore_backup,
    store_holder,
)
from switch.backup.schedule import BackupService, backups_in, next_run, prune
from switch.config import parse_config
from switch.store import Event, Put, Store, Write
from switch.store.schema import SCHEMA_VERSION


async def _fill(store: Store, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        await store.write(
            Write(
                events=(Event(f"contact:c{i % 3}", "message_in", float(i), {"i": i}),),
                puts=(Put("message", f"m{i}", {"i": i}),),
            )
        )


def _dump(db: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    conn = sqlite3.connect(db)
    try:
        events = conn.execute(
            "SELECT seq, actor, kind, at, data FROM events ORDER BY seq"
        ).fetchall()
        records = conn.execute("SELECT ns, key, value FROM records ORDER BY ns, key").fetchall()
    finally:
        conn.close()
    return events, records


async def test_an_online_backup_restores_every_acknowledged_write(tmp_path: Path) -> None:
    db = tmp_path / "live" / "switch.db"
    store = await Store.open(db)
    try:
        await _fill(store, 50)
        # writes keep coming while the backup runs (it reads one consistent snapshot)
        writer = asyncio.create_task(_fill(store, 200, start=50))
        info = await asyncio.to_thread(
            make_backup, db, tmp_path / "b.tar.gz", config_text="[store]\n", box_id="shop-12"
        )
        await writer
    finally:
        await store.close()
    assert info.events >= 50 and info.schema_version == SCHEMA_VERSION
    restored = tmp_path / "fresh" / "switch.db"
    result = restore_backup(info.path, restored, config_out=tmp_path / "fresh" / "config.toml")
    events, records = _dump(restored)
    live_events, live_records = _dump(db)
    assert len(events) == info.events and len(records) == info.records
    assert events == live_events[: len(events)]  # a prefix: nothing torn, nothing reordered
    assert set(records) <= set(live_records)
    assert result.manifest["box_id"] == "shop-12" and result.moved_aside == ()
    assert (tmp_path / "fresh" / "config.toml").read_text() == "[store]\n"
    reopened = await Store.open(restored)  # the restored store opens and reads
    assert reopened.count_events() == info.events
    await reopened.close()


def test_a_backup_file_holds_the_store_config_index_and_manifest(tmp_path: Path) -> None:
    db = tmp_path / "switch.db"
    sqlite3.connect(db).close()
    rec = tmp_path / "rec"
    (rec / "2024").mkdir(parents=True)
    (rec / "2024" / "call-1.wav").write_bytes(b"RIFF....")
    info = make_backup(db, tmp_path / "out" / "b.tar.gz", config_text="x = 1\n", recordings_dir=rec)
    with tarfile.open(info.path) as tar:
        assert sorted(tar.getnames()) == [
            "config.toml",
            "manifest.json",
            "recordings.json",
            "switch.db",
        ]
        index = json.loads(tar.extractfile("recordings.json").read())  # type: ignore[union-attr]
    assert [(e["path"], e["bytes"]) for e in index] == [("2024/call-1.wav", 8)]
    assert info.recordings == 1
    assert info.path.stat().st_mode & 0o077 == 0  # secrets inside: the owner's only
    assert not [p for p in info.path.parent.iterdir() if p.name.startswith(".")]  # no leftovers


def test_recordings_index_of_a_missing_directory_is_empty(tmp_path: Path) -> None:
    assert recordings_index(tmp_path / "none") == [] and recordings_index(None) == []


def test_restore_refuses_a_store_a_running_switch_holds(tmp_path: Path) -> None:
    db = tmp_path / "src" / "switch.db"
    db.parent.mkdir()
    sqlite3.connect(db).close()
    backup = make_backup(db, tmp_path / "b.tar.gz").path
    target = tmp_path / "live" / "switch.db"
    target.parent.mkdir()
    target.write_bytes(b"the running switch's store")
    fd = os.open(target.parent / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    os.write(fd, b"4242\n")
    fcntl.flock(fd, fcntl.LOCK_EX)  # what a running switch holds
    try:
        assert store_holder(target.parent) == "held by pid 4242"
        with pytest.raises(StoreBusy, match="pid 4242"):
            restore_backup(backup, target)
        assert target.read_bytes() == b"the running switch's store"
        assert sorted(p.name for p in target.parent.iterdir()) == sorted([LOCK_NAME, "switch.db"])
    finally:
        os.close(fd)
    assert store_holder(target.parent) is None
    restore_backup(backup, target)  # the switch stopped: now it may


def test_restore_moves_the_previous_store_aside_with_its_wal(tmp_path: Path) -> None:
    src = tmp_path / "src.db"
    sqlite3.connect(src).close()
    backup = make_backup(src, tmp_path / "b.tar.gz").path
    target = tmp_path / "data" / "switch.db"
    target.parent.mkdir()
    target.write_bytes(b"old db")
    target.with_name("switch.db-wal").write_bytes(b"old wal")
    info = restore_backup(backup, target)
    names = sorted(p.name for p in info.moved_aside)
    assert len(names) == 2 and names[0].startswith("switch.db.before-restore-")
    assert names[1] == names[0] + "-wal"
    assert (target.parent / names[1]).read_bytes() == b"old wal"
    assert not target.with_name("switch.db-wal").exists()  # never replayed onto the new db


def test_a_file_that_is_not_a_backup_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"hello")
    with pytest.raises(BadBackup):
        restore_backup(junk, tmp_path / "s" / "switch.db")
    other = tmp_path / "other.tar.gz"
    with tarfile.open(other, "w:gz") as tar:
        tar.add(junk, arcname="../../etc/passwd")
    assert backups_in(tmp_path) == []
    with pytest.raises(BadBackup, match="not a switch backup"):
        read_backup(other)
    assert not (tmp_path / "s" / "switch.db").exists()


def test_a_backup_from_a_newer_schema_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "src.db"
    sqlite3.connect(src).close()
    backup = make_backup(src, tmp_path / "b.tar.gz").path
    with tarfile.open(backup) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    manifest = json.loads(members["manifest.json"])
    manifest["schema_version"] = SCHEMA_VERSION + 1
    members["manifest.json"] = json.dumps(manifest).encode()
    newer = tmp_path / "newer.tar.gz"
    with tarfile.open(newer, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(BadBackup, match="newer switch"):
        read_backup(newer)


def test_a_damaged_store_in_a_backup_is_refused_and_nothing_is_replaced(tmp_path: Path) -> None:
    src = tmp_path / "src.db"
    sqlite3.connect(src).close()
    backup = make_backup(src, tmp_path / "b.tar.gz").path
    with tarfile.open(backup) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    members["switch.db"] = b"garbage" * 100
    damaged = tmp_path / "damaged.tar.gz"
    with tarfile.open(damaged, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    target = tmp_path / "data" / "switch.db"
    target.parent.mkdir()
    target.write_bytes(b"keep me")
    with pytest.raises(BadBackup):
        restore_backup(damaged, target)
    assert target.read_bytes() == b"keep me"
    assert sorted(p.name for p in target.parent.iterdir()) == sorted([LOCK_NAME, "switch.db"])


def test_next_run_is_the_next_occurrence_of_the_time() -> None:
    assert next_run(datetime(2024, 5, 1, 2, 0), "03:00") == datetime(2024, 5, 1, 3, 0)
    assert next_run(datetime(2024, 5, 1, 3, 0), "03:00") == datetime(2024, 5, 2, 3, 0)
    assert next_run(datetime(2024, 5, 31, 23, 59), "00:00") == datetime(2024, 6, 1, 0, 0)


def test_prune_keeps_the_newest_and_touches_nothing_else(tmp_path: Path) -> None:
    names = [f"switch-2024050{d}T030000Z.tar.gz" for d in range(1, 4)]
    names += ["switch-20240503T030000Z-1.tar.gz", "switch-20240503T030000Z-2.tar.gz"]
    for name in [*names, "notes.txt", "switch-manual.tar.gz"]:
        (tmp_path / name).write_bytes(b"x")
    removed = prune(tmp_path, keep=2)
    assert [p.name for p in removed] == names[:3]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*names[3:], "notes.txt", "switch-manual.tar.gz"]
    )


async def test_the_daily_backup_runs_at_its_time_and_keeps_keep(tmp_path: Path) -> None:
    db = tmp_path / "data" / "switch.db"
    store = await Store.open(db)
    await _fill(store, 3)
    config = parse_config(
        {
            "store": {"path": str(db)},
            "api": {"tokens": ["secret-token-for-tests"]},
            "backup": {"dir": str(tmp_path / "backups"), "keep": 2, "at": "03:00"},
        }
    )
    clock = [datetime(2024, 5, 1, 2, 59, 30)]
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:  # time passes only when the service waits
        if service.runs >= 3:
            await asyncio.Event().wait()  # the test has seen enough: wait to be stopped
        waits.append(seconds)
        clock[0] += timedelta(seconds=seconds)
        await asyncio.sleep(0)

    service = BackupService(config, None, now=lambda: clock[0], sleep=fake_sleep)
    await service.start()
    try:
        while service.runs < 3:
            await asyncio.sleep(0.01)
            if service._task is not None and service._task.done():
                service._task.result()
    finally:
        await service.stop()
        await store.close()
    assert service.last_run == datetime(2024, 5, 3, 3, 0)  # the third: two days after the first
    assert waits[0] == 30.0  # 02:59:30 -> 03:00
    kept = backups_in(tmp_path / "backups")
    assert len(kept) == 2  # three runs, keep = 2
