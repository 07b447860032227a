"""The systemd unit passes `systemd-analyze verify`, and `switch run` speaks the notify
protocol to a fake $NOTIFY_SOCKET: READY once up, WATCHDOG pings, STOPPING on SIGTERM."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.integration.switchproc import SwitchProcess

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "hw" / "systemd" / "edge-switch.service"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


def unit_settings() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_the_unit_is_notify_with_a_watchdog_and_hardened() -> None:
    s = unit_settings()
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"]
    assert int(s["WatchdogSec"][0]) > 0
    assert s["ProtectSystem"] == ["strict"] and s["PrivateTmp"] == ["yes"]
    assert s["NoNewPrivileges"] == ["yes"] and s["ReadWritePaths"] == ["/var/lib/edge-switch"]
    assert s["User"] == ["edge-switch"] and s["SupplementaryGroups"] == ["dialout"]
    assert s["StandardError"] == ["journal"]
    assert "PrivateDevices" not in s  # the modems are devices


def test_systemd_analyze_verify_finds_nothing(tmp_path: Path) -> None:
    assert SYSTEMD_ANALYZE is not None, "systemd-analyze is missing: scripts/install-deps"
    # verify checks that ExecStart exists: point it at this checkout's console script
    switch = Path(sys.executable).with_name("switch")
    assert switch.is_file(), f"{switch} missing: pip install -e ."
    unit = tmp_path / "edge-switch.service"
    unit.write_text(UNIT.read_text().replace("/opt/edge-switch/.venv/bin/switch", str(switch)))
    proc = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "" and proc.stdout.strip() == ""  # not even a warning


def test_switch_run_notifies_ready_watchdog_and_stopping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(20)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.setenv("WATCHDOG_USEC", "400000")  # a ping every 0.2 s
    http = free_port()
    config = (
        '[api]\ntokens = ["secret-token-for-tests"]\n'
        f'[store]\npath = "data/switch.db"\n[http]\nlisten = "127.0.0.1:{http}"\n'
    )
    sw = SwitchProcess(config, tmp_path, http)
    try:
        sw.start()
        assert sw.proc is not None
        first = sock.recv(4096).decode().split("\n")
        assert first[0] == "READY=1"
        assert f"MAINPID={sw.proc.pid}" in first and any(f.startswith("STATUS=") for f in first)
        pings = 0
        while pings < 3:
            assert sock.recv(4096).decode() == "WATCHDOG=1"
            pings += 1
        assert sw.get("/healthz")[0] == 200  # READY came once HTTP was up
        assert sw.terminate() == 0
        rest = []
        deadline = time.monotonic() + 10
        while "STOPPING=1" not in "".join(rest) and time.monotonic() < deadline:
            rest.append(sock.recv(4096).decode())
        assert any(m.startswith("STOPPING=1") for m in rest), rest
    finally:
        if sw.proc is not None and sw.proc.poll() is None:
            sw.kill9()
        sock.close()
    os.unlink(path)
