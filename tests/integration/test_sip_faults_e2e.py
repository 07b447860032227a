"""Kamailio killed while a call is up, seen from outside: the call, new calls, what the
switch says (log lines and ``GET /api/v1/health``), and the recovery.

Kamailio carries signalling only: the media of a call flows between the phones and the
media worker, so a call that is up stays up, and its BYE later goes through the new
Kamailio (the dialog's route set names the edge's address, which the new one listens
on). Registrations live in Kamailio's memory: they are gone with it, so the agents'
phones show unregistered until they register again, and calls ring them again then.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.sip.edge.supervisor import kamailio_processes
from tests.conftest import free_port
from tests.integration.kamailio_harness import free_ports, needs_kamailio_and_sipp
from tests.integration.switch_env import SwitchEnv as Env
from tests.integration.switchproc import SwitchProcess
from tests.integration.test_calls_e2e import CALLER, DID, agent_available, switch_config
from tests.sipphone import Phone

pytestmark = [pytest.mark.integration, pytest.mark.faults, needs_kamailio_and_sipp]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    http, edge, trunk = free_port(), free_ports(1, tcp=True), free_ports(1)
    base, rtp = free_ports(2), free_ports(100)
    sw = SwitchProcess(switch_config(http, edge, trunk, 2, base, rtp), tmp_path, http)
    sw.start(timeout=40)
    try:
        yield Env(sw, edge, trunk, tmp_path)
    finally:
        code = sw.terminate(timeout=30)
        assert code == 0, sw.stderr_text()[-3000:]


def health(env: Env) -> dict[str, Any]:
    status, body = env.api("GET", "/api/v1/health")
    assert status == 200, body
    return dict(body)


def agent_phone(env: Env) -> Phone:
    port = free_ports(1)
    env.register("1001", "secret-1001", port)
    env.wait_api("/api/v1/agents", agent_available)
    args = ("--port", str(port), "--rtp-port", str(free_ports(4)), "--user", "1001")
    return Phone(*args, "--auto-answer")


def call_did(env: Env) -> Phone:
    return Phone(
        "--port",
        str(env.trunk),
        "--rtp-port",
        str(free_ports(4)),
        "--user",
        CALLER.lstrip("+"),
        "--call",
        f"sip:{DID}@127.0.0.1:{env.edge}",
    )


def test_kamailio_killed_mid_call_keeps_the_call_says_so_and_recovers(env: Env) -> None:
    assert health(env)["status"] == "ok"
    assert health(env)["sip"]["edge"] == {"state": "up", "restarts": 0}
    agent = agent_phone(env)
    caller = call_did(env)
    try:
        caller.wait_for("state", timeout=15, state="CONFIRMED")
        [call] = env.wait_api(
            "/api/v1/calls?active=true", lambda cs: cs and cs[0]["state"] == "answered"
        )
        kamailio = kamailio_processes(env.tmp / "data" / "sip" / "kamailio.cfg")
        assert kamailio
        for pid in kamailio:
            os.kill(pid, signal.SIGKILL)
        # the switch says so: the health view while Kamailio is down...
        seen: dict[str, Any] = {}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            seen = health(env)
            if seen["sip"]["edge"]["state"] == "down":
                break
            time.sleep(0.02)
        assert seen["status"] == "degraded", seen
        assert any(p.startswith("sip edge: Kamailio is not running") for p in seen["problems"])
        # ...and after: restarted once, healthy again
        back = env.wait_api(
            "/api/v1/health",
            lambda h: h["status"] == "ok" and h["sip"]["edge"]["state"] == "up",
            timeout=20,
        )
        assert back["sip"]["edge"]["restarts"] == 1 and back["problems"] == []
        events = [e.get("event") for e in env.sw.log_events()]
        assert "kamailio_died" in events and "kamailio_restarted" in events
        # the call did not notice: still up, media still flowing both ways
        before = caller.stats()
        time.sleep(0.5)
        after = caller.stats()
        assert after["active"] and after["rx"] > before["rx"] and after["tx"] > before["tx"]
        assert [c["id"] for c in env.api("GET", "/api/v1/calls?active=true")[1]] == [call["id"]]
        # the registration went with the old Kamailio: the agent's phone shows it
        env.wait_api(
            "/api/v1/agents",
            lambda agents: agents[0]["phone_registered"] is False,
        )
        # the caller's BYE goes through the new Kamailio: the call ends normally
        caller.send("hangup")
        ended = env.wait_api(f"/api/v1/calls/{call['id']}", lambda c: c["state"] == "ended")
        assert ended["cause"] == "caller_hangup", ended
    finally:
        caller.close()
        agent.close()
    # new calls: once the phone registers again, a call reaches the agent
    agent = agent_phone(env)
    caller = call_did(env)
    try:
        caller.wait_for("state", timeout=15, state="CONFIRMED")
        [again] = env.wait_api(
            "/api/v1/calls?active=true", lambda cs: cs and cs[0]["state"] == "answered"
        )
        assert again["agent"] == "alice"
        caller.send("hangup")
        env.wait_api(f"/api/v1/calls/{again['id']}", lambda c: c["state"] == "ended")
    finally:
        caller.close()
        agent.close()
    journey = env.api("GET", f"/api/v1/contacts/{call['contact_id']}/journey")[1]
    assert [e["kind"] for e in journey if e["kind"] == "call_ended"] == ["call_ended"] * 2
