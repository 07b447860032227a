"""kill -9 of the switch while SMS arrive: every SMS ends up in the journey exactly once.

The simulated modem runs as its own process (its SIM storage survives the switch). The
switch is killed at random moments while messages arrive and restarted each time; at
the end the SIM is empty and every text is in its contact's journey once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.gsm.simulator import SimulatorProcess
from tests.conftest import free_port
from tests.integration.switchproc import SwitchProcess

pytestmark = pytest.mark.faults

SENDER = "+85512345678"


def config(http: int, link: Path) -> str:
    return f"""
[store]
path = "data/switch.db"
[http]
listen = "127.0.0.1:{http}"
[api]
tokens = ["secret-token-for-tests"]
[[modems]]
id = "gsm1"
port = "{link}"
profile = "huawei_e173"
[sms]
default_modem = "gsm1"
reassembly_timeout = 5
"""


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimulatorProcess]:
    proc = SimulatorProcess.spawn(tmp_path / "modem", profile="huawei")
    try:
        yield proc
    finally:
        proc.terminate()


def journey_texts(sw: SwitchProcess) -> list[str]:
    status, found = sw.get(f"/api/v1/contacts?phone=%2B{SENDER[1:]}")
    if status != 200 or not found:
        return []
    status, journey = sw.get(f"/api/v1/contacts/{found[0]['id']}/journey")
    return [e["text"] for e in journey if e["kind"] == "message_in"]


def wait(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_kill9_while_sms_arrive_delivers_each_exactly_once(
    tmp_path: Path, sim: SimulatorProcess, seed: int
) -> None:
    rng = random.Random(seed)
    on_sim_at_kill: list[int] = []
    http = free_port()
    cfg = config(http, sim.link)
    texts = [f"message {i} សួស្តី" + (" long" * 40 if i % 4 == 0 else "") for i in range(12)]
    sw = SwitchProcess(cfg, tmp_path, http).start()
    sent = 0
    for _round in range(3):
        # Until the kill no delete succeeds: whatever the switch read and stored is
        # still on the SIM when it dies (the window where a careless driver duplicates),
        # and what it had not read yet is there too.
        sim.client.request_sync("fail_next", prefix="AT+CMGD", response="ERROR", count=1000)
        for _ in range(4):
            sim.client.deliver_sms_sync(SENDER, texts[sent])
            sent += 1
            time.sleep(rng.uniform(0.0, 0.02))
        time.sleep(rng.uniform(0.0, 0.5))
        on_sim_at_kill.append(sim.client.state_sync()["storage"]["used"])
        sw.kill9()  # somewhere between reading, storing and deleting
        sim.client.request_sync("clear_failures")
        sw = SwitchProcess(cfg, tmp_path, http).start()
        # the restarted switch stores what it had not, and empties the SIM
        wait(lambda: sim.client.state_sync()["storage"]["used"] == 0)
    try:
        got = wait(lambda: (t := journey_texts(sw)) and len(t) >= len(texts) and t, timeout=30)
        wait(lambda: sim.client.state_sync()["storage"]["used"] == 0)
        assert sorted(got) == sorted(texts), "lost or duplicated SMS across kill -9"
        # every kill hit while messages were on the SIM (read and stored, or not yet read)
        assert all(on_sim_at_kill), on_sim_at_kill
    finally:
        assert sw.terminate() == 0
