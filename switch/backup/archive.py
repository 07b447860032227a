"""A backup file of a box, and putting one back.

A backup is one ``.tar.gz`` holding:

- ``switch.db``: the store, copied with SQLite's online backup API from its own read
  transaction, so it is consistent while the switch keeps writing (WAL lets both run);
  the copy is checked (``PRAGMA integrity_check``) before it is packed;
- ``config.toml``: the config the switch runs with (when known);
- ``recordings.json``: an index of the call recordings (path, size, time), not the audio
  itself: recordings are large and go to their own storage;
- ``manifest.json``: what made it, when, and the store's schema version and counts.

The file is written under a temporary name and renamed once complete (fsync'd), so a
backup path never holds half a backup.

Restoring refuses a store that a running switch holds (a live ``flock`` on
``<store dir>/switch.lock``, the file ``switch run`` locks at start) and holds that lock
itself while it works, so no switch starts on a half-restored store. Nothing is deleted:
a store that was there is moved aside (``switch.db.before-restore-<time>``, with its
``-wal`` and ``-shm``, renamed together so it can still be opened).
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from base.errors import Rejected, SwitchError
from switch.store.schema import SCHEMA_VERSION
from switch.version import switch_version

FORMAT = 1
LOCK_NAME = "switch.lock"  # in the store's directory: a running switch holds a flock on it
DB_MEMBER = "switch.db"
MEMBERS = ("manifest.json", DB_MEMBER, "config.toml", "recordings.json")


class StoreBusy(SwitchError):
    """A running switch holds the store."""


class BadBackup(Rejected):
    """The file is not a backup this switch can restore."""

    def __init__(self, message: str) -> None:
        super().__init__("bad_backup", message, 422)


@dataclass(frozen=True, slots=True)
class BackupInfo:
    path: Path
    size: int
    events: int
    records: int
    recordings: int
    schema_version: int


@dataclass(frozen=True, slots=True)
class RestoreInfo:
    store: Path
    moved_aside: tuple[Path, ...]
    manifest: dict[str, Any]


# ------------------------------------------------------------------ backing up


def make_backup(
    db_path: Path,
    dest: Path,
    *,
    config_text: str | None = None,
    recordings_dir: Path | None = None,
    box_id: str | None = None,
) -> BackupInfo:
    """Write a backup of the store at ``db_path`` (running or not) to ``dest``."""
    if not db_path.is_file():
        raise Rejected("no_store", f"no store at {db_path}", 404)
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(prefix=".backup-", dir=dest.parent) as tmp:
        copy = Path(tmp) / DB_MEMBER
        schema, events, records = _copy_store(db_path, copy)
        index = recordings_index(recordings_dir)
        manifest = {
            "format": FORMAT,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "switch_version": switch_version(),
            "schema_version": schema,
            "box_id": box_id,
            "store": str(db_path),
            "events": events,
            "records": records,
            "recordings": len(index),
            "config": config_text is not None,
        }
        partial = dest.with_name(f".{dest.name}.partial")
        # the store and the config hold secrets (tokens, passwords): owner only
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            _add_bytes(tar, "manifest.json", json.dumps(manifest, indent=2).encode())
            tar.add(copy, arcname=DB_MEMBER)
            if config_text is not None:
                _add_bytes(tar, "config.toml", config_text.encode())
            _add_bytes(tar, "recordings.json", json.dumps(index, indent=1).encode())
        _fsync(partial)
        os.replace(partial, dest)
        _fsync(dest.parent)
    return BackupInfo(dest, dest.stat().st_size, events, records, len(index), schema)


def _copy_store(db_path: Path, copy: Path) -> tuple[int, int, int]:
    source = sqlite3.connect(f"{db_path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(copy)
        try:
            source.backup(target)  # every page in one step: one consistent snapshot
            target.execute("PRAGMA journal_mode=DELETE")
            check = target.execute("PRAGMA integrity_check").fetchone()[0]
            if check != "ok":
                raise SwitchError(f"the copy of {db_path} failed its integrity check: {check}")
            schema = _schema_version(target)
            events = _count(target, "events")
            records = _count(target, "records")
        finally:
            target.close()
    finally:
        source.close()
    return schema, events, records


def _schema_version(conn: sqlite3.Connection) -> int:
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError:
        return 0
    return int(row[0]) if row else 0


def _count(conn: sqlite3.Connection, table: str) -> int:
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    except sqlite3.DatabaseError:
        return 0


def recordings_index(directory: Path | None) -> list[dict[str, Any]]:
    """Every file under the recordings directory: relative path, bytes, modified time."""
    if directory is None or not directory.is_dir():
        return []
    out = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        st = path.stat()
        out.append(
            {
                "path": str(path.relative_to(directory)),
                "bytes": st.st_size,
                "modified": datetime.fromtimestamp(st.st_mtime, UTC).isoformat(timespec="seconds"),
            }
        )
    return out


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    info.mode = 0o640
    tar.addfile(info, io.BytesIO(data))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ------------------------------------------------------------------- the lock


def store_holder(store_dir: Path) -> str | None:
    """Who holds the store: None when nobody does, else what the lock file says."""
    lock = store_dir / LOCK_NAME
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder(lock)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


@contextlib.contextmanager
def hold_store(store_dir: Path) -> Iterator[None]:
    """Hold ``<store dir>/switch.lock`` exclusively (StoreBusy when a switch has it)."""
    store_dir.mkdir(parents=True, exist_ok=True)
    lock = store_dir / LOCK_NAME
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreBusy(
                f"the store in {store_dir} is in use ({_holder(lock)}): stop the switch "
                "first (systemctl stop edge-switch)"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _holder(lock: Path) -> str:
    try:
        text = lock.read_text(errors="replace").strip()
    except OSError:
        text = ""
    if not text:
        return "held by a running switch"
    first = text.splitlines()[0][:80]
    return f"held by pid {first}" if first.isdigit() else f"held by {first}"


# ------------------------------------------------------------------- restoring


def read_backup(archive: Path) -> tuple[dict[str, Any], tarfile.TarFile]:
    try:
        tar = tarfile.open(archive, "r:gz")  # noqa: SIM115 (the caller closes it)
    except (OSError, tarfile.TarError) as exc:
        raise BadBackup(f"{archive} is not a backup file: {exc}") from None
    try:
        names = set(tar.getnames())
        unexpected = names - set(MEMBERS)
        if unexpected or "manifest.json" not in names or DB_MEMBER not in names:
            raise BadBackup(f"{archive} is not a switch backup (members: {sorted(names)})")
        manifest = json.loads(_member(tar, "manifest.json"))
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise BadBackup(f"{archive}: unknown backup format {manifest.get('format')!r}")
        schema = int(manifest.get("schema_version", 0))
        if schema > SCHEMA_VERSION:
            raise BadBackup(
                f"{archive} was made by a newer switch (store schema {schema}, this switch "
                f"knows up to {SCHEMA_VERSION}): restore it with that version or newer"
            )
    except BaseException:
        tar.close()
        raise
    return manifest, tar


def _member(tar: tarfile.TarFile, name: str) -> bytes:
    member = tar.getmember(name)
    if not member.isfile():
        raise BadBackup(f"{name} in the backup is not a file")
    handle = tar.extractfile(member)
    if handle is None:
        raise BadBackup(f"{name} cannot be read from the backup")
    with handle:
        return handle.read()


def restore_backup(archive: Path, store: Path, *, config_out: Path | None = None) -> RestoreInfo:
    """Put the backup's store at ``store`` (and its config at ``config_out``)."""
    manifest, tar = read_backup(archive)
    store_dir = store.parent
    with tar, hold_store(store_dir):
        fd, tmp_name = tempfile.mkstemp(prefix=".restore-", suffix=".db", dir=store_dir)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                handle = tar.extractfile(tar.getmember(DB_MEMBER))
                if handle is None:
                    raise BadBackup("the store in the backup cannot be read")
                with handle:
                    while chunk := handle.read(1 << 20):
                        out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            _check_restored(tmp)
            config_text = _member(tar, "config.toml") if "config.toml" in tar.getnames() else None
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            moved = _move_aside(store, stamp)
            os.replace(tmp, store)
            _fsync(store_dir)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    if config_out is not None:
        if config_text is None:
            raise BadBackup("the backup holds no config file")
        moved += _move_aside(config_out, stamp)
        config_out.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(config_out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(config_text)
    return RestoreInfo(store, moved, manifest)


def _check_restored(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise BadBackup(f"the store in the backup is not a database: {exc}") from None
    finally:
        conn.close()
    if check != "ok":
        raise BadBackup(f"the store in the backup is damaged: {check}")


def _move_aside(path: Path, stamp: str) -> tuple[Path, ...]:
    """Rename ``path`` (and its ``-wal``/``-shm``) out of the way; nothing is deleted."""
    moved = []
    aside = path.with_name(f"{path.name}.before-restore-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        current = path.with_name(path.name + suffix)
        if current.exists():
            target = aside.with_name(aside.name + suffix)
            os.replace(current, target)
            moved.append(target)
    return tuple(moved)
