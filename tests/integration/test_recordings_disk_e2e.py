"""Recordings on a small disk (a tmpfs the test mounts; root): while its free space is
under `[sip] recordings_min_free_mb`, calls still connect and end normally but are not
recorded, SMS still go out, and the switch says so (log line, health problem line);
once space is freed, calls are recorded again."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.integration.kamailio_harness import free_ports
from tests.integration.switch_env import SwitchEnv as Env
from tests.integration.switchproc import SwitchProcess
from tests.sipphone import Phone

DID = "+85523900100"
CALLER = "+85512345678"
MB = 1024 * 1024

pytestmark = [pytest.mark.integration, pytest.mark.faults]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount = tmp_path / "rec"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def env(tmp_path: Path, small_disk: Path) -> Iterator[Env]:
    http, edge, trunk = free_port(), free_ports(1, tcp=True), free_ports(1)
    base, rtp = free_ports(2), free_ports(100)
    config = f"""
[store]
path = "data/switch.db"
[http]
listen = "127.0.0.1:{http}"
[api]
tokens = ["secret-token-for-tests"]
[[modems]]
id = "sim1"
simulated = true
[sip]
listen = "127.0.0.1:{edge}"
workers = 2
worker_port_base = {base}
rtp_port_base = {rtp}
record_calls = true
recordings = "{small_disk}"
recordings_min_free_mb = 3
[[trunks]]
id = "provider1"
host = "127.0.0.1"
port = {trunk}
dids = ["{DID}"]
[[agents]]
id = "alice"
sip_user = "1001"
sip_password = "secret-1001"
"""
    sw = SwitchProcess(config, tmp_path, http)
    sw.start(timeout=40)
    try:
        yield Env(sw, edge, trunk, tmp_path)
    finally:
        code = sw.terminate(timeout=30)
        assert code == 0, sw.stderr_text()[-3000:]


def answered_call(env: Env, alice: Phone, calls_before: int) -> dict[str, Any]:
    """A customer calls, alice answers, they talk a moment, the customer hangs up:
    the journey's ``call_ended`` of that call."""
    phone = Phone(
        "--port",
        str(env.trunk),
        "--rtp-port",
        str(free_ports(4)),
        "--user",
        CALLER.lstrip("+"),
        "--call",
        f"sip:{DID}@127.0.0.1:{env.edge}",
    )
    try:
        phone.wait_for("state", timeout=15, state="CONFIRMED")
        alice.wait_for("incoming", timeout=15)
        env.wait_api("/api/v1/agents/alice", lambda a: a["state"] == "busy")
        time.sleep(1.0)
        phone.send("hangup")
        phone.wait_for("ended", timeout=10)
    finally:
        phone.close()
    [contact] = env.wait_api(f"/api/v1/contacts?phone=%2B{CALLER[1:]}", lambda cs: len(cs) == 1)
    journey = env.wait_api(
        f"/api/v1/contacts/{contact['id']}/journey",
        lambda j: sum(e["kind"] == "call_ended" for e in j) > calls_before,
    )
    ended = [e for e in journey if e["kind"] == "call_ended"][-1]
    assert ended["cause"] == "caller_hangup", ended
    env.wait_api("/api/v1/agents/alice", lambda a: a["state"] == "available", timeout=20)
    return dict(ended)


def events(env: Env, name: str) -> list[dict[str, Any]]:
    return [e for e in env.sw.log_events() if e.get("event") == name]


def test_a_low_disk_pauses_recording_but_not_calls_or_sms(env: Env, small_disk: Path) -> None:
    port = free_ports(1)
    env.register("1001", "secret-1001", port)
    alice = Phone(
        "--port", str(port), "--rtp-port", str(free_ports(4)), "--user", "1001", "--auto-answer"
    )
    try:
        env.wait_api("/api/v1/agents/alice", lambda a: a["state"] == "available")
        first = answered_call(env, alice, 0)
        assert first["recording"] and Path(first["recording"]).exists()

        filler = small_disk / "filler"
        st = os.statvfs(small_disk)
        filler.write_bytes(b"\0" * (st.f_bavail * st.f_frsize - 1 * MB))  # 1 MB left
        second = answered_call(env, alice, 1)  # connects, talks, ends as ever
        assert not second.get("recording"), second
        [paused] = events(env, "recording_paused")
        assert paused["threshold_bytes"] == 3 * MB and paused["free_bytes"] < 3 * MB
        health = env.api("GET", "/api/v1/health")[1]
        assert health["status"] == "degraded" and health["recordings"]["paused"] is True
        assert any(p.startswith("recordings: paused") for p in health["problems"]), health

        status, body = env.api(
            "POST", "/api/v1/messages", {"to": "+85512000001", "text": "still here"}
        )
        assert status == 202, body
        env.wait_api(
            f"/api/v1/messages/{body['id']}", lambda m: m["status"] in ("sent", "delivered")
        )

        filler.unlink()  # space is back: the next call is recorded again
        third = answered_call(env, alice, 2)
        assert third["recording"] and Path(third["recording"]).exists()
        assert len(events(env, "recording_resumed")) == 1
        health = env.api("GET", "/api/v1/health")[1]
        assert health["recordings"]["paused"] is False
        assert not any(p.startswith("recordings:") for p in health["problems"])
    finally:
        alice.close()
