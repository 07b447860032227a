"""kill -9 at a random moment loses nothing acknowledged and duplicates nothing."""

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from switch.store import Store

pytestmark = pytest.mark.faults

WRITER = Path(__file__).with_name("kill9_writer.py")
ROOT = Path(__file__).resolve().parents[2]


def run_and_kill(db: Path, start: int, after: float) -> set[int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(db), str(start)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdout is not None
    acked: set[int] = set()
    deadline = time.monotonic() + after
    os.set_blocking(proc.stdout.fileno(), False)
    buf = b""
    while time.monotonic() < deadline or not acked:
        chunk = proc.stdout.read()
        if chunk:
            buf += chunk
        time.sleep(0.005)
        if time.monotonic() > deadline + 20:
            break
        lines = buf.split(b"\n")
        buf = lines.pop()
        acked.update(int(line.split()[1]) for line in lines if line.startswith(b"ACK"))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rest = (buf + (proc.stdout.read() or b"")).split(b"\n")
    acked.update(int(line.split()[1]) for line in rest if line.startswith(b"ACK "))
    return acked


def stored_numbers(db: Path) -> list[int]:
    with sqlite3.connect(db) as conn:
        return [json.loads(r[0])["n"] for r in conn.execute("SELECT data FROM events")]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_acknowledged_events_survive_kill9_exactly_once(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    db = tmp_path / "store.db"
    acked = run_and_kill(db, 0, rng.uniform(0.3, 1.2))
    assert acked, "the writer acknowledged nothing before being killed"
    numbers = stored_numbers(db)
    assert acked <= set(numbers), f"lost {len(acked - set(numbers))} acknowledged events"
    assert len(numbers) == len(set(numbers))

    # Restart and replay from the start: idempotency keys keep every event single.
    acked2 = run_and_kill(db, 0, rng.uniform(0.3, 0.8))
    numbers = stored_numbers(db)
    assert (acked | acked2) <= set(numbers)
    assert len(numbers) == len(set(numbers))

    async def reopen() -> None:
        store = await Store.open(db)
        assert store.count_events() == len(numbers)
        await store.close()

    asyncio.run(reopen())
