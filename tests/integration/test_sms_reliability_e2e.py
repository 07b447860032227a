"""Inbound SMS reliability through `switch run`, checked from outside (API, CLI, simulator).

- A 2,000-character Khmer SMS (30 UCS-2 parts) through a SIM with 10 slots arrives
  whole, once, in order: the demo's repro (``switch simulate sms``) on a simulated
  modem, and across kill -9 of the switch between parts with the simulated modem in its
  own process (its SIM and the network outlive every switch that is killed).
- ``ATZ`` through the technician's ``at`` command puts the modem's CNMI back to
  ``0,0,0,0,0``: the next health round restores it and sweeps the SIM, so an SMS that
  arrived meanwhile (no ``+CMTI``) reaches the journey; diagnose says what it repaired.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from drivers.gsm.simulator import Delivery, SimulatorProcess
from tests.conftest import free_port
from tests.integration.switchproc import ROOT, SwitchProcess

pytestmark = [pytest.mark.integration, pytest.mark.faults]

T = TypeVar("T")
TECH = "tech-token-for-tests"
KHMER_2000 = "ក" * 2000
SENDER = "+85512345678"


def config(http: int, modem: str, *, sms: str = "") -> str:
    return f"""
[store]
path = "data/switch.db"
[numbers]
default_region = "KH"
[http]
listen = "127.0.0.1:{http}"
[api]
tokens = ["secret-token-for-tests"]
technician_tokens = ["{TECH}"]
[[modems]]
id = "gsm1"
{modem}
[sms]
default_modem = "gsm1"
{sms}
"""


def wait_until(what: str, check: Callable[[], T | None], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except (KeyError, IndexError, TypeError, OSError) as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")
        time.sleep(0.05)


def messages_in(sw: SwitchProcess, phone: str) -> list[dict[str, Any]]:
    status, found = sw.get("/api/v1/contacts?phone=" + urllib.parse.quote(phone))
    if status != 200 or not found:
        return []
    status, journey = sw.get(f"/api/v1/contacts/{found[0]['id']}/journey")
    assert status == 200, journey
    return [e for e in journey if e["kind"] == "message_in"]


def ready(sw: SwitchProcess) -> bool:
    return bool(sw.get("/api/v1/modems")[1][0]["state"] == "ready")


def diagnose(sw: SwitchProcess) -> dict[str, dict[str, str]]:
    status, body = sw.post("/api/v1/modems/gsm1/diagnose")
    assert status == 200, body
    return {c["name"]: c for c in body["checks"]}


def assert_whole_once(sw: SwitchProcess) -> None:
    [event] = wait_until("the long SMS in the journey", lambda: messages_in(sw, SENDER), 90)
    assert event["text"] == KHMER_2000 and event.get("parts") == 30
    assert not event.get("incomplete")
    status, message = sw.get(f"/api/v1/messages/{event['message_id']}")
    assert status == 200 and message["text"] == KHMER_2000 and message["parts"] == 30
    time.sleep(1.0)  # a second copy would show up now
    assert len(messages_in(sw, SENDER)) == 1


# ------------------------------------------------------------------ long SMS


def test_demo_repro_2000_khmer_characters_through_10_slots_arrive_whole(tmp_path: Path) -> None:
    http = free_port()
    cfg = config(http, "simulated = true")
    sw = SwitchProcess(cfg, tmp_path, http).start()
    try:
        wait_until("modem ready", lambda: ready(sw))
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SWITCH_TOKEN": TECH}
        cli = [sys.executable, "-m", "switch", "simulate", "sms", "--config", str(sw.config)]
        run = subprocess.run(
            [*cli, "--from", SENDER, KHMER_2000],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert "(30 part(s))" in run.stdout
        assert_whole_once(sw)
        storage = diagnose(sw)["storage"]
        assert storage["detail"].startswith("0 of 10 SIM message slots used"), storage
        events = [e.get("event") for e in sw.log_events()]
        assert "sim_storage_full" not in events
    finally:
        assert sw.terminate() == 0, sw.stderr_text()[-3000:]


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimulatorProcess]:
    proc = SimulatorProcess.spawn(
        tmp_path / "modem",
        profile="huawei",
        options={"storage_size": 10, "timing": {"report_delay": 0.1, "cmgs_delay": 0.02}},
    )
    try:
        yield proc
    finally:
        proc.terminate()


def test_kill9_between_parts_of_a_long_sms_loses_nothing(
    tmp_path: Path, sim: SimulatorProcess
) -> None:
    http = free_port()
    cfg = config(http, f'port = "{sim.link}"\nprofile = "huawei_e173"')
    # a real modem takes milliseconds per command: parts are still coming when it dies
    sim.client.request_sync("set_timing", command_delay=0.01)
    sw = SwitchProcess(cfg, tmp_path, http).start()
    wait_until("modem ready", lambda: ready(sw))
    reply = sim.client.deliver_sms_sync(SENDER, KHMER_2000, Delivery(interval=0.15))
    assert reply["parts"] == 30

    def deleted() -> int:  # parts the switch kept, then took off the SIM
        state = sim.client.state_sync()
        return int(state["counters"]["cmti_sent"]) - int(state["storage"]["used"])

    kills = []
    for at_least in (4, 12, 20):
        wait_until(f"{at_least} parts kept", lambda n=at_least: deleted() >= n)  # type: ignore[misc]
        sw.kill9()
        kills.append(deleted())
        time.sleep(0.5)  # more parts land on the SIM while no switch runs
        sw = SwitchProcess(cfg, tmp_path, http).start()
        wait_until("modem ready", lambda s=sw: ready(s))  # type: ignore[misc]
    try:
        assert all(0 < k < 30 for k in kills), kills  # every kill fell between parts
        assert_whole_once(sw)
        wait_until("SIM emptied", lambda: sim.client.state_sync()["storage"]["used"] == 0)
        assert sim.client.state_sync()["network_pending"] == 0
    finally:
        assert sw.terminate() == 0, sw.stderr_text()[-3000:]


# ------------------------------------------------------------------ ATZ


def test_atz_is_repaired_and_an_sms_that_came_without_urc_arrives(
    tmp_path: Path, sim: SimulatorProcess
) -> None:
    http = free_port()
    modem = f'port = "{sim.link}"\nprofile = "huawei_e173"'
    sw = SwitchProcess(config(http, modem, sms="health_interval = 2"), tmp_path, http).start()
    try:
        wait_until("modem ready", lambda: ready(sw))
        assert diagnose(sw)["sms_settings"]["status"] == "ok"
        set_up = sim.client.state_sync()["settings"]["cnmi"]
        sw.token = TECH
        status, body = sw.post("/api/v1/modems/gsm1/at", {"command": "ATZ"})
        assert status == 200 and body["lines"] == ["OK"], body
        cmti = sim.client.state_sync()["counters"]["cmti_sent"]
        sim.client.deliver_sms_sync(SENDER, "sent while CNMI was 0,0,0,0,0")
        state = sim.client.state_sync()
        if state["settings"]["cnmi"] == [0, 0, 0, 0, 0]:  # still lost: no URC told anyone
            assert state["counters"]["cmti_sent"] == cmti and state["storage"]["used"] == 1
        [event] = wait_until("the SMS in the journey", lambda: messages_in(sw, SENDER), 20)
        assert event["text"] == "sent while CNMI was 0,0,0,0,0"
        assert sim.client.state_sync()["settings"]["cnmi"] == set_up == [2, 1, 0, 1, 0]
        wait_until("SIM emptied", lambda: sim.client.state_sync()["storage"]["used"] == 0)
        check = diagnose(sw)["sms_settings"]
        assert check["status"] == "warn", check
        assert "CNMI was 0,0,0,0,0 (set up as 2,1,0,1,0)" in check["detail"]
        events = [e.get("event") for e in sw.log_events()]
        assert "modem_settings_restored" in events
    finally:
        assert sw.terminate() == 0, sw.stderr_text()[-3000:]
