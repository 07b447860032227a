"""How long call recordings are kept: ``[sip] recordings_keep_days``.

:func:`expired` says which recordings are past their time (by the file's modification
time: when the call ended); :func:`sweep_forever` deletes them once an hour while the
switch runs. Without the setting nothing is ever deleted here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import structlog

log = structlog.get_logger("calls.retention")

SWEEP_EVERY = 3600.0


def expired(folder: Path, keep_days: int, now: float) -> list[Path]:
    """The recordings (``*.wav``) of ``folder`` older than ``keep_days`` at ``now``."""
    limit = now - keep_days * 86400.0
    out = []
    for path in sorted(folder.glob("*.wav")):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < limit:
                out.append(path)
    return out


def sweep(folder: Path, keep_days: int, now: float) -> int:
    """Delete the expired recordings; how many went."""
    gone = 0
    for path in expired(folder, keep_days, now):
        try:
            path.unlink()
            gone += 1
        except OSError as exc:
            log.warning("recording_not_deleted", path=str(path), error=str(exc))
    if gone:
        log.info("recordings_expired", deleted=gone, keep_days=keep_days)
    return gone


async def sweep_forever(folder: Path, keep_days: int, now: Callable[[], float]) -> None:
    while True:
        await asyncio.to_thread(sweep, folder, keep_days, now())
        await asyncio.sleep(SWEEP_EVERY)
