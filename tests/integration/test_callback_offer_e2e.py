"""Press 1 for a callback, end to end through `switch run` (Kamailio, media workers,
pjsua2 phones): a waiting caller presses 1 (RFC 4733), hears the confirmation and is hung
up on; the callback holds the caller's place; when an agent is free the switch calls
the agent first, then the customer. The queue's treatment offers the same."""

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


def config(http: int, edge: int, trunk: int, base: int, rtp: int, max_wait: float) -> str:
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
ring_timeout = 8
[[trunks]]
id = "provider1"
host = "127.0.0.1"
port = {trunk}
dids = ["{DID}"]
[[queues]]
id = "default"
max_wait = {max_wait}
callback = true
[[agents]]
id = "alice"
sip_user = "1001"
sip_password = "secret-1001"
"""


def start(tmp_path: Path, max_wait: float) -> Env:
    http, edge, trunk = free_port(), free_ports(1, tcp=True), free_ports(1)
    base, rtp = free_ports(3), free_ports(150)
    sw = SwitchProcess(config(http, edge, trunk, base, rtp, max_wait), tmp_path, http)
    sw.start(timeout=40)
    return Env(sw, edge, trunk, tmp_path)


def stop(env: Env) -> None:
    code = env.sw.terminate(timeout=30)
    assert code == 0, env.sw.stderr_text()[-3000:]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    env = start(tmp_path, 120)
    try:
        yield env
    finally:
        stop(env)


def caller(env: Env) -> Phone:
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
    return phone


def agent_on_break(env: Env) -> Phone:
    port = free_ports(1)
    env.register("1001", "secret-1001", port)
    alice = Phone(
        "--port", str(port), "--rtp-port", str(free_ports(4)), "--user", "1001", "--auto-answer"
    )
    env.wait_api("/api/v1/agents/alice", lambda a: a["state"] == "available")
    status, body = env.api("POST", "/api/v1/agents/alice/state", {"state": "break"})
    assert status == 200 and body["state"] == "break", body
    return alice


def press_1_and_be_hung_up_on(phone: Phone) -> None:
    phone.send("dtmf 1")
    ended = phone.wait_for("ended", timeout=20)  # the confirmation, then the switch hangs up
    assert ended["code"] < 300 or ended["code"] == 0, ended


def the_callback(env: Env) -> dict[str, Any]:
    [callback] = env.wait_api("/api/v1/callbacks", lambda cs: len(cs) == 1)
    return dict(callback)


def called_back(env: Env, alice: Phone, callback_id: str) -> dict[str, Any]:
    """Alice becomes available: she is rung first, then the customer; done."""
    customer = Phone("--port", str(env.trunk), "--rtp-port", str(free_ports(4)), "--auto-answer")
    try:
        status, _ = env.api("POST", "/api/v1/agents/alice/state", {"state": "available"})
        assert status == 200
        alice.wait_for("incoming", timeout=20)
        customer.wait_for("incoming", timeout=20)
        env.wait_api(f"/api/v1/callbacks/{callback_id}", lambda c: c["state"] == "connected")
        customer.send("hangup")
        customer.wait_for("ended", timeout=10)
    finally:
        customer.close()
    return dict(env.wait_api(f"/api/v1/callbacks/{callback_id}", lambda c: c["state"] == "done"))


def journey_kinds(env: Env, contact_id: str) -> list[tuple[str, Any]]:
    journey = env.wait_api(
        f"/api/v1/contacts/{contact_id}/journey",
        lambda j: any(e["kind"] == "callback_done" for e in j),
    )
    return [(e["kind"], e.get("cause")) for e in journey]


def test_a_waiting_caller_presses_1_keeps_the_place_and_is_called_back(env: Env) -> None:
    alice = agent_on_break(env)
    try:
        phone = caller(env)
        try:
            env.wait_api("/api/v1/queues/default", lambda q: q["waiting"] == 1)
            press_1_and_be_hung_up_on(phone)
        finally:
            phone.close()
        callback = the_callback(env)
        assert (callback["phone"], callback["queue"]) == (CALLER, "default")
        assert (callback["state"], callback["position"]) == ("waiting", 1)
        [entry] = env.api("GET", "/api/v1/queues/default")[1]["entries"]
        assert entry["callback"] is True and entry["position"] == 1
        assert not any(e["event"] == "incoming" for e in alice.seen)
        done = called_back(env, alice, callback["id"])
        assert done["agent"] == "alice" and done["attempts"] == 1
    finally:
        alice.close()
    kinds = journey_kinds(env, callback["contact_id"])
    first_call = kinds[: kinds.index(("callback_requested", None)) + 1]
    assert first_call[:2] == [("call_started", None), ("queued", None)]
    assert ("call_ended", "callback_requested") in kinds
    assert {"callback_dialed", "call_answered", "callback_done"} <= {k for k, _ in kinds}


def test_the_max_wait_treatment_offers_the_callback_and_1_takes_it(tmp_path: Path) -> None:
    env = start(tmp_path, 4)
    try:
        alice = agent_on_break(env)
        try:
            phone = caller(env)
            try:
                env.wait_api("/api/v1/queues/default", lambda q: q["waiting"] == 1)
                # max_wait (4 s): the item leaves the queue, the treatment's offer plays
                env.wait_api("/api/v1/queues/default", lambda q: q["waiting"] == 0)
                press_1_and_be_hung_up_on(phone)
            finally:
                phone.close()
            callback = the_callback(env)
            assert (callback["state"], callback["position"]) == ("waiting", 1)
            called_back(env, alice, callback["id"])
        finally:
            alice.close()
        kinds = journey_kinds(env, callback["contact_id"])
        assert ("call_ended", "callback_requested") in kinds
        assert ("callback_requested", None) in kinds
    finally:
        stop(env)
