"""Config reload of a running `switch run` (Kamailio, media workers, pjsua2 phones): a
call up during the reload goes on and ends normally; the added queue, route and agent
work at once (the new agent's phone registers and takes a call on the new route); an
invalid file is refused and the old config keeps working; `switch config reload`
validates first and names the keys that need a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.integration.kamailio_harness import free_ports
from tests.integration.switch_env import SwitchEnv as Env
from tests.integration.switchproc import ROOT, SwitchProcess
from tests.sipphone import Phone

DID = "+85523900100"
DID2 = "+85523900200"
CALLER = "+85512345678"
TECH = "tech-token-for-reload-tests"

pytestmark = pytest.mark.integration


def config(ports: dict[str, int], *, second_line: bool = False, http: int | None = None) -> str:
    text = f"""
[store]
path = "data/switch.db"
[http]
listen = "127.0.0.1:{http or ports["http"]}"
[api]
tokens = ["secret-token-for-tests"]
technician_tokens = ["{TECH}"]
[sip]
listen = "127.0.0.1:{ports["edge"]}"
workers = 3
worker_port_base = {ports["base"]}
rtp_port_base = {ports["rtp"]}
ring_timeout = 5
[[trunks]]
id = "provider1"
host = "127.0.0.1"
port = {ports["trunk"]}
dids = ["{DID}"]
[[trunks]]
id = "provider2"
host = "127.0.0.1"
port = {ports["trunk2"]}
dids = ["{DID2}"]
[[queues]]
id = "default"
max_wait = 60
[[routes]]
number = "{DID}"
to = "queue:default"
[[agents]]
id = "alice"
sip_user = "1001"
sip_password = "secret-1001"
"""
    if second_line:
        text += f"""
