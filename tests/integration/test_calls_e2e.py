"""Calls end to end through the whole switch: `switch run` with Kamailio and media workers.

Real peers: a pjsua2 phone as the provider's caller (bound to the trunk's host:port, so
Kamailio recognises the trunk), sipp to REGISTER the agent's phone with digest auth,
then a pjsua2 phone on that registered contact answering. Each phone plays its own tone
and records what it hears: hearing the other side's tone proves media crossed the
switch's bridge both ways.
"""

from __future__ import annotations

import os
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
from tests.integration.switchproc import SwitchProcess
from tests.sipphone import Phone, read_wav, tone_power

DID = "+85523900100"
CALLER = "+85512345678"

pytestmark = pytest.mark.integration


def switch_config(http: int, edge: int, trunk: int, workers: int, base: int, rtp: int) -> str:
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
workers = {workers}
worker_port_base = {base}
rtp_port_base = {rtp}
ring_timeout = 8
record_calls = true
recordings = "data/recordings"
[[trunks]]
id = "provider1"
host = "127.0.0.1"
port = {trunk}
dids = ["{DID}"]
[[agents]]
id = "alice"
name = "Alice"
sip_user = "1001"
sip_password = "secret-1001"
skills = ["km"]
"""


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


def agent_available(agents: list[dict[str, Any]]) -> bool:
    return any(a["id"] == "alice" and a["status"] == "available" for a in agents)


def test_inbound_trunk_call_rings_registered_agent_and_media_flows_both_ways(env: Env) -> None:
    agent_port = free_ports(1)
    env.register("1001", "secret-1001", agent_port)
    env.wait_api("/api/v1/agents", agent_available)

    agent_rec, caller_rec = env.tmp / "agent.wav", env.tmp / "caller.wav"
    agent = Phone(
        "--port",
        str(agent_port),
        "--rtp-port",
        str(free_ports(4)),
        "--user",
        "1001",
        "--auto-answer",
        "--tone",
        "700",
        "--record",
        str(agent_rec),
    )
    caller = None
    try:
        caller = Phone(
            "--port",
            str(env.trunk),
            "--rtp-port",
            str(free_ports(4)),
            "--user",
            CALLER.lstrip("+"),
            "--tone",
            "1200",
            "--record",
            str(caller_rec),
            "--call",
            f"sip:{DID}@127.0.0.1:{env.edge}",
        )
        caller.wait_for("state", timeout=15, state="CONFIRMED")
        incoming = agent.wait_for("incoming", timeout=15)
        # The agent's phone gets the switch's own INVITE (B2BUA), not the caller's.
        assert not any("X-Switch" in h for h in incoming["headers"])
        calls = env.wait_api(
            "/api/v1/calls?active=true", lambda cs: cs and cs[0]["state"] == "answered"
        )
        assert calls[0]["agent"] == "alice" and calls[0]["direction"] == "in"
        assert calls[0]["from"] == CALLER
        # the number the caller dialled, not the trunk it came through
        assert calls[0]["to"] == DID and calls[0]["via"] == "provider1"
        assert calls[0]["started_at"].endswith("Z")  # ISO 8601, UTC
        time.sleep(2.0)  # let audio flow
        heard = caller.stats()
        assert heard["rx"] > 20 and heard["tx"] > 20, heard
        assert agent.stats()["rx"] > 20
        caller.send("hangup")
        caller.wait_for("ended", timeout=10)
        agent.wait_for("ended", timeout=10)
    finally:
        agent.close()
        if caller is not None:
            caller.close()

    # Media crossed the bridge both ways: each side heard the other's tone.
    a_samples, rate = read_wav(agent_rec)
    c_samples, _ = read_wav(caller_rec)
    assert tone_power(a_samples, rate, 1200) > 10 * tone_power(a_samples, rate, 700) + 1
    assert tone_power(c_samples, rate, 700) > 10 * tone_power(c_samples, rate, 1200) + 1

    [contact] = env.wait_api(f"/api/v1/contacts?phone=%2B{CALLER[1:]}", lambda cs: len(cs) == 1)
    journey = env.wait_api(
        f"/api/v1/contacts/{contact['id']}/journey",
        lambda j: any(e["kind"] == "call_ended" for e in j),
    )
    kinds = [e["kind"] for e in journey if e["channel"] == "voice"]
    assert kinds == ["call_started", "call_answered", "call_ended"]
    answered = next(e for e in journey if e["kind"] == "call_answered")
    ended = next(e for e in journey if e["kind"] == "call_ended")
    assert answered["agent"] == "alice" and answered["via"] == "provider1"
    assert ended["cause"] == "caller_hangup"
    assert ended["recording"].endswith(".wav") and Path(ended["recording"]).exists()
    assert ended["recording_seconds"] > 1.0
    # recordings are for the switch's user only (the worker inherits `switch run`'s umask)
    assert Path(ended["recording"]).stat().st_mode & 0o077 == 0
    assert Path(ended["recording"]).parent.stat().st_mode & 0o077 == 0
    status, calls = env.api("GET", "/api/v1/calls?active=true")
    assert status == 200 and calls == []


def test_click_to_call_rings_agent_then_customer_and_bridges(env: Env) -> None:
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
        "--tone",
        "700",
    )
    customer = Phone(
        "--port",
        str(env.trunk),
        "--rtp-port",
        str(free_ports(4)),
        "--auto-answer",
        "--tone",
        "1200",
    )
    try:
        status, body = env.api("POST", "/api/v1/calls", {"agent": "alice", "to": "012 345 678"})
        assert status == 202, body
        call_id = body["id"]
        agent.wait_for("incoming", timeout=15)
        customer.wait_for("incoming", timeout=15)
        call = env.wait_api(f"/api/v1/calls/{call_id}", lambda c: c["state"] == "answered")
        assert call["direction"] == "out" and call["agent"] == "alice" and call["to"] == CALLER
        time.sleep(1.5)
        assert customer.stats()["rx"] > 20 and agent.stats()["rx"] > 20
        agent.send("hangup")
        customer.wait_for("ended", timeout=10)
    finally:
        agent.close()
        customer.close()
    call = env.wait_api(f"/api/v1/calls/{call_id}", lambda c: c["state"] == "ended")
    journey = env.wait_api(
        f"/api/v1/contacts/{call['contact_id']}/journey",
        lambda j: any(e["kind"] == "call_ended" for e in j),
    )
    assert [e["kind"] for e in journey] == ["call_started", "call_answered", "call_ended"]
    assert journey[0]["direction"] == "out" and journey[2]["cause"] == "agent_hangup"


def test_click_to_call_bad_input_is_4xx(env: Env) -> None:
    status, body = env.api("POST", "/api/v1/calls", {"agent": "nobody", "to": CALLER})
    assert status == 422 and body["error"]["code"] == "unknown_agent"
    status, body = env.api("POST", "/api/v1/calls", {"agent": "alice", "to": "12;AT"})
    assert status == 422 and body["error"]["code"] == "invalid_phone"
    status, body = env.api("POST", "/api/v1/calls", {"agent": "alice"})
    assert status == 422
    status, body = env.api("GET", "/api/v1/calls/nope")
    assert status == 404


def test_two_callers_at_once_and_one_free_agent_ring_her_once(env: Env) -> None:
    """Each worker's events run in their own lane: both calls pick an agent at the same
    moment, and only one of them may ring the only free agent."""
    agent_port = free_ports(1)
    env.register("1001", "secret-1001", agent_port)
    env.wait_api("/api/v1/agents", agent_available)
    agent = Phone("--port", str(agent_port), "--rtp-port", str(free_ports(4)), "--auto-answer")
    try:
        callers = subprocess.Popen(
            [
                "sipp",
                "-sf",
                str(Path(__file__).with_name("sipp") / "uac_call_long.xml"),
                "-i",
                "127.0.0.1",
                "-p",
                str(env.trunk),
                "-s",
                DID,
                "-m",
                "2",
                "-r",
                "100",
                "-l",
                "2",
                "-timeout",
                "20",
                "-nostdin",
                f"127.0.0.1:{env.edge}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=env.tmp,
        )
        agent.wait_for("incoming", timeout=15)
        calls = env.wait_api("/api/v1/calls?active=true", lambda cs: len(cs) == 2)
        with pytest.raises(TimeoutError):  # while she talks, nobody rings her again
            agent.wait_for("incoming", timeout=1.5)
        calls = env.wait_api("/api/v1/calls?active=true", lambda cs: len(cs) == 2)
        assert sorted(c["state"] for c in calls) == ["answered", "ringing"], calls
        assert [c["agent"] for c in calls if c["state"] == "answered"] == ["alice"]
        callers.wait(30)
    finally:
        agent.close()


def test_agent_phone_dials_out_through_the_trunk(env: Env) -> None:
    customer = Phone(
        "--port",
        str(env.trunk),
        "--rtp-port",
        str(free_ports(4)),
        "--auto-answer",
        "--tone",
        "1200",
    )
    try:
        proc = subprocess.Popen(
            [
                "sipp",
                "-sf",
                str(Path(__file__).with_name("sipp") / "agent_uac_call.xml"),
                "-i",
                "127.0.0.1",
                "-p",
                str(free_ports(1)),
                "-s",
                "012345678",
                "-au",
                "1001",
                "-ap",
                "secret-1001",
                "-key",
                "agent",
                "1001",
                "-m",
                "1",
                "-timeout",
                "20",
                "-timeout_error",
                "-nostdin",
                f"127.0.0.1:{env.edge}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=env.tmp,
        )
        incoming = customer.wait_for("incoming", timeout=15)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out[-3000:]
        # The provider sees the switch's call, from the trunk's DID, to the dialled number.
        assert any(
            DID.lstrip("+") in h for h in incoming["headers"] if h.lower().startswith("from")
        )
        customer.wait_for("ended", timeout=10)
    finally:
        customer.close()
    [contact] = env.wait_api(f"/api/v1/contacts?phone=%2B{CALLER[1:]}", lambda cs: len(cs) == 1)
    journey = env.wait_api(
        f"/api/v1/contacts/{contact['id']}/journey",
        lambda j: any(e["kind"] == "call_ended" for e in j),
    )
    assert [e["kind"] for e in journey] == ["call_started", "call_answered", "call_ended"]
    assert journey[1]["agent"] == "alice" and journey[0]["direction"] == "out"


@pytest.fixture
def env1(tmp_path: Path) -> Iterator[Env]:
    """A switch with a single media worker and a second trunk (provider2 at trunk + 1)."""
    http, edge, trunk = free_port(), free_ports(1, tcp=True), free_ports(2)
    base, rtp = free_ports(1), free_ports(60)
    config = (
        switch_config(http, edge, trunk, 1, base, rtp)
        + f"""
