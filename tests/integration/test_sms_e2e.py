"""SMS end to end through `switch run`, written against the external contract only.

The switch runs as a real process (`switch run --config ...`) with one `[[modems]]` entry
whose port is the pty of a standalone simulated modem (`python -m drivers.gsm.simulator`,
driven over its control socket). Everything is checked from outside: the HTTP API
(`/api/v1/contacts`, journeys, `/api/v1/messages`) and the simulator's own view (SIM
storage, the parts the network accepted, the AT transcript).

Inbound: single SMS in Khmer, Thai, Persian, emoji and GSM-7 with the extension table,
a national sender number, multipart out of order with duplicates (one journey entry, SIM
emptied), a missing part (delivered once after `[sms].reassembly_timeout`, marked
incomplete). Outbound: `queued` -> `sent` -> `delivered` for a long UCS-2 text with the
parts and text the network saw, a failed delivery, bad input refused with 4xx and an
error body, and no AT injection through numbers or text.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

pytest.importorskip("drivers.gsm.modem")

from drivers.gsm.simulator import Delivery, SimulatorProcess
from tests.conftest import free_port
from tests.integration.switchproc import SwitchProcess

pytestmark = pytest.mark.integration

T = TypeVar("T")
REASSEMBLY_TIMEOUT = 2.0
MODEM_ID = "gsm1"


def switch_config(http: int, link: Path) -> str:
    return f"""
