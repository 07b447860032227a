"""Recordings: found by contact, agent and date (GET /api/v1/recordings' search), and
kept as long as ``[sip] recordings_keep_days`` says."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from actors.store import Put
from base.clock import FakeClock
from base.errors import Rejected
from switch.api.recordings import find_recordings
from switch.calls.records import CALL_NS
from switch.calls.retention import expired, sweep
from switch.config import parse_config
from switch.core import Core
from switch.store import Store, Write

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC).timestamp()
DAY = 86400.0


def test_recordings_older_than_the_setting_are_deleted_and_no_others(tmp_path: Path) -> None:
    ages = {"old": 31, "edge": 29.9, "new": 1}
    for name, days in ages.items():
        path = tmp_path / f"{name}.wav"
        path.write_bytes(b"RIFF")
        os.utime(path, (NOW - days * DAY, NOW - days * DAY))
    (tmp_path / "notes.txt").write_text("not a recording")
    os.utime(tmp_path / "notes.txt", (NOW - 90 * DAY, NOW - 90 * DAY))
    assert [p.name for p in expired(tmp_path, 30, NOW)] == ["old.wav"]
    assert sweep(tmp_path, 30, NOW) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edge.wav", "new.wav", "notes.txt"]
    assert sweep(tmp_path, 30, NOW) == 0


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Any]:
    cfg = parse_config({"store": {"path": str(tmp_path / "s.db")}, "api": {"tokens": ["t" * 20]}})
    core = Core(cfg, await Store.open(cfg.store.path), FakeClock(NOW))
    folder = tmp_path / "recordings"
    folder.mkdir()

    def call(cid: str, agent: str, number: str, contact: str, day: int, kept: bool) -> Put:
        path = folder / f"{cid}.wav"
        if kept:
            path.write_bytes(b"RIFF")
        started = datetime(2026, 5, day, 9, 0, tzinfo=UTC).isoformat()
        record = {
            "id": cid, "contact_id": contact, "direction": "in", "from": number,
            "to": "+85523900100", "state": "ended", "agent": agent, "started_at": started,
            "recording": str(path.resolve()),
        }  # fmt: skip
        return Put(CALL_NS, cid, record)

    puts = (
        call("c1", "alice", "+85512345678", "k1", 1, True),
        call("c2", "bob", "+85512345678", "k1", 3, True),
        call("c3", "alice", "+85599888777", "k2", 4, False),  # the file is gone
        Put(CALL_NS, "c4", {"id": "c4", "state": "ended", "recording": None}),
    )
    await core.store.write(Write(puts=puts))
    yield SimpleNamespace(core=core, recordings=folder)
    await core.close()


async def test_recordings_by_contact_agent_and_date(service: Any) -> None:
    def ids(**query: Any) -> list[str]:
        args = {"contact": None, "agent": None, "since": None, "until": None, "limit": 50}
        return [r["id"] for r in find_recordings(service, **{**args, **query})]

    assert ids() == ["c3", "c2", "c1"]  # newest first; a call without a recording is not one
    assert ids(agent="alice") == ["c3", "c1"]
    assert ids(contact="012 345 678") == ["c2", "c1"]  # a number as people write it
    assert ids(contact="k2") == ["c3"]  # or a contact id
    assert ids(since="2026-05-02", until="2026-05-03") == ["c2"]
    assert ids(since="2026-05-03T00:00") == ["c2"]  # until: the end of that day
    assert ids(agent="alice", contact="+85512345678") == ["c1"]
    assert ids(limit=1) == ["c3"]
    found = find_recordings(service, contact=None, agent=None, since=None, until=None, limit=9)
    assert [r["available"] for r in found] == [False, True, True]
    with pytest.raises(Rejected):
        ids(contact="12 34")
    with pytest.raises(Rejected):
        ids(since="yesterday")
