"""Backups into a directory, by day and on demand, keeping the newest ``keep``.

``[backup]`` in the config turns on the daily backup: at ``at`` (local time, "03:00"),
a backup file ``switch-<UTC time>.tar.gz`` goes into ``dir``; then only the newest
``keep`` such files stay (other files in the directory are never touched). The wait is
re-measured against the wall clock every few minutes, so a box without a battery clock
that gets its time from NTP after boot still backs up at the right hour.

The same function serves ``backup.now`` (a fleet command). Two backups never run at
once, even from two processes: each holds ``<dir>/.backup.lock``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from fastapi import APIRouter

from switch.backup.archive import BackupInfo, make_backup
from switch.config import BackupConfig, Config, demo_config_text

log = structlog.get_logger("backup")

_NAME = re.compile(r"^switch-([0-9]{8}T[0-9]{6}Z)(?:-([0-9]+))?\.tar\.gz$")
RECHECK_SECONDS = 300.0


def next_run(now: datetime, at: str) -> datetime:
    """The first ``at`` (HH:MM) strictly after ``now`` (both local, naive)."""
    hour, minute = (int(part) for part in at.split(":"))
    candidate = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if candidate <= now:
        candidate = (now + timedelta(days=1)).replace(
            hour=hour, minute=minute, second=0, microsecond=0
        )
    return candidate


def backups_in(directory: Path) -> list[Path]:
    """The backup files this module made in ``directory``, oldest first."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = _NAME.fullmatch(path.name)
        if match is not None and path.is_file():
            found.append(((match[1], int(match[2] or 0)), path))
    return [path for _, path in sorted(found)]


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups; return what was deleted."""
    files = backups_in(directory)
    removed = files[: max(0, len(files) - keep)]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def _new_name(directory: Path, now: datetime) -> Path:
    base = f"switch-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    path = directory / f"{base}.tar.gz"
    n = 0
    while path.exists():
        n += 1
        path = directory / f"{base}-{n}.tar.gz"
    return path


@contextlib.contextmanager
def _one_at_a_time(directory: Path) -> Iterator[None]:
    fd = os.open(directory / ".backup.lock", os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def config_text(source: Path | None) -> str | None:
    """The config file the switch was started with (the built-in demo's when None)."""
    if source is None:
        return demo_config_text()
    try:
        return source.read_text(encoding="utf-8")
    except OSError as exc:
        log.warning("backup_config_unreadable", path=str(source), error=str(exc))
        return None


def backup_to_dir(
    config: Config, source: Path | None, settings: BackupConfig
) -> tuple[BackupInfo, list[Path]]:
    """One backup into ``settings.dir``, then the retention. Blocking: run in a thread."""
    directory = Path(settings.dir)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _one_at_a_time(directory):
        info = make_backup(
            Path(config.store.path),
            _new_name(directory, datetime.now(UTC)),
            config_text=config_text(source),
            recordings_dir=Path(config.sip.recordings) if config.sip is not None else None,
            box_id=config.mqtt.box_id if config.mqtt is not None else None,
        )
        removed = prune(directory, settings.keep)
    log.info(
        "backup_done",
        path=str(info.path),
        bytes=info.size,
        events=info.events,
        removed=[p.name for p in removed],
    )
    return info, removed


class BackupService:
    """The daily backup of a running switch (``[backup]``)."""

    name = "backup"

    def __init__(
        self,
        config: Config,
        source: Path | None,
        *,
        now: Callable[[], datetime] = datetime.now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        assert config.backup is not None
        self.config = config
        self.settings = config.backup
        self.source = source
        self._now = now
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self.runs = 0
        self.last_run: datetime | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="backup:daily")
        log.info("backup_scheduled", at=self.settings.at, dir=self.settings.dir)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def routers(self) -> list[APIRouter]:
        return []

    async def _loop(self) -> None:
        while True:
            target = next_run(self._now(), self.settings.at)
            while (remaining := (target - self._now()).total_seconds()) > 0:
                await self._sleep(min(remaining, RECHECK_SECONDS))
            self.last_run = self._now()
            try:
                await asyncio.to_thread(backup_to_dir, self.config, self.source, self.settings)
            except Exception as exc:  # disk full, unreadable store: say so, try tomorrow
                log.error("backup_failed", error=repr(exc), dir=self.settings.dir)
            self.runs += 1
