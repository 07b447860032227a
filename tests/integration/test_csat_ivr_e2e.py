"""The satisfaction survey by IVR end to end through `switch run` (Kamailio, media
workers, pjsua2 phones): the agent hangs up, the caller stays on the line, presses a
digit (RFC 4733) and the score is a ``csat`` journey event of the agent and the queue;
no digit: the switch hangs up and nothing is recorded."""

from __future__ import annotations

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

pytestmark = pytest.mark.integration


def config(http: int, edge: int, trunk: int, base: int, rtp: int) -> str:
    return f"""
[store]
path = "data/switch.db"
[http]
listen = "127.0.0.1:{http}"
[api]
tokens = ["secret-token-for-tests"]
[log]
level = "debug"
[sip]
listen = "127.0.0.1:{edge}"
workers = 3
worker_port_base = {base}
rtp_port_base = {rtp}
[[trunks]]
id = "provider1"
host = "127.0.0.1"
port = {trunk}
dids = ["{DID}"]
[[queues]]
id = "default"
csat = "ivr"
wrap_up = 0
[[agents]]
id = "alice"
sip_user = "1001"
sip_password = "secret-1001"
"""


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    http, edge, trunk = free_port(), free_ports(1, tcp=True), free_ports(1)
    base, rtp = free_ports(3), free_ports(150)
    sw = SwitchProcess(config(http, edge, trunk, base, rtp), tmp_path, http)
    sw.start(timeout=40)
    try:
        yield Env(sw, edge, trunk, tmp_path)
    finally:
        code = sw.terminate(timeout=30)
        assert code == 0, sw.stderr_text()[-3000:]


def talk_then_agent_hangs_up(env: Env) -> tuple[Phone, Phone]:
    port = free_ports(1)
    env.register("1001", "secret-1001", port)
    alice = Phone(
        "--port", str(port), "--rtp-port", str(free_ports(4)), "--user", "1001", "--auto-answer"
    )
    env.wait_api("/api/v1/agents/alice", lambda a: a["state"] == "available")
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
    phone.wait_for("state", timeout=15, state="CONFIRMED")
    alice.wait_for("incoming", timeout=15)
    env.wait_api("/api/v1/agents/alice", lambda a: a["state"] == "busy")
    alice.send("hangup")
    alice.wait_for("ended", timeout=10)
    # the agent is let go at once; the caller's call goes on
    env.wait_api("/api/v1/agents/alice", lambda a: a["state"] in ("wrap_up", "available"))
    [call] = env.wait_api("/api/v1/calls", lambda cs: len(cs) == 1)
    assert call["state"] == "answered", call
    return alice, phone


def journey(env: Env) -> list[dict[str, Any]]:
    [contact] = env.wait_api(f"/api/v1/contacts?phone=%2B{CALLER[1:]}", lambda cs: len(cs) == 1)
    return list(
        env.wait_api(
            f"/api/v1/contacts/{contact['id']}/journey",
            lambda j: any(e["kind"] == "call_ended" for e in j),
        )
    )


def test_the_caller_scores_the_call_after_the_agent_hangs_up(env: Env) -> None:
    alice, phone = talk_then_agent_hangs_up(env)
    try:
        phone.send("dtmf 4")
        ended = phone.wait_for("ended", timeout=20)  # thanks, then the switch hangs up
        assert ended["code"] < 300 or ended["code"] == 0, ended
    finally:
        phone.close()
        alice.close()
    entries = journey(env)
    [csat] = [e for e in entries if e["kind"] == "csat"]
    assert (csat["score"], csat["agent"], csat["queue"], csat["via"]) == (
        4,
        "alice",
        "default",
        "ivr",
    )
    ended_entry = next(e for e in entries if e["kind"] == "call_ended")
    assert ended_entry["cause"] == "agent_hangup" and ended_entry["agent"] == "alice"


def test_no_digit_hangs_up_and_records_nothing(env: Env) -> None:
    alice, phone = talk_then_agent_hangs_up(env)
    try:
        phone.wait_for("ended", timeout=90)  # the question, the time to answer, hang-up
    finally:
        phone.close()
        alice.close()
    entries = journey(env)
    assert not [e for e in entries if e["kind"] == "csat"]
    assert next(e for e in entries if e["kind"] == "call_ended")["cause"] == "agent_hangup"
