"""Recordings' disk: retention (age, then total size, never a live call's file) and the
free-space threshold under which new calls are not recorded, with its hysteresis."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from switch.calls.storage import DAY, MB, Recording, RecordingGuard, Threshold, expired
from switch.config import parse_config

NOW = 1_800_000_000.0


def rec(name: str, age_days: float, size: int = 100) -> Recording:
    return Recording(name, size, NOW - age_days * DAY)


def test_old_recordings_go_and_recent_ones_stay() -> None:
    files = [rec("a.wav", 100), rec("b.wav", 10), rec("c.wav", 91)]
    gone = expired(files, NOW, keep_days=90, max_bytes=0)
    assert [f.name for f in gone] == ["a.wav", "c.wav"]
    assert expired(files, NOW, keep_days=0, max_bytes=0) == []


def test_over_the_size_limit_the_oldest_go_first_until_the_rest_fit() -> None:
    files = [rec("new.wav", 1, 400), rec("old.wav", 5, 400), rec("mid.wav", 3, 400)]
    gone = expired(files, NOW, keep_days=0, max_bytes=900)
    assert [f.name for f in gone] == ["old.wav"]
    gone = expired(files, NOW, keep_days=0, max_bytes=300)
    assert [f.name for f in gone] == ["old.wav", "mid.wav", "new.wav"]


def test_a_live_calls_recording_is_never_removed() -> None:
    files = [rec("live.wav", 200, 1000), rec("done.wav", 1, 1000)]
    gone = expired(files, NOW, keep_days=90, max_bytes=500, live=frozenset({"live.wav"}))
    assert [f.name for f in gone] == ["done.wav"]


def test_the_threshold_flips_once_each_way_with_hysteresis() -> None:
    t = Threshold(1000)
    assert t.check(5000) is None
    assert t.check(999) == "paused" and t.low
    assert t.check(500) is None
    assert t.check(1050) is None  # above the line, not yet 10 % above it
    assert t.check(1100) == "resumed" and not t.low
    assert t.check(1100) is None


def guard(tmp_path: Path, free: list[int], **sip: Any) -> RecordingGuard:
    config = parse_config(
        {
            "api": {"tokens": ["secret-token-for-tests"]},
            "sip": {
                "record_calls": True,
                "recordings": str(tmp_path / "rec"),
                "recordings_min_free_mb": 10,
                **sip,
            },
        }
    )
    core: Any = SimpleNamespace(config=config, calls=SimpleNamespace(states={"c1": None}))
    return RecordingGuard(core, probe=lambda path: free[0])


def test_the_guard_pauses_new_recordings_says_why_and_resumes(tmp_path: Path) -> None:
    free = [50 * MB]
    g = guard(tmp_path, free)
    flips: list[tuple[str, dict[str, Any]]] = []
    g.add_listener(lambda kind, fields: flips.append((kind, fields)))
    assert g.check() is True and g.problem() is None
    free[0] = 3 * MB
    assert g.check() is False and g.paused
    problem = g.problem()
    assert problem is not None and "3 MB free" in problem and "not recorded" in problem
    assert flips[0][0] == "recording_paused" and flips[0][1]["free_bytes"] == 3 * MB
    assert g.view()["paused"] is True and g.view()["threshold_bytes"] == 10 * MB
    free[0] = 20 * MB
    assert g.check() is True and g.problem() is None
    assert [k for k, _ in flips] == ["recording_paused", "recording_resumed"]


async def test_the_sweep_removes_expired_files_but_not_a_live_calls(tmp_path: Path) -> None:
    g = guard(tmp_path, [50 * MB], recordings_keep_days=30)
    directory = tmp_path / "rec"
    directory.mkdir()
    old = time.time() - 40 * DAY
    for name in ("c1.wav", "c2.wav", "c3.wav"):
        (directory / name).write_bytes(b"x" * 10)
    os.utime(directory / "c1.wav", (old, old))  # old, but its call is still going on
    os.utime(directory / "c2.wav", (old, old))
    (directory / "notes.txt").write_text("not a recording")
    assert await g.sweep() == 1
    assert sorted(p.name for p in directory.iterdir()) == ["c1.wav", "c3.wav", "notes.txt"]
    assert g.view()["removed"] == 1


async def test_a_reload_changes_the_limits_at_once_and_sweeps(tmp_path: Path) -> None:
    free = [50 * MB]
    g = guard(tmp_path, free, recordings_keep_days=90)
    directory = tmp_path / "rec"
    directory.mkdir()
    month = time.time() - 40 * DAY
    (directory / "c9.wav").write_bytes(b"x")
    os.utime(directory / "c9.wav", (month, month))
    await g.start()
    try:
        assert (directory / "c9.wav").exists()  # 40 days: kept under 90
        free[0] = 30 * MB
        stricter = guard(tmp_path, free, recordings_keep_days=30, recordings_min_free_mb=40)
        g.reconfigure(stricter.core.config)
        assert g.paused  # 30 MB free is now under the threshold
        for _ in range(100):  # the sweep runs off the caller
            if not (directory / "c9.wav").exists():
                break
            await asyncio.sleep(0.01)
        assert not (directory / "c9.wav").exists()
    finally:
        await g.stop()


def test_the_health_view_has_a_problem_line_while_recording_is_paused(tmp_path: Path) -> None:
    from switch.health import collect

    free = [1 * MB]
    g = guard(tmp_path, free)
    g.check()
    core: Any = SimpleNamespace(
        store=SimpleNamespace(failing=None), calls=None, sms=None, recordings=g
    )
    health = collect(core)
    assert health["status"] == "degraded"
    assert health["problems"] == [g.problem()] and health["recordings"]["paused"] is True
    free[0] = 100 * MB
    g.check()
    assert collect(core)["status"] == "ok"
