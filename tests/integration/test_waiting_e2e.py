"""Waiting callers packed several to a media worker, end to end: `switch run` with
Kamailio and workers taking 3 callers each (``[sip] callers_per_worker = 3``).

Each caller is a pjsua2 phone behind its own trunk (Kamailio recognises a trunk by its
source address), plays its own tone and records what it hears; agents' phones are
registered with sipp (digest), then answered by pjsua2 phones. Hearing the hold music
(its 523 Hz note) and then the agent's tone in a caller's recording, and the caller's
tone in the agent's, shows who heard whom.
"""

from __future__ import annotations

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

pytestmark = pytest.mark.integration

DID = "+85523900100"
HOLD_HZ = 523.25  # the first note of the built-in hold music
AGENT_HZ = {"alice": 1400.0, "bob": 1700.0}


def caller_hz(n: int) -> float:
    return 300.0 + 40.0 * n  # 300..740 Hz, clear of the hold notes and the agents


def config(http: int, edge: int, trunks: int, callers: int, workers: int, agents: int) -> str:
    base, rtp = free_ports(workers), free_ports(50 * workers)
    text = f"""
[store]
path = "data/switch.db"
[http]
listen = "127.0.0.1:{http}"
[api]
tokens = ["secret-token-for-tests"]
[sip]
listen = "127.0.0.1:{edge}"
workers = {workers}
callers_per_worker = 3
worker_port_base = {base}
rtp_port_base = {rtp}
ring_timeout = 90
hold_music = "builtin:hold"
"""
    for n in range(callers):
        text += f"""
[[trunks]]
id = "p{n}"
host = "127.0.0.1"
port = {trunks + n}
dids = ["{DID}"]
"""
    for n, name in enumerate(list(AGENT_HZ)[:agents]):
        text += f"""
[[agents]]
id = "{name}"
name = "{name.title()}"
sip_user = "{1001 + n}"
sip_password = "secret-{1001 + n}"
"""
    return text


def start(tmp: Path, callers: int, workers: int, agents: int) -> tuple[SwitchProcess, Env]:
    http, edge, trunks = free_port(), free_ports(1, tcp=True), free_ports(callers)
    sw = SwitchProcess(config(http, edge, trunks, callers, workers, agents), tmp, http)
    sw.start(timeout=60)
    return sw, Env(sw, edge, trunks, tmp)