[[trunks]]
id = "provider2"
host = "127.0.0.1"
port = {trunk + 1}
dids = ["+85523900200"]
"""
    )
    sw = SwitchProcess(config, tmp_path, http)
    sw.start(timeout=40)
    try:
        yield Env(sw, edge, trunk, tmp_path)
    finally:
        code = sw.terminate(timeout=30)
        assert code == 0, sw.stderr_text()[-3000:]


def worker_pid(port: int) -> int:
    out = subprocess.run(
        ["pgrep", "-f", f"drivers.sip.media.worker .*--sip-port {port} "],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert out, f"no media worker on port {port}"
    return int(out[0])


def alice_on_break(env: Env) -> None:
    """alice signs in (her phone registers) and takes a break: a caller waits in the
    queue (with nobody signed in at all, the queue would give up at once)."""
    env.register("1001", "secret-1001", free_ports(1))
    env.wait_api("/api/v1/agents", agent_available)
    status, body = env.api("POST", "/api/v1/agents/alice/state", {"state": "break"})
    assert status == 200, body


def test_all_workers_busy_rejects_the_next_caller_with_503(env1: Env) -> None:
    # alice is on break: the first caller waits in the queue, holding the only worker.
    alice_on_break(env1)
    first = Phone(
        "--port",
        str(env1.trunk),
        "--rtp-port",
        str(free_ports(4)),
        "--user",
        CALLER.lstrip("+"),
        "--call",
        f"sip:{DID}@127.0.0.1:{env1.edge}",
    )
    try:
        first.wait_for("state", timeout=15, state="CONFIRMED")
        second = Phone(
            "--port",
            str(env1.trunk + 1),
            "--rtp-port",
            str(free_ports(4)),
            "--call",
            f"sip:+85523900200@127.0.0.1:{env1.edge}",
        )
        try:
            ended = second.wait_for("ended", timeout=15)
            assert ended["code"] == 503, ended
        finally:
            second.close()
        assert first.stats()["active"]  # the first call is untouched
    finally:
        first.close()


@pytest.mark.faults
def test_worker_killed_mid_call_ends_only_that_call_and_is_replaced(env1: Env) -> None:
    import os
    import signal

    alice_on_break(env1)  # the caller waits in the queue
    caller = Phone(
        "--port",
        str(env1.trunk),
        "--rtp-port",
        str(free_ports(4)),
        "--user",
        CALLER.lstrip("+"),
        "--call",
        f"sip:{DID}@127.0.0.1:{env1.edge}",
    )
    try:
        caller.wait_for("state", timeout=15, state="CONFIRMED")
        [call] = env1.wait_api("/api/v1/calls?active=true", lambda cs: len(cs) == 1)
        port = int(env1.sw.config.read_text().split("worker_port_base = ")[1].split()[0])
        os.kill(worker_pid(port), signal.SIGKILL)
        ended = env1.wait_api(f"/api/v1/calls/{call['id']}", lambda c: c["state"] == "ended")
        journey = env1.wait_api(
            f"/api/v1/contacts/{ended['contact_id']}/journey",
            lambda j: any(e["kind"] == "call_ended" for e in j),
        )
        assert journey[-1]["cause"] == "worker_died"
    finally:
        caller.close()
    # The pool restarts the worker: a new call is taken again.
    assert env1.sw.get("/healthz", auth=False)[0] == 200
    deadline = time.monotonic() + 20
    while True:
        again = Phone(
            "--port",
            str(env1.trunk),
            "--rtp-port",
            str(free_ports(4)),
            "--user",
            CALLER.lstrip("+"),
            "--call",
            f"sip:{DID}@127.0.0.1:{env1.edge}",
        )
        try:
            event = again.wait_for("state", timeout=10, state="CONFIRMED")
            assert event["code"] == 200
            break
        except (TimeoutError, RuntimeError):
            if time.monotonic() > deadline:
                raise
        finally:
            again.close()
        time.sleep(1)


def test_dtmf_during_the_greeting_picks_the_skill_of_the_agent_rung(tmp_path: Path) -> None:
    http, edge, trunk = free_port(), free_ports(1, tcp=True), free_ports(1)
    base, rtp = free_ports(2), free_ports(100)
    config = (
        switch_config(http, edge, trunk, 2, base, rtp).replace(
            "ring_timeout = 8",
            'ring_timeout = 8\ngreeting = "builtin:greeting"\nhold_music = "builtin:hold"\n'
            'menu = { "1" = "km", "2" = "en" }',
        )
        + """
