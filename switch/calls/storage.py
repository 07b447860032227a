"""The disk of call recordings: retention, and no new recording when space runs low.

Rules:

- *Retention* (``[sip] recordings_keep_days``, ``recordings_max_mb``; 0 = no limit): a
  recording older than the days is removed, then the oldest go until the rest fit in
  the megabytes. The recording of a call still going on is never removed. Swept at
  start and every :data:`SWEEP_EVERY` seconds, off the event loop.
- *Threshold* (``[sip] recordings_min_free_mb``): under that much free space on the
  recordings' disk, calls that start from then on are not recorded; they connect and
  run as ever (and SMS, which live in the store, go on). Recording resumes for new calls
  once the free space is 10 % above the threshold again (no flapping around the line).
  The free space is looked at as each call starts and every :data:`CHECK_EVERY` seconds;
  each flip is a log line (``recording_paused`` / ``recording_resumed``), a problem line
  of ``GET /api/v1/health``, a telemetry field and a fleet event.

The three keys change with a config reload (:meth:`RecordingGuard.reconfigure`: the
limits apply at once, a sweep follows); the rest of ``[sip]`` needs a restart.

:func:`expired` and :class:`Threshold` decide without I/O; :class:`RecordingGuard` is
the service that looks at the disk and tells the calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from fastapi import APIRouter

    from switch.config import Config
    from switch.core import Core

log = structlog.get_logger("recordings")

CHECK_EVERY = 30.0  # seconds between looks at the free space
SWEEP_EVERY = 3600.0  # seconds between retention sweeps
HYSTERESIS = 1.1
MB = 1024 * 1024
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Recording:
    name: str  # file name in the recordings directory
    size: int  # bytes
    mtime: float  # seconds since the epoch


def expired(
    files: Iterable[Recording],
    now: float,
    *,
    keep_days: int,
    max_bytes: int,
    live: frozenset[str] = frozenset(),
) -> list[Recording]:
    """The recordings to remove: older than ``keep_days`` (0: no age limit), then the
    oldest of the rest until they fit in ``max_bytes`` (0: no size limit); never one in
    ``live`` (a call going on)."""
    remove: list[Recording] = []
    kept: list[Recording] = []
    for f in sorted(files, key=lambda f: (f.mtime, f.name)):
        if f.name not in live and keep_days > 0 and now - f.mtime > keep_days * DAY:
            remove.append(f)
        else:
            kept.append(f)
    if max_bytes > 0:
        total = sum(f.size for f in kept)
        for f in kept:
            if total <= max_bytes:
                break
            if f.name in live:
                continue
            remove.append(f)
            total -= f.size
    return remove


@dataclass(slots=True)
class Threshold:
    """Low below ``threshold`` bytes free; back only at ``threshold * HYSTERESIS``."""

    threshold: int
    low: bool = False

    def check(self, free: int) -> str | None:
        """``"paused"`` / ``"resumed"`` when the state flips, else None."""
        if not self.low and free < self.threshold:
            self.low = True
            return "paused"
        if self.low and free >= self.threshold * HYSTERESIS:
            self.low = False
            return "resumed"
        return None


def free_bytes(path: Path) -> int:
    """Free space for an unprivileged writer on the disk that holds ``path`` (or its
    nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def scan(directory: Path) -> list[Recording]:
    out: list[Recording] = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return out
    for entry in entries:
        if entry.name.endswith(".wav") and entry.is_file(follow_symlinks=False):
            with contextlib.suppress(FileNotFoundError):
                st = entry.stat(follow_symlinks=False)
                out.append(Recording(entry.name, st.st_size, st.st_mtime))
    return out


class RecordingGuard:
    """The service (``recordings``): pauses recording on a low disk, sweeps old files."""

    name = "recordings"

    def __init__(self, core: Core, probe: Callable[[Path], int] = free_bytes) -> None:
        sip = core.config.sip
        assert sip is not None
        self.core = core
        self.directory = Path(sip.recordings)
        self.keep_days = sip.recordings_keep_days
        self.max_bytes = sip.recordings_max_mb * MB
        self.threshold = Threshold(sip.recordings_min_free_mb * MB)
        self.probe = probe
        self.free: int | None = None
        self.removed = 0  # recordings removed by retention since start
        self._task: asyncio.Task[None] | None = None
        self._sweeps: set[asyncio.Task[int]] = set()
        self._listeners: list[Callable[[str, dict[str, Any]], None]] = []

    @property
    def paused(self) -> bool:
        return self.threshold.low

    def add_listener(self, listener: Callable[[str, dict[str, Any]], None]) -> None:
        """Told of each flip: ``("recording_paused" | "recording_resumed", fields)``."""
        self._listeners.append(listener)

    def reconfigure(self, config: Config) -> None:
        """A reloaded config's retention and threshold (:data:`switch.reload.plan.LIVE_KEYS`),
        applied at once; the recordings are swept again right away."""
        sip = config.sip
        if sip is None:
            return
        keep, limit = sip.recordings_keep_days, sip.recordings_max_mb * MB
        threshold = sip.recordings_min_free_mb * MB
        if (keep, limit, threshold) == (self.keep_days, self.max_bytes, self.threshold.threshold):
            return
        self.keep_days, self.max_bytes = keep, limit
        self.threshold.threshold = threshold
        log.info("recordings_limits", keep_days=keep, max_bytes=limit, threshold_bytes=threshold)
        self.check()
        if self._task is not None:  # started: sweep now, off the caller
            self._sweeps.add(task := asyncio.create_task(self.sweep(), name="recordings:sweep"))
            task.add_done_callback(self._sweeps.discard)

    async def start(self) -> None:
        self.check()
        await self.sweep()
        self._task = asyncio.create_task(self._loop(), name="recordings")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def routers(self) -> list[APIRouter]:
        return []

    def check(self) -> bool:
        """Look at the free space now; True when a new call may be recorded."""
        try:
            self.free = self.probe(self.directory)
        except OSError as exc:
            log.warning("recordings_disk_unreadable", path=str(self.directory), error=repr(exc))
            return not self.paused
        flip = self.threshold.check(self.free)
        if flip is not None:
            fields = self.view()
            kind = f"recording_{flip}"
            if flip == "paused":
                log.warning(kind, **fields, reason="free space under the threshold")
            else:
                log.info(kind, **fields)
            for listener in self._listeners:
                try:
                    listener(kind, fields)
                except Exception as exc:  # a listener's fault is not the guard's
                    log.error("recordings_listener_failed", error=repr(exc))
        return not self.paused

    def view(self) -> dict[str, Any]:
        """What telemetry and the health view show."""
        return {
            "path": str(self.directory),
            "paused": self.paused,
            "free_bytes": self.free,
            "threshold_bytes": self.threshold.threshold,
            "removed": self.removed,
        }

    def problem(self) -> str | None:
        if not self.paused:
            return None
        free_mb = (self.free or 0) // MB
        return (
            f"recordings: paused, only {free_mb} MB free on {self.directory} (under "
            f"{self.threshold.threshold // MB} MB); calls still connect but are not "
            "recorded until space is freed"
        )

    async def sweep(self) -> int:
        """Apply the retention limits now; the number of recordings removed."""
        if self.keep_days <= 0 and self.max_bytes <= 0:
            return 0
        live = self._live()
        removed, freed = await asyncio.to_thread(self._sweep, live)
        if removed:
            self.removed += removed
            log.info(
                "recordings_removed",
                count=removed,
                bytes=freed,
                keep_days=self.keep_days,
                max_bytes=self.max_bytes,
            )
        return removed

    def _sweep(self, live: frozenset[str]) -> tuple[int, int]:
        victims = expired(
            scan(self.directory),
            time.time(),
            keep_days=self.keep_days,
            max_bytes=self.max_bytes,
            live=live,
        )
        removed = freed = 0
        for f in victims:
            try:
                (self.directory / f.name).unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.warning("recording_not_removed", file=f.name, error=repr(exc))
                continue
            removed += 1
            freed += f.size
        return removed, freed

    def _live(self) -> frozenset[str]:
        calls = self.core.calls
        if calls is None:
            return frozenset()
        return frozenset(f"{call_id}.wav" for call_id in calls.states)

    async def _loop(self) -> None:
        last_sweep = time.monotonic()
        while True:
            await asyncio.sleep(CHECK_EVERY)
            self.check()
            if time.monotonic() - last_sweep >= SWEEP_EVERY:
                last_sweep = time.monotonic()
                try:
                    await self.sweep()
                except Exception as exc:  # try again next round
                    log.error("recordings_sweep_failed", error=repr(exc))