[store]
path = "data/switch.db"
[numbers]
default_region = "KH"
[http]
listen = "127.0.0.1:{http}"
[api]
tokens = ["secret-token-for-tests"]
technician_tokens = ["tech-token-for-tests"]
[[modems]]
id = "{MODEM_ID}"
port = "{link}"
profile = "huawei_e173"
[sms]
default_modem = "{MODEM_ID}"
reassembly_timeout = {REASSEMBLY_TIMEOUT}
"""


def wait_until(what: str, check: Callable[[], T | None], timeout: float = 20.0) -> T:
    """Poll ``check`` until it returns something truthy; fail saying what never happened."""
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


class Env:
    def __init__(self, sw: SwitchProcess, sim: SimulatorProcess) -> None:
        self.sw = sw
        self.sim = sim

    # --- API views

    def contacts(self, phone: str) -> list[dict[str, Any]]:
        status, found = self.sw.get("/api/v1/contacts?phone=" + urllib.parse.quote(phone))
        assert status == 200, found
        return list(found)

    def journey(self, phone: str) -> list[dict[str, Any]]:
        found = self.contacts(phone)
        if not found:
            return []
        status, events = self.sw.get(f"/api/v1/contacts/{found[0]['id']}/journey")
        assert status == 200, events
        return list(events)

    def messages_in(self, phone: str) -> list[dict[str, Any]]:
        return [e for e in self.journey(phone) if e["kind"] == "message_in"]

    def message(self, message_id: str) -> dict[str, Any]:
        status, body = self.sw.get(f"/api/v1/messages/{message_id}")
        assert status == 200, body
        return dict(body)

    # --- simulator views

    def sim_state(self) -> dict[str, Any]:
        return self.sim.client.state_sync()

    def sim_used(self) -> int:
        return int(self.sim_state()["storage"]["used"])

    def sim_sent_to(self, destination: str) -> list[dict[str, Any]]:
        return [p for p in self.sim_state()["sent"] if p["destination"] == destination]

    def set_timing(self, **seconds: float) -> None:
        self.sim.client.request_sync("set_timing", **seconds)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("sms_e2e")
    sim = SimulatorProcess.spawn(
        tmp / "modem",
        profile="huawei",
        options={"storage_size": 20, "timing": {"report_delay": 0.1, "cmgs_delay": 0.02}},
    )
    http = free_port()
    sw = SwitchProcess(switch_config(http, sim.link), tmp, http)
    try:
        sw.start()
        wait_until(
            "modem gsm1 ready",
            lambda: sw.get("/api/v1/modems")[1][0]["state"] == "ready",
        )
        yield Env(sw, sim)
        assert sw.terminate() == 0, sw.stderr_text()[-3000:]
    finally:
        if sw.proc is not None and sw.proc.poll() is None:
            sw.kill9()
        sim.terminate()


@pytest.fixture(autouse=True)
def _default_timing(env: Env) -> Iterator[None]:
    yield
    env.set_timing(report_delay=0.1, cmgs_delay=0.02)


# ----------------------------------------------------------------------- inbound

SAMPLES = {
    "khmer": ("+85512000101", "សួស្តី! តើអ្នកសុខសប្បាយទេ? ខ្ញុំចង់ដឹងពីតម្លៃ។"),
    "thai": ("+85512000102", "สวัสดีครับ ขอบคุณมากนะคะ ราคาเท่าไหร่"),
    "persian": ("+85512000103", "سلام، حال شما چطور است؟ قیمت ۱۲۳ تومان"),
    "emoji": ("+85512000104", "Hi 🙏😀 family 👨\u200d👩\u200d👧 thumbs 👍🏽 flag 🇰🇭"),
    "gsm7_extension": ("+85512000105", "Price €10 [a] {b} ~c ^d |e \\f"),
    "gsm7_basic": (
        "+85512000106",
        "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà",
    ),
}


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_single_sms_lands_in_the_senders_journey(env: Env, sample: str) -> None:
    sender, text = SAMPLES[sample]
    reply = env.sim.client.deliver_sms_sync(sender, text)
    assert reply["parts"] == 1, f"{sample} must fit one part for this test"
    [event] = wait_until(f"{sample} in the journey", lambda: env.messages_in(sender))
    assert event["text"] == text
    assert event["channel"] == "sms" and event["via"] == MODEM_ID
    assert isinstance(event["at"], int | float | str)
    [contact] = env.contacts(sender)
    assert sender in str(contact)
    message = env.message(event["message_id"])
    assert message["direction"] == "in" and message["from"] == sender
    assert message["text"] == text and message["parts"] == 1
    wait_until("SIM slot deleted", lambda: env.sim_used() == 0)


def test_national_sender_number_is_normalised_with_the_default_region(env: Env) -> None:
    env.sim.client.deliver_sms_sync("012000107", "national sender")
    [event] = wait_until(
        "national sender in the journey of +85512000107",
        lambda: env.messages_in("+85512000107"),
    )
    assert event["text"] == "national sender"
    assert env.message(event["message_id"])["from"] == "+85512000107"


KHMER_211 = ("សួស្តីបង ខ្ញុំចង់កុម្ម៉ង់ទំនិញពីហាងរបស់អ្នក។ " * 8)[:211]  # 211 BMP chars: 4 parts
EMOJI_120 = "".join(["🙏", "😀", "👍", "🏽", "🇰", "🇭"][i % 6] for i in range(120))
MULTIPART = {
    # UCS-2 Khmer: 67 UTF-16 units per part
    "khmer_ucs2": ("+85512000111", KHMER_211, [3, 1, 4, 2], [1, 3]),
    # GSM-7: 153 septets per part; every € is ESC+code, so a boundary falls on a pair
    "gsm7_escapes": ("+85512000112", "€" * 101 + " [ok] {done} ~^|\\", [2, 1], [2]),
    # 120 emoji = 240 UTF-16 units: 4 parts whether or not pairs may straddle a boundary
    "emoji_ucs2": ("+85512000113", EMOJI_120, [2, 4, 3, 1], [4]),
}


@pytest.mark.parametrize("case", sorted(MULTIPART))
def test_multipart_out_of_order_with_duplicates_is_one_entry(env: Env, case: str) -> None:
    sender, text, order, duplicate = MULTIPART[case]
    reply = env.sim.client.deliver_sms_sync(
        sender, text, Delivery(order=order, duplicate=duplicate)
    )
    assert reply["parts"] == len(order), f"{case}: the simulator split it in {reply['parts']}"
    [event] = wait_until(f"{case} in the journey", lambda: env.messages_in(sender))
    assert event["text"] == text
    assert event.get("parts") == len(order)
    assert not event.get("incomplete")
    wait_until("every SIM slot deleted (duplicates too)", lambda: env.sim_used() == 0)
    time.sleep(0.5)  # a late duplicate must not become a second entry
    assert len(env.messages_in(sender)) == 1, env.messages_in(sender)
    message = env.message(event["message_id"])
    assert message["text"] == text and message["parts"] == len(order)
    assert message["incomplete"] is False


def test_missing_part_is_delivered_once_after_the_timeout_marked_incomplete(env: Env) -> None:
    sender = "+85512000121"
    chunks = ["FIRST " + "a" * 147, "SECOND " + "b" * 146, "THIRD " + "c" * 20]
    text = "".join(chunks)
    reply = env.sim.client.deliver_sms_sync(sender, text, Delivery(drop=(2,)))
    assert reply["parts"] == 3
    t0 = time.monotonic()
    [event] = wait_until(
        "incomplete message after the reassembly timeout",
        lambda: env.messages_in(sender),
        timeout=REASSEMBLY_TIMEOUT + 15,
    )
    waited = time.monotonic() - t0
    assert waited >= REASSEMBLY_TIMEOUT * 0.5, f"delivered before the timeout ({waited:.2f}s)"
    assert event.get("incomplete") is True
    assert "FIRST" in event["text"] and "THIRD" in event["text"]
    assert "SECOND" not in event["text"]
    message = env.message(event["message_id"])
    assert message["incomplete"] is True and message["parts"] == 3
    wait_until("the two parts' SIM slots deleted", lambda: env.sim_used() == 0)
    time.sleep(REASSEMBLY_TIMEOUT + 0.5)  # a second timeout round must not deliver it again
    assert len(env.messages_in(sender)) == 1


# ---------------------------------------------------------------------- outbound


def test_long_ucs2_message_goes_queued_sent_delivered(env: Env) -> None:
    to = "+85512000201"
    text = "សូមអរគុណសម្រាប់ការកុម្ម៉ង់! 🙏 ទំនិញនឹងដល់ថ្ងៃស្អែក។ " * 5
    # slow network: each part's CMGS takes a while, reports come well after the last part
    env.set_timing(cmgs_delay=0.3, report_delay=2.0)
    status, body = env.sw.post("/api/v1/messages", {"to": to, "text": text, "channel": "sms"})
    assert status == 202, body
    assert set(body) == {"id"}
    seen: list[str] = []

    def progress() -> dict[str, Any] | None:
        msg = env.message(body["id"])
        if not seen or seen[-1] != msg["status"]:
            seen.append(msg["status"])
        return msg if msg["status"] in ("delivered", "failed") else None

    final = wait_until("delivered", progress, timeout=30)
    assert seen == ["queued", "sent", "delivered"], seen
    assert final["direction"] == "out" and final["to"] == to and final["text"] == text
    parts = env.sim_sent_to(to)
    assert final["parts"] == len(parts) > 1, (final["parts"], len(parts))
    assert {p["encoding"] for p in parts} == {"ucs2"}
    [network] = [m for m in env.sim_state()["sent_messages"] if m["destination"] == to]
    assert network["text"] == text and network["complete"]
    [out] = [e for e in env.journey(to) if e["kind"] == "message_out"]
    assert out["text"] == text and out["channel"] == "sms"


def test_gsm7_multipart_with_extension_chars_reaches_the_network_intact(env: Env) -> None:
    to = "+85512000202"
    text = "Order #42: total €12 [2 items] {gift} ~ ^ | \\ thanks! " * 5
    status, body = env.sw.post("/api/v1/messages", {"to": to, "text": text})
    assert status == 202, body
    final = wait_until(
        "delivered",
        lambda: (m := env.message(body["id"]))["status"] in ("delivered", "failed") and m,
    )
    assert final["status"] == "delivered", final
    parts = env.sim_sent_to(to)
    assert {p["encoding"] for p in parts} == {"gsm7"}
    assert final["parts"] == len(parts) > 1
    [network] = [m for m in env.sim_state()["sent_messages"] if m["destination"] == to]
    assert network["text"] == text


def test_failed_delivery_ends_failed_with_an_error(env: Env) -> None:
    to = "+85512000203"
    env.sim.client.request_sync("set_outcome", destination=to, outcome="failed")
    status, body = env.sw.post("/api/v1/messages", {"to": to, "text": "will not arrive"})
    assert status == 202, body
    final = wait_until(
        "failed",
        lambda: (m := env.message(body["id"]))["status"] in ("delivered", "failed") and m,
    )
    assert final["status"] == "failed", final
    assert isinstance(final.get("error"), str) and final["error"]


def test_permanent_submit_error_fails_without_retrying(env: Env) -> None:
    to = "+85512000204"
    env.sim.client.request_sync("set_outcome", destination=to, outcome="delivered", submit_error=21)
    status, body = env.sw.post("/api/v1/messages", {"to": to, "text": "rejected by the SC"})
    assert status == 202, body
    final = wait_until("failed", lambda: (m := env.message(body["id"]))["status"] == "failed" and m)
    assert "21" in final["error"] or "CMS" in final["error"], final


BAD_INPUT: dict[str, Any] = {
    "missing_text": {"to": "+85512345678"},
    "empty_text": {"to": "+85512345678", "text": ""},
    "text_too_long": {"to": "+85512345678", "text": "x" * 1531},
    "missing_to": {"text": "hello"},
    "invalid_number": {"to": "not a number", "text": "hello"},
    "too_short_number": {"to": "+1", "text": "hello"},
    "crlf_in_number": {"to": "+85512345678\r\nAT+CFUN=0", "text": "hello"},
    "semicolon_at_in_number": {"to": "012345678;AT+CFUN=0", "text": "hello"},
    "esc_in_number": {"to": "+855\x1b12345678", "text": "hello"},
    "ctrl_z_inside_number": {"to": "+855123\x1a45678", "text": "hello"},
    "ctrl_z_after_number": {"to": "+85512345678\x1a", "text": "hello"},
    "crlf_after_number": {"to": "+85512345678\r\n", "text": "hello"},
    "semicolon_after_number": {"to": "+85512345678 ;", "text": "hello"},
    "extension_after_number": {"to": "+85512345678 ext. 5", "text": "hello"},
    "unknown_modem": {"to": "+85512345678", "text": "hello", "modem": "gsm9"},
    "unknown_channel": {"to": "+85512345678", "text": "hello", "channel": "fax"},
    "unknown_field": {"to": "+85512345678", "text": "hello", "priority": 1},
    "not_an_object": ["+85512345678", "hello"],
}


@pytest.mark.parametrize(
    "body",
    [v if hasattr(v, "marks") else pytest.param(v) for v in BAD_INPUT.values()],
    ids=list(BAD_INPUT),
)
def test_bad_input_is_refused_with_an_error_body(env: Env, body: Any) -> None:
    marker = f"refused-{secrets.token_hex(4)}"
    if isinstance(body, dict) and body.get("text") == "hello":
        body = {**body, "text": marker}
    status, answer = env.sw.post("/api/v1/messages", body)
    assert 400 <= status < 500, (status, answer)
    assert isinstance(answer, dict) and set(answer) == {"error"}, answer
    assert answer["error"]["code"] and answer["error"]["message"], answer
    time.sleep(0.3)
    sent = [p["text"] for p in env.sim_state()["sent"]]
    assert marker not in sent, "a refused message reached the modem"


def test_malformed_json_and_missing_token(env: Env) -> None:
    status, answer = env.sw.request("POST", "/api/v1/messages", raw=b'{"to": "+855', auth=True)
    assert status == 400 and answer["error"]["code"], answer
    status, answer = env.sw.post(
        "/api/v1/messages", {"to": "+85512345678", "text": "x"}, auth=False
    )
    assert status == 401 and answer["error"]["code"], answer
    status, answer = env.sw.get("/api/v1/messages/out-doesnotexist")
    assert status == 404 and answer["error"]["code"], answer


INJECTIONS = [
    "hi\r\nAT+CFUN=0\x1a",
    "x\rAT+CFUN=0\r",
    ";AT+CFUN=0;",
    '"\x1a\x1bAT+CFUN=0\r\n',
]


@pytest.mark.parametrize("text", INJECTIONS, ids=["crlf_ctrlz", "cr", "semicolon", "quote_esc"])
def test_no_injection_text_travels_only_inside_the_pdu(env: Env, text: str) -> None:
    to = "+85512000210"
    status, body = env.sw.post("/api/v1/messages", {"to": to, "text": text})
    assert status == 202, body
    final = wait_until(
        "sent", lambda: (m := env.message(body["id"]))["status"] != "queued" and m, timeout=20
    )
    assert final["status"] in ("sent", "delivered"), final
    # the network got exactly the text, control characters included, as SMS payload
    network = [m for m in env.sim_state()["sent_messages"] if m["destination"] == to]
    assert network and network[-1]["text"] == text
    lines = env.sim.client.request_sync("transcript")["lines"]
    arrived = [line["text"] for line in lines if line["dir"] in ("in", "noise")]
    assert not any("CFUN" in line.upper() for line in arrived), arrived
    # every PDU that arrived after a CMGS prompt is hex, nothing else
    for line in arrived:
        if line.endswith("<Ctrl-Z>"):
            hexpart = line[: -len("<Ctrl-Z>")]
            assert all(c in "0123456789ABCDEFabcdef" for c in hexpart), line
    state = env.sim_state()
    assert state["cfun"] == 1 and state["powered"], "the modem was switched off"


def test_reports_arriving_before_the_last_part_is_sent_still_count(env: Env) -> None:
    """Real networks report part 1 while part 3 is still being submitted."""
    to = "+85512000205"
    text = "Reports race the submission of the later parts. " * 8  # 3 GSM-7 parts
    env.set_timing(cmgs_delay=0.4, report_delay=0.05)
    status, body = env.sw.post("/api/v1/messages", {"to": to, "text": text})
    assert status == 202, body
    wait_until("sent", lambda: env.message(body["id"])["status"] != "queued", timeout=20)
    reports = wait_until(
        "the network's reports for every part",
        lambda: (
            (r := [x for x in env.sim_state()["status_reports"] if x["destination"] == to])
            and len(r) >= 3
            and r
        ),
    )
    assert len(reports) == 3
    final = wait_until(
        "delivered",
        lambda: (m := env.message(body["id"]))["status"] in ("delivered", "failed") and m,
        timeout=10,
    )
    assert final["status"] == "delivered", final


def test_idempotency_key_is_per_token_and_refuses_another_body(env: Env) -> None:
    def post(token: str, key: str, body: dict[str, str]) -> tuple[int, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{env.sw.port}/api/v1/messages",
            data=json.dumps(body).encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Idempotency-Key": key,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    key = f"order-{secrets.token_hex(4)}"
    first = {"to": "+85512000601", "text": f"first {key}"}
    other = {"to": "+85512000601", "text": f"other {key}"}
    status, answer = post("secret-token-for-tests", key, first)
    assert status == 202, answer
    assert post("secret-token-for-tests", key, first) == (202, answer)  # a retry
    status, refused = post("secret-token-for-tests", key, other)
    assert status == 422 and refused["error"]["code"] == "idempotency_key_reused", refused
    status, theirs = post("tech-token-for-tests", key, other)  # another token's key
    assert status == 202 and theirs["id"] != answer["id"]

    def sent() -> list[str]:
        return [p["text"] for p in env.sim_state()["sent"] if key in p["text"]]

    wait_until("both messages sent", lambda: len(sent()) >= 2)
    time.sleep(0.5)
    assert sorted(sent()) == [f"first {key}", f"other {key}"]