[[agents]]
id = "bob"
name = "Bob"
sip_user = "1002"
sip_password = "secret-1002"
skills = ["en"]
"""
    )
    sw = SwitchProcess(config, tmp_path, http).start(timeout=40)
    env = Env(sw, edge, trunk, tmp_path)
    alice_port, bob_port = free_ports(1), free_ports(1)
    phones: list[Phone] = []
    try:
        env.register("1001", "secret-1001", alice_port)  # alice: longest idle
        env.wait_api("/api/v1/agents", agent_available)
        time.sleep(1.1)
        env.register("1002", "secret-1002", bob_port)
        env.wait_api("/api/v1/agents", lambda ags: all(a["status"] == "available" for a in ags))
        alice = Phone("--port", str(alice_port), "--rtp-port", str(free_ports(4)), "--auto-answer")
        bob = Phone("--port", str(bob_port), "--rtp-port", str(free_ports(4)), "--auto-answer")
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
        phones += [alice, bob, caller]
        caller.wait_for("state", timeout=15, state="CONFIRMED")
        caller.send("dtmf 2")  # RFC 4733, during the greeting: "2" = English
        bob.wait_for("incoming", timeout=15)
        call = env.wait_api("/api/v1/calls?active=true", lambda cs: cs and cs[0]["agent"])
        assert call[0]["agent"] == "bob"
        assert not any(e.get("event") == "incoming" for e in alice.seen)
        caller.send("hangup")
        bob.wait_for("ended", timeout=10)
    finally:
        for phone in phones:
            phone.close()
        assert sw.terminate(timeout=30) == 0
    log = sw.stderr_text()
    assert '"digit": "2"' in log


# ------------------------------------------------------------------------------ transfer

PROVIDER2_NUMBER = "+85517000999"


@pytest.fixture
def xenv(tmp_path: Path) -> Iterator[Env]:
    """Two agents (alice, bob), ring_timeout 3 s, provider2 (trunk + 1) for +85517..."""
    http, edge, trunk = free_port(), free_ports(1, tcp=True), free_ports(2)
    base, rtp = free_ports(2), free_ports(100)
    config = switch_config(http, edge, trunk, 2, base, rtp).replace(
        "ring_timeout = 8", "ring_timeout = 3"
    ) + (
        f"""
