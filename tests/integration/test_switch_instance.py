"""`switch run` as an instance on a box: one switch per store, private files, a human line
on a terminal, and a clean start log.

Each test starts real `switch run` processes with a simulated modem (its control socket
and tty links are what a second instance on the same store used to take over).
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.integration.switchproc import ROOT, SwitchProcess

pytestmark = pytest.mark.integration

TOKEN = "secret-token-for-tests"


def config(port: int) -> str:
    return f"""
[store]
path = "data/switch.db"
[http]
listen = "127.0.0.1:{port}"
[api]
tokens = ["{TOKEN}"]
[[modems]]
id = "sim1"
simulated = true
"""


def start(tmp_path: Path) -> SwitchProcess:
    port = free_port()
    return SwitchProcess(config(port), tmp_path, port, token=TOKEN).start(timeout=40)


def tree(root: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every path under ``root``: inode, mode, mtime, and a symlink's target."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        target = os.readlink(path) if path.is_symlink() else ""
        out[str(path.relative_to(root))] = (st.st_ino, st.st_mode, st.st_mtime_ns, target)
    return out


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


def test_a_second_switch_on_the_same_store_exits_1_naming_the_first_and_touches_nothing(
    tmp_path: Path,
) -> None:
    first = start(tmp_path)
    assert first.proc is not None
    try:
        data = tmp_path / "data"
        assert (data / "modems" / "sim1" / "control.sock").exists()
        before = tree(data)
        other = tmp_path / "other.toml"  # the same store, another HTTP port
        other.write_text(config(free_port()))
        second = subprocess.run(
            [sys.executable, "-m", "switch", "run", "--config", str(other)],
            cwd=tmp_path,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1, second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and f"pid {first.proc.pid}" in lines[0], second.stderr
        assert second.stdout == ""
        after = tree(data)
        assert after.keys() == before.keys()
        for name, was in before.items():
            if name.startswith("switch.db"):  # the first switch may write its own store
                assert after[name][:2] == was[:2], name
            else:
                assert after[name] == was, name
        status, modems = first.get("/api/v1/modems")
        assert status == 200 and [m["id"] for m in modems] == ["sim1"]
    finally:
        assert first.terminate() == 0
    # the lock went with the first switch: the next one starts
    assert start(tmp_path).terminate() == 0


def test_the_store_and_what_the_switch_creates_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    sqlite3.connect(data / "switch.db").close()  # left by an older version, 0644
    os.chmod(data / "switch.db", 0o644)
    sw = start(tmp_path)
    assert sw.proc is not None
    try:
        assert sw.post("/api/v1/simulator/sms", {"from": "+85512345678", "text": "hi"})[0] == 200
        status_lines = Path(f"/proc/{sw.proc.pid}/status").read_text().splitlines()
        assert "Umask:\t0077" in status_lines
        for name in ("switch.db", "switch.db-wal", "switch.db-shm", "switch.lock"):
            assert (data / name).stat().st_mode & 0o777 == 0o600, name
        assert (data / "modems").stat().st_mode & 0o777 == 0o700
    finally:
        assert sw.terminate() == 0
    events = sw.log_events()
    warned = [e for e in events if e.get("event") == "store_dir_not_private"]
    assert warned and warned[0]["mode"] == "0o755"
    # a store directory the switch creates itself is 0700 from the start
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    sw = start(fresh)
    sw.terminate()
    assert (fresh / "data").stat().st_mode & 0o777 == 0o700


def test_on_a_terminal_run_prints_where_to_look_and_its_log_is_clean(tmp_path: Path) -> None:
    port = free_port()
    cfg = tmp_path / "switch.toml"
    cfg.write_text(config(port))
    master, slave = pty.openpty()
    stderr = open(tmp_path / "stderr", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "switch", "run", "--config", str(cfg)],
        cwd=tmp_path,
        env=child_env(),
        stdout=slave,
        stderr=stderr,
    )
    os.close(slave)
    out = b""
    try:
        deadline = time.monotonic() + 40
        while b"\n" not in out and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                out += os.read(master, 4096)
        # the modem is ready well within a second of the API; give its log time to show
        time.sleep(2.0)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        stderr.close()
        os.close(master)
    line = out.decode().strip()
    assert len(line.splitlines()) == 1, line
    assert f"API http://127.0.0.1:{port}/api/v1" in line
    assert f"docs http://127.0.0.1:{port}/docs" in line
    assert f"config {cfg}" in line and f"store {tmp_path / 'data' / 'switch.db'}" in line
    events = [json.loads(x) for x in (tmp_path / "stderr").read_text().splitlines()]
    assert not [e for e in events if e.get("event") == "modem_garbage"]
    ready = [e for e in events if e.get("event") == "modem_state" and e.get("state") == "ready"]
    assert len(ready) == 1, ready
    sim = [e for e in events if str(e.get("event", "")).startswith("sim_")]
    assert sim and all(e.get("modem", "sim1") == "sim1" for e in sim), sim
