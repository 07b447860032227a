"""SMS conversations routed to agents, end to end: `switch run` with a simulated modem,
the SIP edge (an agent signs in by registering a phone), the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.gsm.simulator import SimulatorClient
from tests.conftest import free_port
from tests.integration.kamailio_harness import free_ports
from tests.integration.switch_env import SwitchEnv
from tests.integration.switchproc import SwitchProcess

CUSTOMER = "+85512345678"

pytestmark = pytest.mark.integration


def config(http: int, edge: int, base: int, rtp: int, trunk: int) -> str:
    return f"""
[store]
path = "data/switch.db"
[http]
listen = "127.0.0.1:{http}"
[api]
tokens = ["secret-token-for-tests"]
[[modems]]
id = "gsm1"
simulated = true
profile = "huawei_e173"
[sip]
listen = "127.0.0.1:{edge}"
workers = 1
worker_port_base = {base}
rtp_port_base = {rtp}
[[trunks]]
id = "provider1"
host = "127.0.0.1"
port = {trunk}
[[queues]]
id = "support"
callback = true
[routing]
reply_timeout = 4
[[agents]]
id = "alice"
sip_user = "1001"
sip_password = "secret-1001"
"""


class Env(SwitchEnv):
    modem: SimulatorClient

    def sent_to(self, number: str) -> list[str]:
        sent = self.modem.state_sync()["sent"]
        return [p["text"] for p in sent if p["destination"].lstrip("+") == number.lstrip("+")]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    http, edge, trunk = free_port(), free_ports(1, tcp=True), free_ports(1)
    base, rtp = free_ports(1), free_ports(50)
    sw = SwitchProcess(config(http, edge, base, rtp, trunk), tmp_path, http)
    sw.start(timeout=60)
    env = Env(sw, edge, trunk, tmp_path)
    env.modem = SimulatorClient(tmp_path / "data" / "modems" / "gsm1" / "control.sock")
    env.wait_api("/api/v1/modems", lambda ms: ms and ms[0]["state"] == "ready")
    try:
        yield env
    finally:
        code = sw.terminate(timeout=30)
        assert code == 0, sw.stderr_text()[-3000:]


def contact_of(env: Env, number: str) -> str:
    [contact] = env.wait_api(
        f"/api/v1/contacts?phone=%2B{number[1:]}", lambda cs: len(cs) == 1, timeout=20
    )
    return str(contact["id"])


def conversations(env: Env, **query: Any) -> list[dict[str, Any]]:
    args = "&".join(f"{k}={v}" for k, v in query.items())
    status, body = env.api("GET", f"/api/v1/conversations?{args}")
    assert status == 200, body
    return list(body)


def test_an_sms_opens_a_conversation_an_agent_gets_and_answers(env: Env) -> None:
    env.register("1001", "secret-1001", free_ports(1))  # alice signs in (her phone)
    env.wait_api("/api/v1/agents/alice", lambda a: a["state"] == "available")
    env.modem.deliver_sms_sync(CUSTOMER, "សួស្តី, my internet is down")
    contact = contact_of(env, CUSTOMER)
    [conv] = env.wait_api("/api/v1/conversations?agent=alice", lambda cs: len(cs) == 1, timeout=20)
    assert (conv["contact_id"], conv["channel"], conv["state"]) == (contact, "sms", "assigned")
    alice = env.api("GET", "/api/v1/agents/alice")[1]
    assert alice["state"] == "busy" and alice["chats"] == 1
    status, body = env.api(
        "POST", f"/api/v1/contacts/{contact}/messages", {"text": "យើងកំពុងពិនិត្យ", "agent": "alice"}
    )
    assert status == 202, body
    env.modem.wait_for_sync(lambda s: any(p["text"] == "យើងកំពុងពិនិត្យ" for p in s["sent"]), timeout=20)
    status, body = env.api("POST", f"/api/v1/contacts/{contact}/conversation/close", {})
    assert status == 200 and body["state"] == "idle"
    env.wait_api("/api/v1/agents/alice", lambda a: a["state"] == "available" and a["chats"] == 0)
    journey = env.api("GET", f"/api/v1/contacts/{contact}/journey")[1]
    kinds = [e["kind"] for e in journey]
    assert kinds[:2] == ["message_in", "queued"] and "dequeued" in kinds
    assert kinds[-1] == "message_out"


def test_no_reply_in_time_returns_the_conversation_to_the_queue(env: Env) -> None:
    env.register("1001", "secret-1001", free_ports(1))
    env.wait_api("/api/v1/agents/alice", lambda a: a["state"] == "available")
    env.modem.deliver_sms_sync(CUSTOMER, "hello?")
    env.wait_api("/api/v1/conversations?agent=alice", lambda cs: len(cs) == 1, timeout=20)
    # alice does not answer within reply_timeout (4 s): the conversation goes back to the
    # queue at its place and she is free; being the only agent, she gets it again once
    # her turn to pass it (reply_timeout) is over
    env.wait_api("/api/v1/queues/support", lambda q: q["waiting"] == 1, timeout=20)
    alice = env.wait_api("/api/v1/agents/alice", lambda a: a["state"] == "available")
    assert alice["chats"] == 0
    env.wait_api("/api/v1/conversations?agent=alice", lambda cs: len(cs) == 1, timeout=20)
    contact = contact_of(env, CUSTOMER)
    journey = env.api("GET", f"/api/v1/contacts/{contact}/journey")[1]
    assert [e["kind"] for e in journey].count("queued") == 2


def test_nobody_signed_in_answers_the_sms_once_saying_so(env: Env) -> None:
    env.modem.deliver_sms_sync(CUSTOMER, "anyone there?")
    env.modem.wait_for_sync(
        lambda s: any("Nobody can answer" in p["text"] for p in s["sent"]), timeout=20
    )
    assert conversations(env) == []


def test_call_by_sms_asks_for_a_callback(env: Env) -> None:
    env.modem.deliver_sms_sync(CUSTOMER, "CALL")
    env.modem.wait_for_sync(
        lambda s: any("We will call you back" in p["text"] for p in s["sent"]), timeout=20
    )
    queue = env.wait_api("/api/v1/queues/support", lambda q: q["waiting"] == 1)
    assert queue["entries"][0]["callback"] is True
    assert conversations(env) == []  # a callback, not a conversation