[[agents]]
id = "bob"
name = "Bob"
sip_user = "1002"
sip_password = "secret-1002"
[[trunks]]
id = "provider2"
host = "127.0.0.1"
port = {trunk + 1}
dids = ["+85523900200"]
prefixes = ["+85517"]
"""
    )
    sw = SwitchProcess(config, tmp_path, http)
    sw.start(timeout=40)
    try:
        yield Env(sw, edge, trunk, tmp_path)
    finally:
        code = sw.terminate(timeout=30)
        assert code == 0, sw.stderr_text()[-3000:]


def status_of(env: Env, agent: str) -> str:
    _, agents = env.api("GET", "/api/v1/agents")
    return str(next(a["status"] for a in agents if a["id"] == agent))


def tone_timeline(path: Path, tones: dict[str, float], window: float = 0.25) -> str:
    """What a phone heard, window by window: the letter of the dominant tone, '.' for none."""
    samples, rate = read_wav(path)
    n = int(rate * window)
    out = []
    for i in range(0, len(samples) - n + 1, n):
        chunk = samples[i : i + n]
        powers = {name: tone_power(chunk, rate, freq) for name, freq in tones.items()}
        best = max(powers, key=lambda k: powers[k])
        runner_up = max((v for k, v in powers.items() if k != best), default=0.0)
        out.append(best if powers[best] > 1000 and powers[best] > 10 * runner_up else ".")
    return "".join(out)


def phone(port: int, *args: str) -> Phone:
    return Phone("--port", str(port), "--rtp-port", str(free_ports(4)), *args)


def caller_on_alice(env: Env, caller_rec: Path) -> tuple[int, Phone, Phone, str]:
    """Register alice and bob; a trunk caller (1200 Hz) reaches alice (700 Hz).
    Returns bob's port, alice's phone, the caller's phone and the call id."""
    alice_port, bob_port = free_ports(1), free_ports(1)
    env.register("1001", "secret-1001", alice_port)
    env.register("1002", "secret-1002", bob_port)
    env.wait_api("/api/v1/agents", lambda ags: all(a["status"] == "available" for a in ags))
    alice = phone(alice_port, "--auto-answer", "--tone", "700")
    caller = phone(
        env.trunk,
        *("--user", CALLER[1:], "--tone", "1200", "--record", str(caller_rec)),
        *("--call", f"sip:{DID}@127.0.0.1:{env.edge}"),
    )
    caller.wait_for("state", timeout=15, state="CONFIRMED")
    alice.wait_for("incoming", timeout=15)
    [call] = env.wait_api("/api/v1/calls?active=true", lambda cs: cs and cs[0]["agent"] == "alice")
    return bob_port, alice, caller, call["id"]


