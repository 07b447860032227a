"""Queues end to end through `switch run` (Kamailio, media workers, pjsua2 phones): a
caller never waits without an outcome, an agent on break is not rung, a missed ring
pauses the agent, the queue's state is visible in the API."""

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
ring_timeout = 3
[[trunks]]
id = "provider1"
host = "127.0.0.1"
port = {trunk}
dids = ["{DID}"]
[[queues]]
id = "default"
max_wait = {max_wait}
[[agents]]
id = "alice"
sip_user = "1001"
sip_password = "secret-1001"
[[agents]]
id = "bob"
sip_user = "1002"
sip_password = "secret-1002"
"""


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    http, edge, trunk = free_port(), free_ports(1, tcp=True), free_ports(1)
    base, rtp = free_ports(3), free_ports(150)
    sw = SwitchProcess(config(http, edge, trunk, base, rtp, 6), tmp_path, http)
    sw.start(timeout=40)
    try:
        yield Env(sw, edge, trunk, tmp_path)
    finally:
        code = sw.terminate(timeout=30)
        assert code == 0, sw.stderr_text()[-3000:]


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


def agent_phone(env: Env, user: str, *extra: str) -> Phone:
    port = free_ports(1)
    env.register(user, f"secret-{user}", port)
    return Phone("--port", str(port), "--rtp-port", str(free_ports(4)), "--user", user, *extra)


def agent(env: Env, agent_id: str) -> dict[str, Any]:
    status, body = env.api("GET", f"/api/v1/agents/{agent_id}")
    assert status == 200, body
    return dict(body)


def voice_journey(env: Env) -> list[dict[str, Any]]:
    [contact] = env.wait_api(f"/api/v1/contacts?phone=%2B{CALLER[1:]}", lambda cs: len(cs) == 1)
    journey = env.wait_api(
        f"/api/v1/contacts/{contact['id']}/journey",
        lambda j: any(e["kind"] == "call_ended" for e in j),
    )
    return [e for e in journey if e["channel"] == "voice"]


def test_nobody_signed_in_gets_the_treatment_and_a_clean_hang_up(env: Env) -> None:
    phone = caller(env)
    try:
        ended = phone.wait_for("ended", timeout=15)  # the switch hangs up, not the caller
        assert ended["code"] in (200, 0) or ended["code"] < 300, ended
    finally:
        phone.close()
    kinds = [(e["kind"], e.get("cause")) for e in voice_journey(env)]
    assert kinds == [
        ("call_started", None),
        ("queued", None),
        ("dequeued", None),
        ("call_ended", "queue_no_agents"),
    ]


def test_a_caller_waits_at_most_max_wait_while_the_agent_is_on_break(env: Env) -> None:
    alice = agent_phone(env, "1001", "--auto-answer")
    try:
        env.wait_api("/api/v1/agents/alice", lambda a: a["state"] == "available")
        status, body = env.api(
            "POST", "/api/v1/agents/alice/state", {"state": "break", "reason": "lunch"}
        )
        assert status == 200 and body["state"] == "break" and body["reason"] == "lunch", body
        phone = caller(env)
        try:
            queue = env.wait_api("/api/v1/queues/default", lambda q: q["waiting"] == 1)
            [entry] = queue["entries"]
            assert entry["position"] == 1 and entry["channel"] == "voice"
            assert entry["callback"] is False and entry["waited"] >= 0
            [row] = [q for q in env.api("GET", "/api/v1/queues")[1] if q["id"] == "default"]
            assert row["waiting"] == 1 and row["agents_available"] == 0
            phone.wait_for("ended", timeout=20)  # max_wait (6 s) then the treatment
        finally:
            phone.close()
        assert not any(e["event"] == "incoming" for e in alice.seen)  # never rung on break
    finally:
        alice.close()
    voice = voice_journey(env)
    assert voice[-1]["cause"] == "queue_max_wait"
    dequeued = next(e for e in voice if e["kind"] == "dequeued")
    assert dequeued["via"] == "default" and dequeued["waited"] >= 5.0


def test_an_agent_on_break_is_not_rung_and_the_available_one_is(env: Env) -> None:
    alice = agent_phone(env, "1001")
    bob = agent_phone(env, "1002", "--auto-answer")
    try:
        env.wait_api("/api/v1/agents", lambda ags: all(a["state"] == "available" for a in ags))
        env.api("POST", "/api/v1/agents/alice/state", {"state": "break", "reason": "training"})
        phone = caller(env)
        try:
            bob.wait_for("incoming", timeout=15)
            env.wait_api("/api/v1/agents/bob", lambda a: a["state"] == "busy")
            phone.send("hangup")
            phone.wait_for("ended", timeout=10)
        finally:
            phone.close()
        assert not any(e["event"] == "incoming" for e in alice.seen)
        answered = next(e for e in voice_journey(env) if e["kind"] == "call_answered")
        assert answered["agent"] == "bob"
    finally:
        alice.close()
        bob.close()


def test_a_missed_ring_puts_the_agent_on_break_and_the_next_agent_gets_the_call(
    env: Env,
) -> None:
    alice = agent_phone(env, "1001")  # rings, never answers
    bob = agent_phone(env, "1002", "--auto-answer")
    try:
        env.wait_api("/api/v1/agents", lambda ags: all(a["state"] == "available" for a in ags))
        env.api("POST", "/api/v1/agents/bob/state", {"state": "break", "reason": "coffee"})
        phone = caller(env)
        try:
            alice.wait_for("incoming", timeout=15)
            alice.wait_for("ended", timeout=15)  # ring_timeout (3 s)
            missed = env.wait_api("/api/v1/agents/alice", lambda a: a["state"] == "break")
            assert missed["reason"] == "missed"
            env.api("POST", "/api/v1/agents/bob/state", {"state": "available"})
            bob.wait_for("incoming", timeout=15)  # the caller kept waiting: now bob
            phone.send("hangup")
            phone.wait_for("ended", timeout=10)
        finally:
            phone.close()
        back = env.api("POST", "/api/v1/agents/alice/state", {"state": "available"})[1]
        assert back["state"] == "available"
    finally:
        alice.close()
        bob.close()


def test_agent_state_requests_are_checked(env: Env) -> None:
    status, body = env.api("POST", "/api/v1/agents/alice/state", {"state": "asleep"})
    assert status == 422 and body["error"]["code"]
    status, body = env.api("POST", "/api/v1/agents/nobody/state", {"state": "break"})
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body = env.api("GET", "/api/v1/queues/nope")
    assert status == 404
    status, body = env.api("POST", "/api/v1/agents/alice/state", {"state": "offline"})
    assert status == 200 and body["state"] == "offline"


def customer_phone(env: Env, *extra: str) -> Phone:
    """The customer, reached through the trunk (the provider's side)."""
    return Phone("--port", str(env.trunk), "--rtp-port", str(free_ports(4)), *extra)


def test_a_callback_rings_the_agent_first_then_the_customer_and_is_done(env: Env) -> None:
    status, body = env.api("POST", "/api/v1/callbacks", {"phone": "012 345 678"})
    assert status == 202 and body["position"] == 1, body
    callback_id = body["id"]
    view = env.api("GET", f"/api/v1/callbacks/{callback_id}")[1]
    assert (view["state"], view["phone"], view["queue"]) == ("waiting", CALLER, "default")
    customer = customer_phone(env, "--auto-answer")
    alice = agent_phone(env, "1001", "--auto-answer")  # signs in: the callback is offered
    try:
        incoming = alice.wait_for("incoming", timeout=20)
        assert any("85512345678" in h for h in incoming["headers"] if h.startswith("From"))
        customer.wait_for("incoming", timeout=20)
        env.wait_api(f"/api/v1/callbacks/{callback_id}", lambda c: c["state"] == "connected")
        customer.send("hangup")
        alice.wait_for("ended", timeout=10)
    finally:
        alice.close()
        customer.close()
    done = env.wait_api(f"/api/v1/callbacks/{callback_id}", lambda c: c["state"] == "done")
    assert done["attempts"] == 1 and done["agent"] == "alice" and done["position"] is None
    journey = env.wait_api(
        f"/api/v1/contacts/{done['contact_id']}/journey",
        lambda j: any(e["kind"] == "callback_done" for e in j),
    )
    kinds = [e["kind"] for e in journey]
    assert kinds[:2] == ["callback_requested", "queued"]
    assert {"call_started", "dequeued", "callback_dialed", "call_answered"} <= set(kinds)
    dequeued = next(e for e in journey if e["kind"] == "dequeued")
    assert dequeued["agent"] == "alice" and dequeued["via"] == "default"


@pytest.mark.faults
def test_callbacks_keep_their_places_when_the_switch_is_killed(tmp_path: Path) -> None:
    http, edge, trunk = free_port(), free_ports(1, tcp=True), free_ports(1)
    base, rtp = free_ports(3), free_ports(150)
    text = config(http, edge, trunk, base, rtp, 6)
    sw = SwitchProcess(text, tmp_path, http)
    sw.start(timeout=40)
    env = Env(sw, edge, trunk, tmp_path)
    ids = []
    for phone in ("+85512000001", "+85512000002", "+85512000003"):
        status, body = env.api("POST", "/api/v1/callbacks", {"phone": phone})
        assert status == 202, body
        ids.append(body["id"])
    sw.kill9()  # no goodbye
    sw = SwitchProcess(text, tmp_path, http)
    sw.start(timeout=40)
    env = Env(sw, edge, trunk, tmp_path)
    try:
        views = [env.api("GET", f"/api/v1/callbacks/{i}")[1] for i in ids]
        assert [(v["state"], v["position"]) for v in views] == [
            ("waiting", 1),
            ("waiting", 2),
            ("waiting", 3),
        ]
        queue = env.api("GET", "/api/v1/queues/default")[1]
        assert [e["callback"] for e in queue["entries"]] == [True, True, True]
    finally:
        code = sw.terminate(timeout=30)
        assert code == 0, sw.stderr_text()[-3000:]
