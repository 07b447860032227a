"""Backup of a running switch, restored into a fresh directory: a second switch started
on the restored store shows the same contacts, journeys and messages through its API.
A restore into a store that a running switch holds is refused and changes nothing."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.integration.switchproc import SwitchProcess

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PHONES = ("+85512345678", "+85598765432")


def config(http: int) -> str:
    return f"""
[store]
path = "data/switch.db"
[http]
listen = "127.0.0.1:{http}"
[api]
tokens = ["secret-token-for-tests"]
[[modems]]
id = "sim1"
simulated = true
"""


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "switch", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )


def wait_for(what: str, check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout}s")


def view(sw: SwitchProcess, message_ids: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for phone in PHONES:
        status, contacts = sw.get(f"/api/v1/contacts?phone={phone.replace('+', '%2B')}")
        assert status == 200
        journeys = [sw.get(f"/api/v1/contacts/{c['id']}/journey")[1] for c in contacts]
        out[phone] = {"contacts": contacts, "journeys": journeys}
    out["messages"] = [sw.get(f"/api/v1/messages/{m}")[1] for m in message_ids]
    return out


def test_a_restored_backup_shows_the_same_contacts_and_journeys(tmp_path: Path) -> None:
    live = tmp_path / "live"
    live.mkdir()
    http = free_port()
    a = SwitchProcess(config(http), live, http)
    a.start()
    try:
        for n, phone in enumerate(PHONES):
            status, _ = a.post("/api/v1/simulator/sms", {"from": phone, "text": f"សួស្តី {n}"})
            assert status == 200
        contacts = wait_for(
            "both contacts",
            lambda: all(a.get(f"/api/v1/contacts?phone=%2B{p[1:]}")[1] for p in PHONES),
        )
        assert contacts
        status, sent = a.post("/api/v1/messages", {"to": PHONES[0], "text": "we called you"})
        assert status == 202
        wait_for(
            "the reply delivered",
            lambda: a.get(f"/api/v1/messages/{sent['id']}")[1]["status"] == "delivered",
        )
        first = a.get(f"/api/v1/contacts?phone=%2B{PHONES[1][1:]}")[1][0]["id"]
        assert a.post(f"/api/v1/contacts/{first}/notes", {"text": "VIP"})[0] == 201
        before = view(a, [sent["id"]])

        backup = tmp_path / "backups" / "b.tar.gz"
        made = cli("backup", "--to", str(backup), "--config", str(a.config), cwd=live)
        assert made.returncode == 0, made.stderr
        assert made.stdout.startswith(f"backup written: {backup}")

        fresh = tmp_path / "fresh"
        done = cli(
            "restore",
            "--from",
            str(backup),
            "--store",
            str(fresh / "data" / "switch.db"),
            "--config-out",
            str(fresh / "restored.toml"),
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        assert (fresh / "restored.toml").read_text() == a.config.read_text()
    finally:
        assert a.terminate() == 0, a.stderr_text()[-3000:]

    http = free_port()
    b = SwitchProcess(config(http), fresh, http)
    b.start()
    try:
        assert view(b, [sent["id"]]) == before
    finally:
        assert b.terminate() == 0, b.stderr_text()[-3000:]


def test_restore_into_a_store_held_by_a_running_switch_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "switch.toml").write_text(config(free_port()))
    (src / "data").mkdir()
    sqlite3.connect(src / "data" / "switch.db").close()
    backup = tmp_path / "b.tar.gz"
    assert cli("backup", "--to", str(backup), "--config", "switch.toml", cwd=src).returncode == 0

    store = tmp_path / "held" / "switch.db"
    store.parent.mkdir()
    store.write_bytes(b"in use")
    holder = subprocess.Popen(  # what a running switch does with its store directory
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "os.write(fd, f'{os.getpid()}\\n'.encode())\n"
            "print('held', flush=True)\n"
            "time.sleep(60)\n",
            str(store.parent / "switch.lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        refused = cli("restore", "--from", str(backup), "--store", str(store), cwd=tmp_path)
        assert refused.returncode == 1
        assert f"held by pid {holder.pid}" in refused.stderr
        assert "stop the switch first" in refused.stderr
        assert store.read_bytes() == b"in use"
    finally:
        holder.kill()
        holder.wait()
    assert (
        cli("restore", "--from", str(backup), "--store", str(store), cwd=tmp_path).returncode == 0
    )