def voice_journey(env: Env, call: dict[str, Any]) -> list[dict[str, Any]]:
    journey = env.wait_api(
        f"/api/v1/contacts/{call['contact_id']}/journey",
        lambda j: any(e["kind"] == "call_ended" for e in j),
    )
    return [e for e in journey if e["channel"] == "voice"]


def test_transfer_to_an_agent_rebridges_the_caller_only_when_the_target_answers(
    xenv: Env,
) -> None:
    env = xenv
    caller_rec, bob_rec = env.tmp / "caller.wav", env.tmp / "bob.wav"
    bob_port, alice, caller, call_id = caller_on_alice(env, caller_rec)
    phones = [alice, caller]
    try:
        bob = phone(bob_port, "--tone", "900", "--record", str(bob_rec))  # answers by hand
        phones.append(bob)
        path = f"/api/v1/calls/{call_id}/transfer"

        # 1. bob lets it ring past ring_timeout: the caller stays with alice.
        status, body = env.api("POST", path, {"agent": "bob"})
        assert status == 202 and body["transfer"]["state"] == "ringing", body
        bob.wait_for("incoming", timeout=10)
        assert status_of(env, "bob") == "ringing"
        status, body = env.api("POST", path, {"agent": "bob"})
        assert status == 409 and body["error"]["code"] == "transfer_in_progress"
        call = env.wait_api(
            f"/api/v1/calls/{call_id}", lambda c: c["transfer"]["state"] != "ringing"
        )
        assert call["transfer"]["state"] == "failed", call
        assert call["transfer"]["detail"] == "bob did not answer within 3 s"
        assert call["agent"] == "alice" and call["state"] == "answered"
        bob.wait_for("ended", timeout=10)
        assert caller.stats()["active"] and alice.stats()["active"]
        env.wait_api("/api/v1/agents", lambda ags: status_of(env, "bob") == "available")
        assert status_of(env, "alice") == "busy"

        # 2. bob answers: the caller is re-bridged to bob, alice is hung up.
        status, body = env.api("POST", path, {"agent": "bob"})
        assert status == 202, body
        bob.wait_for("incoming", timeout=10)
        time.sleep(0.5)  # still alice's voice while bob's phone rings
        bob.send("answer")
        call = env.wait_api(
            f"/api/v1/calls/{call_id}", lambda c: c["transfer"]["state"] == "completed"
        )
        assert call["agent"] == "bob" and call["transfer"]["from_agent"] == "alice"
        alice.wait_for("ended", timeout=10)
        assert status_of(env, "bob") == "busy"
        assert status_of(env, "alice") in ("wrap_up", "available")
        time.sleep(1.5)  # bob talks to the caller
        caller.send("hangup")
        bob.wait_for("ended", timeout=10)
    finally:
        for p in phones:
            p.close()

    # The caller heard alice (through the failed attempt), then only bob.
    heard = tone_timeline(caller_rec, {"a": 700, "b": 900, "c": 1200}).strip(".")
    assert "a" * 12 in heard and heard.rstrip("a.").endswith("bbbb"), heard
    assert "a" not in heard[heard.index("bbbb") :], heard
    # bob heard the caller (not alice).
    bob_heard = tone_timeline(bob_rec, {"a": 700, "b": 900, "c": 1200})
    assert "cccc" in bob_heard and "a" not in bob_heard, bob_heard

    call = env.wait_api(f"/api/v1/calls/{call_id}", lambda c: c["state"] == "ended")
    voice = voice_journey(env, call)
    assert [e["kind"] for e in voice] == [
        "call_started",
        "call_answered",
        "transferred",
        "call_ended",
    ]
    assert voice[1]["agent"] == "alice"
    assert voice[2]["agent"] == "alice" and voice[2]["target"] == "bob"
    assert voice[3]["agent"] == "bob" and voice[3]["cause"] == "caller_hangup"
    _, agents = env.api("GET", "/api/v1/agents")
    assert {a["id"]: a["calls_handled"] for a in agents} == {"alice": 1, "bob": 1}
    assert {a["status"] for a in agents} <= {"wrap_up", "available"}


