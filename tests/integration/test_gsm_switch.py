"""The GSM channel through `switch run`: modems API, USSD, raw AT for technicians only,
GSM calls in the journey, and SMS both ways with delivery reports."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.gsm.simulator import Delivery, SimulatorProcess
from tests.conftest import free_port
from tests.integration.switchproc import SwitchProcess

CUSTOMER = "+85512345678"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[SwitchProcess, SimulatorProcess]]:
    sim = SimulatorProcess.spawn(
        tmp_path / "modem", profile="huawei", options={"timing": {"report_delay": 0.1}}
    )
    http = free_port()
    cfg = f"""
[store]
path = "data/switch.db"
[http]
listen = "127.0.0.1:{http}"
[api]
tokens = ["secret-token-for-tests"]
technician_tokens = ["tech-token-for-tests"]
[[modems]]
id = "gsm1"
port = "{sim.link}"
profile = "huawei_e173"
"""
    sw = SwitchProcess(cfg, tmp_path, http).start()
    try:
        wait(lambda: sw.get("/api/v1/modems")[1][0]["state"] == "ready")
        yield sw, sim
    finally:
        assert sw.terminate() == 0
        sim.terminate()


def wait(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except (KeyError, IndexError, TypeError):
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def journey(sw: SwitchProcess, phone: str) -> list[dict[str, Any]]:
    status, found = sw.get(f"/api/v1/contacts?phone=%2B{phone[1:]}")
    if status != 200 or not found:
        return []
    return list(sw.get(f"/api/v1/contacts/{found[0]['id']}/journey")[1])


def test_modems_api_reports_identity_signal_and_registration(env: Any) -> None:
    sw, _ = env
    status, [modem] = sw.get("/api/v1/modems")
    assert status == 200
    assert modem["id"] == "gsm1" and modem["state"] == "ready" and modem["registered"] is True
    assert modem["imei"] == "861234567890123" and modem["iccid"] == "8985501234567890123"
    assert modem["operator"] == "Smart" and modem["signal"] == -113 + 2 * 20


def test_sms_in_and_out_with_delivery_reports_in_one_journey(env: Any) -> None:
    sw, sim = env
    text_in = "ជំរាបសួរ! € [1] {2} ~^|\\ 🙏 " * 8  # multipart UCS-2 with GSM-7 extension chars
    sim.client.deliver_sms_sync(CUSTOMER, text_in, Delivery(order=(3, 1, 2, 4), duplicate=(2,)))
    wait(lambda: [e for e in journey(sw, CUSTOMER) if e["kind"] == "message_in"])
    text_out = "สวัสดีครับ / سلام دنیا — reply " * 4
    status, body = sw.post("/api/v1/messages", {"to": "012 345 678", "text": text_out})
    assert status == 202
    msg = wait(
        lambda: (m := sw.get(f"/api/v1/messages/{body['id']}")[1])["status"] == "delivered" and m
    )
    assert msg["parts"] > 1 and msg["to"] == CUSTOMER
    sent = sim.client.state_sync()["sent_messages"]
    assert sent[-1]["text"] == text_out
    events = journey(sw, CUSTOMER)
    assert [(e["kind"], e["text"]) for e in events if e["kind"].startswith("message")] == [
        ("message_in", text_in),
        ("message_out", text_out),
    ]
    assert sim.client.state_sync()["storage"]["used"] == 0


def test_failed_delivery_says_why(env: Any) -> None:
    sw, sim = env
    sim.client.request_sync("set_outcome", destination="+85599999999", outcome="failed")
    status, body = sw.post("/api/v1/messages", {"to": "+85599999999", "text": "x"})
    assert status == 202
    msg = wait(
        lambda: (m := sw.get(f"/api/v1/messages/{body['id']}")[1])["status"] == "failed" and m
    )
    assert msg["error"]


@pytest.mark.parametrize("to", ["+855\r\nAT+CFUN=0", "012;AT+CFUN=0", "\x1a", "abc"])
def test_injection_in_numbers_is_refused_and_never_reaches_the_modem(env: Any, to: str) -> None:
    sw, sim = env
    status, body = sw.post("/api/v1/messages", {"to": to, "text": "hi\r\nAT+CFUN=0\x1a"})
    assert status in (400, 422) and "error" in body
    status, body = sw.post("/api/v1/messages", {"to": CUSTOMER, "text": "hi\r\nAT+CFUN=0\x1a"})
    assert status == 202
    wait(lambda: sw.get(f"/api/v1/messages/{body['id']}")[1]["status"] != "queued")
    lines = sim.client.request_sync("transcript")["lines"]
    assert not any("CFUN=0" in str(line) for line in lines)


def test_ussd_and_raw_at_need_the_right_token(env: Any) -> None:
    sw, _ = env
    status, body = sw.post("/api/v1/modems/gsm1/ussd", {"code": "*124#"})
    assert status == 200 and "2.50" in body["text"]
    status, body = sw.post("/api/v1/modems/gsm1/ussd", {"code": '*124#"\r'})
    assert status == 422
    status, body = sw.post("/api/v1/modems/gsm1/at", {"command": "AT+CSQ"})
    assert status == 403 and body["error"]["code"] == "forbidden"
    sw.token = "tech-token-for-tests"
    status, body = sw.post("/api/v1/modems/gsm1/at", {"command": "AT+CSQ"})
    assert status == 200 and body["lines"][-1] == "OK"
    status, body = sw.post("/api/v1/modems/gsm1/at", {"command": "AT+CSQ\rAT+CFUN=0"})
    assert status == 422
    status, body = sw.post("/api/v1/modems/gsm1/diagnose")
    assert status == 200 and {c["name"] for c in body["checks"]} >= {"sim", "signal", "smsc"}


def test_gsm_call_is_in_the_callers_journey(env: Any) -> None:
    sw, sim = env
    call_id = sim.client.request_sync("incoming_call", number=CUSTOMER)["call_id"]
    wait(lambda: [e for e in journey(sw, CUSTOMER) if e["kind"] == "call_started"])
    sim.client.request_sync("remote_hangup", call_id=call_id)
    events = wait(lambda: (j := journey(sw, CUSTOMER)) and j[-1]["kind"] == "call_ended" and j)
    voice = [e for e in events if e["channel"] == "voice"]
    assert [e["kind"] for e in voice] == ["call_started", "call_ended"]
    assert voice[0]["via"] == "gsm1"
