"""The disk holding the store fills up during writes: the switch says what is wrong
(503 with the reason, a log line), keeps everything it acknowledged, and takes writes
again once space is freed. The store lives on a small tmpfs the test mounts (root)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.integration.switchproc import SwitchProcess

pytestmark = [pytest.mark.integration, pytest.mark.faults]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_refuses_new_writes_plainly_and_recovers(
    small_disk: Path, tmp_path: Path
) -> None:
    http = free_port()
    config = f"""
[store]
path = "{small_disk / "data" / "switch.db"}"
[http]
listen = "127.0.0.1:{http}"
[api]
tokens = ["secret-token-for-tests"]
[[modems]]
id = "sim1"
simulated = true
"""
    sw = SwitchProcess(config, tmp_path, http)
    sw.start(timeout=40)
    try:
        accepted: list[str] = []
        refused = None
        filler = small_disk / "filler"
        with open(filler, "wb") as f:  # leave the store very little room
            free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
            f.write(b"\0" * max(0, free - 64 * 1024))
        for n in range(2000):
            status, body = sw.request(
                "POST", "/api/v1/messages", {"to": "+85512000001", "text": f"m{n} " + "x" * 300}
            )
            if status == 202:
                accepted.append(body["id"])
                continue
            refused = (status, body)
            break
        assert refused is not None, "the disk never filled"
        status, body = refused
        assert status == 503 and body["error"]["code"] == "unavailable", body
        assert "disk" in body["error"]["message"] and "full" in body["error"]["message"]
        assert "store_commit_failed" in sw.stderr_text()
        status, health = sw.get("/api/v1/health")  # what an operator sees
        assert status == 200 and health["store"]["state"] == "failing", health
        assert health["status"] == "degraded" and any(
            p.startswith("store: the disk holding the store is full") for p in health["problems"]
        ), health
        filler.unlink()  # the technician frees space
        status, body = sw.request(
            "POST", "/api/v1/messages", {"to": "+85512000001", "text": "after"}
        )
        assert status == 202, body
        status, health = sw.get("/api/v1/health")
        assert health["store"] == {"state": "ok", "error": None}, health
        for message_id in accepted:  # everything acknowledged is there
            status, body = sw.request("GET", f"/api/v1/messages/{message_id}")
            assert status == 200, body
    finally:
        assert sw.terminate(timeout=30) == 0, sw.stderr_text()[-3000:]