def test_blind_transfer_to_a_number_back_to_the_queue_when_refused_then_through(
    xenv: Env,
) -> None:
    env = xenv
    caller_rec = env.tmp / "caller.wav"
    bob_port, alice, caller, call_id = caller_on_alice(env, caller_rec)
    phones = [alice, caller]
    path = f"/api/v1/calls/{call_id}/transfer"
    try:
        for body, code, error in [
            ({"agent": "nobody"}, 422, "unknown_agent"),
            ({"agent": "alice"}, 409, "same_agent"),
            ({"agent": "bob", "to": PROVIDER2_NUMBER}, 422, "bad_request"),
            ({"to": "12;AT"}, 422, "invalid_phone"),
        ]:
            status, answer = env.api("POST", path, body)
            assert status == code and answer["error"]["code"] == error, (body, answer)
        status, answer = env.api("POST", "/api/v1/calls/cnope/transfer", {"agent": "bob"})
        assert status == 404, answer
        bob = phone(bob_port, "--auto-answer", "--tone", "900")
        far = phone(env.trunk + 1, "--tone", "1000")  # provider2's customer, answers by hand
        phones += [bob, far]
        time.sleep(1.0)  # the caller talks to alice

        # 1. Blind: alice is free at once; the number refuses, so the caller goes back
        #    to the queue and bob (the available agent) takes the call.
        status, answer = env.api("POST", path, {"to": "017 000 999"})
        assert status == 202 and answer["transfer"]["to"] == PROVIDER2_NUMBER, answer
        alice.wait_for("ended", timeout=10)
        incoming = far.wait_for("incoming", timeout=10)
        assert any("85523900200" in h for h in incoming["headers"] if h.startswith("From"))
        assert status_of(env, "alice") == "wrap_up"
        far.send("hangup")  # 603 Decline
        bob.wait_for("incoming", timeout=10)
        call = env.wait_api(f"/api/v1/calls/{call_id}", lambda c: c["agent"] == "bob")
        assert call["transfer"]["state"] == "failed", call
        assert call["transfer"]["detail"] == f"{PROVIDER2_NUMBER} declined"
        time.sleep(1.0)  # the caller talks to bob

        # 2. bob transfers to the same number, answered this time.
        status, answer = env.api("POST", path, {"to": PROVIDER2_NUMBER})
        assert status == 202, answer
        bob.wait_for("ended", timeout=10)
        far.wait_for("incoming", timeout=10)
        far.send("answer")
        call = env.wait_api(
            f"/api/v1/calls/{call_id}", lambda c: c["transfer"]["state"] == "completed"
        )
        assert call["agent"] is None and call["state"] == "answered"
        assert call["transfer"]["from_agent"] == "bob"
        time.sleep(1.5)
        far.send("hangup")
        caller.wait_for("ended", timeout=10)
    finally:
        for p in phones:
            p.close()
    # The caller heard alice, then bob, then the number, never going back.
    heard = tone_timeline(caller_rec, {"a": 700, "b": 900, "x": 1000, "c": 1200}).strip(".")
    assert heard.startswith("aaaa") and heard.endswith("xxxx"), heard
    assert "a" not in heard[heard.index("bbbb") :] and "bbbb" in heard, heard
    assert "b" not in heard[heard.index("xxxx") :], heard

    call = env.wait_api(f"/api/v1/calls/{call_id}", lambda c: c["state"] == "ended")
    voice = voice_journey(env, call)
    assert [e["kind"] for e in voice] == [
        "call_started",
        "call_answered",
        "transferred",
        "transferred",
        "call_ended",
    ]
    assert (voice[2]["agent"], voice[2]["target"]) == ("alice", "bob")  # via the queue
    assert (voice[3]["agent"], voice[3]["target"]) == ("bob", PROVIDER2_NUMBER)
    assert voice[4]["cause"] == "target_hangup" and "agent" not in voice[4]
    status, answer = env.api("POST", path, {"agent": "bob"})
    assert status == 409 and answer["error"]["code"] == "call_ended"