@pytest.fixture
def tmp(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path


def agent_phone(env: Env, name: str, n: int) -> Phone:
    """The agent's phone registers itself (digest) and rings on each call; the test
    answers (see :func:`take`)."""
    phone = Phone(
        "--port",
        str(free_ports(1)),
        "--rtp-port",
        str(free_ports(4)),
        "--user",
        str(1001 + n),
        "--password",
        f"secret-{1001 + n}",
        "--register",
        f"127.0.0.1:{env.edge}",
        "--tone",
        str(AGENT_HZ[name]),
        "--record",
        str(env.tmp / f"{name}.wav"),
    )
    assert phone.wait_for("registered", timeout=15)["code"] == 200
    env.wait_api("/api/v1/agents", lambda agents: signed_in(agents, name))
    return phone


def signed_in(agents: list[dict[str, Any]], name: str) -> bool:
    return any(a["id"] == name and a["status"] != "offline" for a in agents)


def caller_phone(env: Env, n: int) -> Phone:
    number = f"85512{n:06d}"
    return Phone(
        "--port",
        str(env.trunk + n),
        "--rtp-port",
        str(free_ports(4)),
        "--user",
        number,
        "--tone",
        str(caller_hz(n)),
        "--record",
        str(env.tmp / f"caller{n}.wav"),
        "--call",
        f"sip:{DID}@127.0.0.1:{env.edge}",
    )


def mine(n: int, state: str | None = None) -> Any:
    def pick(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            c
            for c in calls
            if c["from"] == f"+85512{n:06d}" and (state is None or c["state"] == state)
        ]

    return pick


def call_of(env: Env, n: int, state: str | None = None, timeout: float = 30) -> dict[str, Any]:
    calls = env.wait_api("/api/v1/calls?active=true", mine(n, state), timeout=timeout)
    [call] = mine(n, state)(calls)
    return call


def answered(env: Env, n: int, timeout: float) -> dict[str, Any]:
    return call_of(env, n, "answered", timeout)


def power(path: Path, hz: float) -> float:
    """The strongest Goertzel power of ``hz`` over the recording's quarter seconds (a
    note of the hold music lasts half a second; the talk comes after the waiting)."""
    samples, rate = read_wav(path)
    size = rate // 4
    return max(
        (tone_power(samples[i : i + size], rate, hz) for i in range(0, len(samples), size)),
        default=0.0,
    )


def stop(sw: SwitchProcess) -> None:
    code = sw.terminate(timeout=40)
    assert code == 0, sw.stderr_text()[-3000:]


def take(agent: Phone) -> None:
    """The agent's phone rings: she picks up."""
    agent.wait_for("incoming", timeout=40)
    agent.send("answer")


def test_twelve_callers_wait_on_four_workers_hear_hold_music_and_one_agent_takes_each_in_turn(
    tmp: Path,
) -> None:
    sw, env = start(tmp, callers=12, workers=4, agents=1)
    callers: list[Phone] = []
    agent: Phone | None = None
    try:
        # alice is signed in: the first caller rings her phone, the others queue behind
        agent = agent_phone(env, "alice", 0)
        for n in range(12):  # one after another: the queue's order is the callers' order
            callers.append(caller_phone(env, n))
            callers[n].wait_for("state", timeout=20, state="CONFIRMED")
            call_of(env, n)
        time.sleep(2.0)
        for n, caller in enumerate(callers):  # every caller waits, hearing the music
            assert caller.stats()["active"], n
            assert caller.heard() > 5, n
        order = []
        for n, caller in enumerate(callers):
            take(agent)
            call = answered(env, n, timeout=40)
            assert call["agent"] == "alice"
            order.append(n)
            time.sleep(1.5)  # they talk
            assert caller.heard() > 5 and agent.heard() > 5, n
            for later in callers[n + 1 :]:
                assert later.stats()["active"]  # still waiting: nobody was dropped
            caller.send("hangup")
            caller.wait_for("ended", timeout=10)
            agent.wait_for("ended", timeout=10)
        assert order == list(range(12))  # answered one after another, first come first
    finally:
        for caller in callers:
            caller.close()
        if agent is not None:
            agent.close()
        stop(sw)
    for n in range(12):  # the hold music, then the agent; the agent heard the caller
        wav = tmp / f"caller{n}.wav"
        assert power(wav, HOLD_HZ) > 1e5, n
        assert power(wav, AGENT_HZ["alice"]) > 1e5, n
    agent_wav = tmp / "alice.wav"
    for n in range(12):
        assert power(agent_wav, caller_hz(n)) > 1e5, n


def test_a_caller_whose_worker_is_full_talks_to_an_agent_dialled_from_another_worker(
    tmp: Path,
) -> None:
    # Two workers taking 3 callers each; the edge sends a call to the least loaded one
    # (the first of equals), so callers 0, 2, 4 land on worker 0 and 1, 3, 5 on worker 1.
    sw, env = start(tmp, callers=6, workers=2, agents=2)
    callers: list[Phone] = []
    phones: dict[str, Phone] = {}
    try:
        phones["alice"] = agent_phone(env, "alice", 0)
        callers.append(caller_phone(env, 0))
        take(phones["alice"])  # alice's leg beside caller 0's on worker 0
        answered(env, 0, timeout=30)
        for n in range(1, 6):  # nobody else is free: they wait
            callers.append(caller_phone(env, n))
            callers[n].wait_for("state", timeout=20, state="CONFIRMED")
            call_of(env, n)
        # bob signs in and takes caller 1: worker 1 holds callers 1, 3, 5 and bob's leg
        phones["bob"] = agent_phone(env, "bob", 1)
        take(phones["bob"])
        assert answered(env, 1, timeout=30)["agent"] == "bob"
        for n in (2, 4):  # they give up
            callers[n].send("hangup")
            callers[n].wait_for("ended", timeout=10)
        # alice's call ends: she takes caller 3, whose worker (1) is full: her leg is
        # dialled from worker 0 and linked to caller 3's leg on worker 1
        callers[0].send("hangup")
        phones["alice"].wait_for("ended", timeout=10)
        take(phones["alice"])
        assert answered(env, 3, timeout=30)["agent"] == "alice"
        time.sleep(2.0)
        assert callers[3].heard() > 5 and phones["alice"].heard() > 5
        assert callers[1].heard() > 5  # bob's call on worker 1 goes on
        assert callers[5].stats()["active"]  # caller 5 still waits
        assert "legs_linked" in sw.stderr_text()
        for n in (1, 3, 5):
            callers[n].send("hangup")
            callers[n].wait_for("ended", timeout=10)
    finally:
        for phone in callers + list(phones.values()):
            phone.close()
        stop(sw)
    caller3, alice = tmp / "caller3.wav", tmp / "alice.wav"
    assert power(caller3, AGENT_HZ["alice"]) > 1e5
    assert power(caller3, AGENT_HZ["alice"]) > 10 * power(caller3, AGENT_HZ["bob"])
    assert power(alice, caller_hz(3)) > 1e5