[[agents]]
id = "carol"
sip_user = "1003"
sip_password = "secret-1003"
skills = ["fr"]
[[queues]]
id = "sales"
skills = ["fr"]
max_wait = 60
[[routes]]
number = "{DID2}"
to = "queue:sales"
"""
    return text


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[Env, dict[str, int]]]:
    ports = {
        "http": free_port(),
        "edge": free_ports(1, tcp=True),
        "trunk": free_ports(1),
        "trunk2": free_ports(1),
        "base": free_ports(3),
        "rtp": free_ports(150),
    }
    sw = SwitchProcess(config(ports), tmp_path, ports["http"])
    sw.start(timeout=40)
    try:
        yield Env(sw, ports["edge"], ports["trunk"], tmp_path), ports
    finally:
        code = sw.terminate(timeout=30)
        assert code == 0, sw.stderr_text()[-3000:]


def agent_phone(env: Env, user: str) -> Phone:
    port = free_ports(1)
    env.register(user, f"secret-{user}", port)
    return Phone(
        "--port", str(port), "--rtp-port", str(free_ports(4)), "--user", user, "--auto-answer"
    )


def call(env: Env, number: str, trunk: int | None = None) -> Phone:
    """A customer calling ``number`` through the trunk on port ``trunk``."""
    phone = Phone(
        "--port",
        str(trunk or env.trunk),
        "--rtp-port",
        str(free_ports(4)),
        "--user",
        CALLER.lstrip("+"),
        "--call",
        f"sip:{number}@127.0.0.1:{env.edge}",
    )
    phone.wait_for("state", timeout=15, state="CONFIRMED")
    return phone


def hup_and_wait(env: Env, event: str) -> dict[str, Any]:
    """SIGHUP the switch; the log line that says how the reload ended."""
    seen = sum(e.get("event") == event for e in env.sw.log_events())
    assert env.sw.proc is not None
    env.sw.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = [e for e in env.sw.log_events() if e.get("event") == event]
        if len(found) > seen:
            return found[-1]
        time.sleep(0.1)
    raise AssertionError(f"no {event} in the log:\n{env.sw.stderr_text()[-3000:]}")


def cli_reload(env: Env) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "switch", "config", "reload", "--config", str(env.sw.config)],
        cwd=env.tmp,
        env={**os.environ, "PYTHONPATH": str(ROOT), "SWITCH_TOKEN": TECH},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_reload_keeps_the_call_up_and_the_new_queue_route_and_agent_work(
    env: tuple[Env, dict[str, int]],
) -> None:
    sw, ports = env
    alice = agent_phone(sw, "1001")
    carol: Phone | None = None
    try:
        sw.wait_api("/api/v1/agents/alice", lambda a: a["state"] == "available")
        first = call(sw, DID)
        try:
            alice.wait_for("incoming", timeout=15)
            sw.wait_api("/api/v1/agents/alice", lambda a: a["state"] == "busy")

            sw.sw.config.write_text(config(ports, second_line=True))
            done = hup_and_wait(sw, "config_reloaded")
            assert "queues[sales] (added)" in done["applied"], done
            assert "agents[carol] (added)" in done["applied"]
            assert f"routes[{DID2}] (added)" in done["applied"]
            assert done["needs_restart"] == []

            # the call goes on through the reload
            time.sleep(1.0)
            assert not any(e["event"] == "ended" for e in first.seen + alice.seen)
            active = sw.api("GET", "/api/v1/calls?active=true")[1]
            assert [c["state"] for c in active] == ["answered"], active

            # the API shows the new queue and agent at once
            queues = {q["id"] for q in sw.api("GET", "/api/v1/queues")[1]}
            assert {"default", "sales"} <= queues
            agents = {a["id"]: a for a in sw.api("GET", "/api/v1/agents")[1]}
            assert agents["carol"]["skills"] == ["fr"]

            # the new agent's phone registers (Kamailio knows her now)...
            carol = agent_phone(sw, "1003")
            sw.wait_api("/api/v1/agents/carol", lambda a: a["state"] == "available")
            # ...and the new route leads to the new queue, where she takes the call
            second = call(sw, DID2, ports["trunk2"])
            try:
                carol.wait_for("incoming", timeout=15)
                sw.wait_api("/api/v1/agents/carol", lambda a: a["state"] == "busy")
                second.send("hangup")
                second.wait_for("ended", timeout=10)
            finally:
                second.close()

            first.send("hangup")  # the first call ends normally, after all that
            first.wait_for("ended", timeout=10)
            alice.wait_for("ended", timeout=10)
        finally:
            first.close()
    finally:
        alice.close()
        if carol is not None:
            carol.close()
    [contact] = sw.wait_api(f"/api/v1/contacts?phone=%2B{CALLER[1:]}", lambda cs: len(cs) == 1)
    journey = sw.wait_api(
        f"/api/v1/contacts/{contact['id']}/journey",
        lambda j: sum(e["kind"] == "call_ended" for e in j) == 2,
    )
    answered = [e["agent"] for e in journey if e["kind"] == "call_answered"]
    ended = [e["cause"] for e in journey if e["kind"] == "call_ended"]
    assert answered == ["alice", "carol"]
    assert ended == ["caller_hangup", "caller_hangup"]
    dequeued = [e["via"] for e in journey if e["kind"] == "dequeued"]
    assert dequeued == ["default", "sales"]


def test_an_invalid_config_is_refused_and_the_old_one_keeps_working(
    env: tuple[Env, dict[str, int]],
) -> None:
    sw, ports = env
    good = config(ports)
    sw.sw.config.write_text(good.replace("max_wait = 60", "max_wait = -5"))
    refused = hup_and_wait(sw, "config_reload_refused")
    assert any(e.startswith("queues[0].max_wait:") for e in refused["errors"]), refused

    out = cli_reload(sw)  # the CLI validates first and sends nothing
    assert out.returncode == 1, out
    assert "queues[0].max_wait:" in out.stdout and "nothing was reloaded" in out.stderr

    alice = agent_phone(sw, "1001")  # the running config still takes calls
    try:
        sw.wait_api("/api/v1/agents/alice", lambda a: a["state"] == "available")
        phone = call(sw, DID)
        try:
            alice.wait_for("incoming", timeout=15)
            phone.send("hangup")
            phone.wait_for("ended", timeout=10)
        finally:
            phone.close()
    finally:
        alice.close()

    # a valid file through the CLI: applied, and what needs a restart is named
    sw.sw.config.write_text(config(ports, second_line=True).replace("ring_timeout = 5", ""))
    out = cli_reload(sw)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "applied: queues[sales] (added)" in out.stdout
    assert "needs a restart (not applied): sip.ring_timeout (changed)" in out.stdout
    assert "sales" in {q["id"] for q in sw.api("GET", "/api/v1/queues")[1]}

    # the file moves the API elsewhere: the CLI cannot reach it there and signals the
    # switch holding the store; the running API stays where it was
    seen = sum(e.get("event") == "config_reloaded" for e in sw.sw.log_events())
    sw.sw.config.write_text(config(ports, second_line=True, http=free_port()))
    out = cli_reload(sw)
    assert out.returncode == 0 and "sent SIGHUP" in out.stdout, out.stdout + out.stderr
    deadline = time.monotonic() + 15
    while sum(e.get("event") == "config_reloaded" for e in sw.sw.log_events()) == seen:
        assert time.monotonic() < deadline, sw.sw.stderr_text()[-2000:]
        time.sleep(0.1)
    last = [e for e in sw.sw.log_events() if e.get("event") == "config_reloaded"][-1]
    assert "http.listen (changed)" in last["needs_restart"]
    assert sw.api("GET", "/api/v1/queues")[0] == 200

    audit = sw.sw.request("GET", "/api/v1/audit")
    assert audit[0] == 403  # the plain token may not read it; the technician's may
    sw.sw.token = TECH
    trail = sw.api("GET", "/api/v1/audit")[1]
    outcomes = [(e["outcome"], e["source"]) for e in trail if e["action"] == "config.reload"]
    assert outcomes == [("invalid_config", "signal"), ("ok", "api"), ("ok", "signal")]