def test_click_to_call_transferred_while_the_agent_hangs_up_during_the_ring(xenv: Env) -> None:
    env = xenv
    alice_port, bob_port = free_ports(1), free_ports(1)
    env.register("1001", "secret-1001", alice_port)
    env.register("1002", "secret-1002", bob_port)
    env.wait_api("/api/v1/agents", lambda ags: all(a["status"] == "available" for a in ags))
    customer_rec = env.tmp / "customer.wav"
    alice = phone(alice_port, "--auto-answer", "--tone", "700")
    bob = phone(bob_port, "--tone", "900")
    customer = phone(env.trunk, "--auto-answer", "--tone", "1200", "--record", str(customer_rec))
    try:
        status, body = env.api("POST", "/api/v1/calls", {"agent": "alice", "to": CALLER})
        assert status == 202, body
        call_id = body["id"]
        env.wait_api(f"/api/v1/calls/{call_id}", lambda c: c["state"] == "answered")
        time.sleep(1.0)
        status, body = env.api("POST", f"/api/v1/calls/{call_id}/transfer", {"agent": "bob"})
        assert status == 202, body
        bob.wait_for("incoming", timeout=10)
        alice.send("hangup")  # alice leaves before bob answers: the customer waits for bob
        alice.wait_for("ended", timeout=5)
        call = env.wait_api(f"/api/v1/calls/{call_id}", lambda c: c["agent"] is None)
        assert call["state"] == "answered" and call["transfer"]["state"] == "ringing"
        assert customer.stats()["active"]
        bob.send("answer")
        call = env.wait_api(f"/api/v1/calls/{call_id}", lambda c: c["agent"] == "bob")
        assert call["transfer"]["state"] == "completed", call
        time.sleep(1.5)
        bob.send("hangup")
        customer.wait_for("ended", timeout=10)
    finally:
        for p in (alice, bob, customer):
            p.close()
    heard = tone_timeline(customer_rec, {"a": 700, "b": 900, "c": 1200}).strip(".")
    assert heard.startswith("aaaa") and heard.endswith("bbbb"), heard
    call = env.wait_api(f"/api/v1/calls/{call_id}", lambda c: c["state"] == "ended")
    voice = voice_journey(env, call)
    assert [e["kind"] for e in voice] == [
        "call_started",
        "call_answered",
        "transferred",
        "call_ended",
    ]
    assert voice[0]["direction"] == "out"
    assert (voice[2]["agent"], voice[2]["target"]) == ("alice", "bob")
    assert voice[3]["agent"] == "bob" and voice[3]["cause"] == "agent_hangup"


