"""Supervisor listen / whisper / barge end to end through `switch run` (Kamailio, media
workers, pjsua2 phones). Each phone plays its own tone (caller 1200 Hz, agent 700 Hz,
supervisor 900 Hz) and records what it hears, one recording per mode: the tones in a
recording say who heard whom."""

from __future__ import annotations

import time
import wave
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
TECH = "tech-token-for-tests"
TONES = {"caller": 1200.0, "agent": 700.0, "supervisor": 900.0}

pytestmark = pytest.mark.integration


def config(http: int, edge: int, trunk: int, base: int, rtp: int) -> str:
    return f"""
[store]
path = "data/switch.db"
[http]
listen = "127.0.0.1:{http}"
[api]
tokens = ["secret-token-for-tests"]
technician_tokens = ["{TECH}"]
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
skills = ["support"]
[[agents]]
id = "alice"
sip_user = "1001"
sip_password = "secret-1001"
skills = ["support"]
[[agents]]
id = "carol"
name = "Carol (supervisor's phone)"
sip_user = "1003"
sip_password = "secret-1003"
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


def registered(env: Env, user: str, tone: float) -> Phone:
    port = free_ports(1)
    env.register(user, f"secret-{user}", port)
    return Phone(
        *("--port", str(port), "--rtp-port", str(free_ports(4)), "--user", user),
        *("--auto-answer", "--tone", str(tone)),
    )


def heard(path: Path) -> dict[str, float]:
    """The power of each party's tone in a recording (its first half second skipped:
    the wiring changes then)."""
    deadline = time.monotonic() + 5.0
    while True:  # the phone finishes the file a moment after it says so
        try:
            samples, rate = read_wav(path)
            break
        except (wave.Error, EOFError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    rest = samples[rate // 2 :]
    assert len(rest) > rate, f"{path}: {len(samples)} samples"
    return {who: tone_power(rest, rate, freq) for who, freq in TONES.items()}


def record_mode(env: Env, phones: dict[str, Phone], mode: str) -> dict[str, dict[str, float]]:
    paths = {who: env.tmp / f"{mode}-{who}.wav" for who in phones}
    for who, phone in phones.items():
        phone.send(f"record {paths[who]}")
        phone.wait_for("recording", timeout=5)
    time.sleep(2.5)
    for phone in phones.values():
        phone.send("record")
        phone.wait_for("recording", timeout=5)
    return {who: heard(path) for who, path in paths.items()}


def hears(levels: dict[str, float], who: str, *, loud: dict[str, float]) -> bool:
    """``who``'s tone is in the recording: within 20 dB of the loudest tone heard."""
    return levels[who] > 1000 and levels[who] > max(loud.values()) / 100


def test_a_supervisor_listens_whispers_then_barges_in(env: Env) -> None:
    alice = registered(env, "1001", TONES["agent"])
    carol = registered(env, "1003", TONES["supervisor"])
    try:
        env.wait_api("/api/v1/agents", lambda ags: all(a["state"] == "available" for a in ags))
        caller = Phone(
            *("--port", str(env.trunk), "--rtp-port", str(free_ports(4))),
            *("--user", CALLER.lstrip("+"), "--tone", str(TONES["caller"])),
            "--call",
            f"sip:{DID}@127.0.0.1:{env.edge}",
        )
        try:
            caller.wait_for("state", timeout=15, state="CONFIRMED")
            alice.wait_for("incoming", timeout=15)
            [call] = env.wait_api(
                "/api/v1/calls?active=true",
                lambda cs: len(cs) == 1 and cs[0]["state"] == "answered",
            )
            call_id = call["id"]
            phones = {"caller": caller, "agent": alice, "supervisor": carol}
            status, body = env.api(
                "POST", f"/api/v1/calls/{call_id}/supervise", {"mode": "listen", "phone": "1003"}
            )
            assert status == 202 and body["supervisor"]["mode"] == "listen", body
            carol.wait_for("incoming", timeout=15)
            on = f"/api/v1/calls/{call_id}"
            env.wait_api(on, lambda c: (c["supervisor"] or {}).get("answered") is True)
            listen = record_mode(env, phones, "listen")
            sup = listen["supervisor"]
            assert hears(sup, "caller", loud=sup) and hears(sup, "agent", loud=sup), listen
            for who in ("caller", "agent"):
                assert not hears(listen[who], "supervisor", loud=listen[who]), listen

            status, body = env.api(
                "POST", f"/api/v1/calls/{call_id}/supervise", {"mode": "whisper", "phone": "1003"}
            )
            assert status == 202 and body["supervisor"]["mode"] == "whisper", body
            whisper = record_mode(env, phones, "whisper")
            assert hears(whisper["agent"], "supervisor", loud=whisper["agent"]), whisper
            assert not hears(whisper["caller"], "supervisor", loud=whisper["caller"]), whisper
            assert hears(whisper["supervisor"], "caller", loud=whisper["supervisor"]), whisper

            status, body = env.api(
                "POST", f"/api/v1/calls/{call_id}/supervise", {"mode": "barge", "phone": "1003"}
            )
            assert status == 202, body
            barge = record_mode(env, phones, "barge")
            for who, other in (("caller", "supervisor"), ("agent", "supervisor")):
                assert hears(barge[who], other, loud=barge[who]), barge
            sup = barge["supervisor"]
            assert hears(sup, "caller", loud=sup) and hears(sup, "agent", loud=sup), barge
            assert hears(barge["caller"], "agent", loud=barge["caller"]), barge

            # a technician may not; an unknown call is 404
            env.sw.token, token = TECH, env.sw.token
            try:
                status, body = env.api(
                    "POST", f"/api/v1/calls/{call_id}/supervise", {"mode": "listen"}
                )
            finally:
                env.sw.token = token
            assert status == 403 and body["error"]["code"] == "forbidden", body
            status, body = env.api("POST", "/api/v1/calls/nope/supervise", {"mode": "listen"})
            assert status == 404, body

            caller.send("hangup")
            caller.wait_for("ended", timeout=10)
            carol.wait_for("ended", timeout=10)  # the call's end hangs the supervisor up
        finally:
            caller.close()
        status, body = env.api(
            "POST", f"/api/v1/calls/{call_id}/supervise", {"mode": "listen", "phone": "1003"}
        )
        assert status == 409 and body["error"]["code"] == "call_ended", body
    finally:
        alice.close()
        carol.close()
    journey = journey_of(env)
    supervised = [(e["mode"], e["by"], e["agent"]) for e in journey if e["kind"] == "supervised"]
    assert [m for m, _, _ in supervised] == ["listen", "whisper", "barge"]
    assert all(agent == "alice" for _, _, agent in supervised)
    env.sw.token, token = TECH, env.sw.token
    try:
        status, trail = env.api("GET", "/api/v1/audit")
    finally:
        env.sw.token = token
    assert status == 200, trail
    entries = trail["items"] if isinstance(trail, dict) else trail
    actions = [
        (e["detail"].get("mode"), e["outcome"]) for e in entries if e["action"] == "call.supervise"
    ]
    assert actions[:3] == [("listen", "ok"), ("whisper", "ok"), ("barge", "ok")], actions
    assert ("listen", "forbidden") in actions and ("listen", "call_ended") in actions


def journey_of(env: Env) -> list[dict[str, Any]]:
    [contact] = env.wait_api(f"/api/v1/contacts?phone=%2B{CALLER[1:]}", lambda cs: len(cs) == 1)
    return list(
        env.wait_api(
            f"/api/v1/contacts/{contact['id']}/journey",
            lambda j: any(e["kind"] == "call_ended" for e in j),
        )
    )
