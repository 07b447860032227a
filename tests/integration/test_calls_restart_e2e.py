"""A call that was up when the switch was killed ends in the journey, with a cause,
once the switch is back (the call itself died with the media workers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.integration.kamailio_harness import free_ports
from tests.integration.switch_env import SwitchEnv as Env
from tests.integration.switchproc import SwitchProcess
from tests.integration.test_calls_e2e import CALLER, DID, agent_available, switch_config
from tests.sipphone import Phone

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_a_call_up_at_kill9_ends_in_the_journey_after_the_restart(tmp_path: Path) -> None:
    http, edge, trunk = free_port(), free_ports(1, tcp=True), free_ports(1)
    base, rtp = free_ports(2), free_ports(100)
    text = switch_config(http, edge, trunk, 2, base, rtp)
    sw = SwitchProcess(text, tmp_path, http)
    sw.start(timeout=40)
    env = Env(sw, edge, trunk, tmp_path)
    agent_port = free_ports(1)
    env.register("1001", "secret-1001", agent_port)
    env.wait_api("/api/v1/agents", agent_available)
    agent = Phone(
        "--port",
        str(agent_port),
        "--rtp-port",
        str(free_ports(4)),
        "--user",
        "1001",
        "--auto-answer",
    )
    caller = Phone(
        "--port",
        str(trunk),
        "--rtp-port",
        str(free_ports(4)),
        "--user",
        CALLER.lstrip("+"),
        "--call",
        f"sip:{DID}@127.0.0.1:{edge}",
    )
    try:
        [call] = env.wait_api(
            "/api/v1/calls?active=true", lambda cs: cs and cs[0]["state"] == "answered"
        )
        sw.kill9()
    finally:
        agent.close()
        caller.close()
    sw = SwitchProcess(text, tmp_path, http)
    sw.start(timeout=40)
    env = Env(sw, edge, trunk, tmp_path)
    try:
        assert env.api("GET", "/api/v1/calls?active=true")[1] == []
        record = env.api("GET", f"/api/v1/calls/{call['id']}")[1]
        assert record["state"] == "ended" and record["cause"] == "switch_restarted"
        journey = env.api("GET", f"/api/v1/contacts/{call['contact_id']}/journey")[1]
        voice = [e for e in journey if e["channel"] == "voice"]
        assert [e["kind"] for e in voice] == ["call_started", "call_answered", "call_ended"]
        assert voice[-1]["cause"] == "switch_restarted"
        # ...once: a second restart adds nothing
    finally:
        assert sw.terminate(timeout=30) == 0, sw.stderr_text()[-3000:]
    sw = SwitchProcess(text, tmp_path, http)
    sw.start(timeout=40)
    env = Env(sw, edge, trunk, tmp_path)
    try:
        journey = env.api("GET", f"/api/v1/contacts/{call['contact_id']}/journey")[1]
        assert [e["kind"] for e in journey].count("call_ended") == 1
    finally:
        assert sw.terminate(timeout=30) == 0, sw.stderr_text()[-3000:]