# ---------------------------------------------------------------------------- trunk test


def switch_cli(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    root = str(Path(__file__).resolve().parents[2])
    return subprocess.run(
        [sys.executable, "-m", "switch", *args, "--config", str(env.sw.config)],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=env.tmp,
        env={**os.environ, "PYTHONPATH": root, "SWITCH_TOKEN": "secret-token-for-tests"},
    )


def test_trunk_test_command_checks_options_and_a_test_call_and_fails_plainly(env: Env) -> None:
    peer = phone(env.trunk, "--auto-answer")  # the provider: answers OPTIONS and calls
    try:
        done = switch_cli(env, "trunk", "test", "provider1", "--call", "012 345 678")
        assert done.returncode == 0, done.stdout + done.stderr
        lines = done.stdout.splitlines()
        assert lines[0] == "[OK  ] registration: IP peering (no registration needed)", lines
        assert lines[1].startswith(f"[OK  ] options: the provider at 127.0.0.1:{env.trunk} ")
        assert lines[2].startswith(f"[OK  ] test_call: {CALLER} answered in "), lines
        assert lines[3] == "trunk provider1: all checks passed"
        incoming = peer.wait_for("incoming", timeout=5)
        assert any(DID[1:] in h for h in incoming["headers"] if h.startswith("From"))
        peer.wait_for("ended", timeout=10)
    finally:
        peer.close()

    # Nothing at the trunk's address any more.
    done = switch_cli(env, "trunk", "test", "provider1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"[FAIL] options: nothing answered at 127.0.0.1:{env.trunk} within 3 s" in done.stdout, (
        done.stdout
    )
    assert "check the trunk's host and port" in done.stdout
    assert "trunk provider1: 1 check(s) failed" in done.stderr
    done = switch_cli(env, "trunk", "test", "nope")
    assert done.returncode == 1 and "trunk 'nope' not found" in done.stderr, done.stderr
