"""Modem faults through `switch run`, seen from outside: `/api/v1/modems` and messages.

Two standalone simulated modems (`SimulatorProcess`) on one switch:

- ``gsm1`` (Huawei dialect) takes the faults: line noise, ``ERROR`` / ``+CMS ERROR``
  answers to ``AT+CMGS`` (retried), unplug and replug (back to ``ready``, the queued SMS
  goes out), a modem that stops answering (state leaves ``ready``, a queued message
  waits, and goes out once the modem answers again);
- ``gsm2`` (SIMCom dialect) shows the fields of `GET /api/v1/modems`: a roaming SIM
  (``registered`` true), an unknown signal (CSQ 99 -> null), an ICCID padded with ``F``
  (digits only in the API), and a registration denied by the network.

The health poll of the driver runs every 15 s and needs two missed answers to declare
a modem hung, i.e. 25-40 s; the unresponsive test has a technician's raw ``AT`` probe
(`POST /api/v1/modems/gsm1/at`) notice it sooner, which is the same code path (two
command timeouts in a row).
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

pytest.importorskip("drivers.gsm.modem")

from drivers.gsm.simulator import SimulatorProcess
from tests.conftest import free_port
from tests.integration.switchproc import SwitchProcess

pytestmark = [pytest.mark.integration, pytest.mark.faults]

T = TypeVar("T")
TECH = "tech-token-for-tests"


def wait_until(what: str, check: Callable[[], T | None], timeout: float = 20.0) -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except (KeyError, IndexError, TypeError) as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")
        time.sleep(0.05)


@dataclass
class Env:
    sw: SwitchProcess
    gsm1: SimulatorProcess
    gsm2: SimulatorProcess

    def modems(self) -> dict[str, dict[str, Any]]:
        status, body = self.sw.get("/api/v1/modems")
        assert status == 200, body
        return {m["id"]: m for m in body}

    def state(self, modem_id: str) -> str:
        return str(self.modems()[modem_id]["state"])

    def send(self, to: str, text: str, modem: str | None = None) -> str:
        body = {"to": to, "text": text} | ({"modem": modem} if modem else {})
        status, answer = self.sw.post("/api/v1/messages", body)
        assert status == 202, answer
        return str(answer["id"])

    def message(self, message_id: str) -> dict[str, Any]:
        status, body = self.sw.get(f"/api/v1/messages/{message_id}")
        assert status == 200, body
        return dict(body)

    def sent_to(self, sim: SimulatorProcess, to: str) -> list[dict[str, Any]]:
        return [m for m in sim.client.state_sync()["sent_messages"] if m["destination"] == to]

    def technician_at(self, modem_id: str, command: str) -> tuple[int, Any]:
        token, self.sw.token = self.sw.token, TECH
        try:
            return self.sw.post(f"/api/v1/modems/{modem_id}/at", {"command": command})
        finally:
            self.sw.token = token


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("modem_faults")
    fast = {"timing": {"report_delay": 0.1, "cmgs_delay": 0.02}}
    gsm1 = SimulatorProcess.spawn(tmp / "m1", profile="huawei", options={**fast, "csq": 7})
    gsm2 = SimulatorProcess.spawn(
        tmp / "m2",
        profile="simcom",
        options={
            **fast,
            "csq": 99,
            "imei": "356938035643809",
            "iccid": "8985502100000012345F",
            "operator": "Cellcard",
        },
    )
    gsm2.client.request_sync("set_registration", stat=5)  # roaming from the start
    http = free_port()
    cfg = f"""
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
port = "{gsm1.link}"
profile = "huawei_e173"
[[modems]]
id = "gsm2"
port = "{gsm2.link}"
profile = "simcom_sim800"
[sms]
default_modem = "gsm1"
"""
    sw = SwitchProcess(cfg, tmp, http)
    try:
        sw.start()
        env = Env(sw, gsm1, gsm2)
        wait_until("both modems ready", lambda: {env.state("gsm1"), env.state("gsm2")} == {"ready"})
        yield env
        assert sw.terminate() == 0, sw.stderr_text()[-3000:]
    finally:
        if sw.proc is not None and sw.proc.poll() is None:
            sw.kill9()
        gsm1.terminate()
        gsm2.terminate()


# ------------------------------------------------------------------ the modems API


def test_modems_api_fields(env: Env) -> None:
    modems = env.modems()
    assert set(modems) == {"gsm1", "gsm2"}
    for m in modems.values():
        assert {"id", "state", "imei", "iccid", "operator", "signal", "registered"} <= set(m)
    home, roaming = modems["gsm1"], modems["gsm2"]
    assert home["state"] == "ready" and home["registered"] is True
    assert home["imei"] == "861234567890123"
    assert home["iccid"] == "8985501234567890123"  # SIM said ...0123F
    assert home["operator"] == "Smart"
    assert home["signal"] == -113 + 2 * 7  # CSQ 7 -> -99 dBm
    assert roaming["state"] == "ready" and roaming["registered"] is True  # roaming counts
    assert roaming["imei"] == "356938035643809"
    assert roaming["iccid"] == "8985502100000012345"
    assert roaming["iccid"].isdigit()
    assert roaming["operator"] == "Cellcard"
    assert roaming["signal"] is None  # CSQ 99: unknown


def test_registration_denied_then_back(env: Env) -> None:
    env.gsm2.client.request_sync("set_registration", stat=3)
    denied = wait_until(
        "gsm2 denied", lambda: (m := env.modems()["gsm2"])["state"] == "denied" and m
    )
    assert denied["registered"] is False
    env.gsm2.client.request_sync("set_registration", stat=1)
    back = wait_until("gsm2 ready", lambda: (m := env.modems()["gsm2"])["state"] == "ready" and m)
    assert back["registered"] is True
    assert env.modems()["gsm1"]["state"] == "ready"  # one modem's trouble is its own


# ------------------------------------------------------------------------ faults


def _journey_texts(env: Env, phone: str) -> list[str]:
    status, found = env.sw.get("/api/v1/contacts?phone=" + urllib.parse.quote(phone))
    if status != 200 or not found:
        return []
    _, journey = env.sw.get(f"/api/v1/contacts/{found[0]['id']}/journey")
    return [e["text"] for e in journey if e["kind"] == "message_in"]


def test_line_noise_does_not_disturb_the_modem(env: Env) -> None:
    env.gsm1.client.request_sync(
        "garbage", hex=(b"\xff\xfe\x00\r\nNONSENSE 42\r\n+FOO: 1\r\n").hex()
    )
    sender = "+85512000401"
    env.gsm1.client.deliver_sms_sync(sender, "after the noise")
    wait_until("SMS after noise", lambda: "after the noise" in _journey_texts(env, sender))
    assert env.state("gsm1") == "ready"


def test_error_answers_to_cmgs_are_retried(env: Env) -> None:
    to_a, to_b = "+85512000411", "+85512000412"
    # the next two submissions fail: a bare ERROR, then an unspecified +CMS ERROR
    env.gsm1.client.request_sync("fail_next", prefix="AT+CMGS", response="ERROR", count=1)
    env.gsm1.client.request_sync("fail_next", prefix="AT+CMGS", response="+CMS ERROR: 500", count=1)
    first, second = env.send(to_a, "retry me"), env.send(to_b, "retry me too")
    for message_id in (first, second):
        final = wait_until(
            "sent after a retry",
            lambda m=message_id: (x := env.message(m))["status"] in ("delivered", "failed") and x,
            timeout=25,
        )
        assert final["status"] == "delivered", final
    lines = env.gsm1.client.request_sync("transcript")["lines"]
    submissions = [x for x in lines if x["dir"] == "in" and x["text"].startswith("AT+CMGS=")]
    assert len(submissions) >= 4, submissions  # 2 refused + 2 accepted
    assert [m["text"] for m in env.sent_to(env.gsm1, to_a)] == ["retry me"]
    assert [m["text"] for m in env.sent_to(env.gsm1, to_b)] == ["retry me too"]


def test_unplug_replug_back_to_ready_and_the_queued_sms_goes_out(env: Env) -> None:
    to = "+85512000421"
    env.gsm1.client.request_sync("unplug")
    gone = wait_until("gsm1 not ready", lambda: (s := env.state("gsm1")) != "ready" and s)
    assert gone in ("disconnected", "initialising", "failed"), gone
    message_id = env.send(to, "waits for the cable")
    time.sleep(1.5)
    assert env.message(message_id)["status"] == "queued"
    assert env.sent_to(env.gsm1, to) == []
    env.gsm1.client.request_sync("replug")
    wait_until("gsm1 ready again", lambda: env.state("gsm1") == "ready", timeout=30)
    final = wait_until(
        "the queued SMS out",
        lambda: (m := env.message(message_id))["status"] in ("delivered", "failed") and m,
        timeout=20,
    )
    assert final["status"] == "delivered", final
    assert [m["text"] for m in env.sent_to(env.gsm1, to)] == ["waits for the cable"]
    modem = env.modems()["gsm1"]
    assert modem["imei"] == "861234567890123" and modem["registered"] is True


def test_modem_that_stops_answering_leaves_ready_and_comes_back(env: Env) -> None:
    to = "+85512000431"
    env.gsm1.client.request_sync("set_unresponsive", value=True)
    # two unanswered commands in a row: the driver declares the modem hung
    for _ in range(2):
        status, body = env.technician_at("gsm1", "AT")
        assert status in (503, 504), (status, body)
    gone = wait_until("gsm1 leaves ready", lambda: (s := env.state("gsm1")) != "ready" and s)
    assert gone in ("disconnected", "initialising", "failed"), gone
    message_id = env.send(to, "waits for the modem")
    time.sleep(3.0)  # the modem stays silent a while, as a hung one does
    assert env.message(message_id)["status"] == "queued"
    assert env.sent_to(env.gsm1, to) == []
    env.gsm1.client.request_sync("set_unresponsive", value=False)
    wait_until("gsm1 ready again", lambda: env.state("gsm1") == "ready", timeout=20)
    final = wait_until(
        "the queued SMS out",
        lambda: (m := env.message(message_id))["status"] in ("delivered", "failed") and m,
        timeout=20,
    )
    assert final["status"] == "delivered", final
    assert [m["text"] for m in env.sent_to(env.gsm1, to)] == ["waits for the modem"]
