"""IVR menus, routes, opening hours and announcements end to end: `switch run` with
Kamailio and media workers, a pjsua2 phone as the trunk's caller pressing keys (RFC 4733
and SIP INFO), a registered pjsua2 agent phone.

The prompts are the operator's own recordings in ``[routing].prompts`` (here: short pure
tones, one frequency per prompt), so what the caller heard is read back from its
recording window by window (Goertzel), in order.
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
from tests.integration.test_calls_e2e import tone_timeline
from tests.sipphone import Phone, write_tone

CALLER = "+85512345678"
DID_IVR = "+85523900100"
DID_CLOSED = "+85523900101"  # a queue outside its hours
DID_HOURS = "+85523900102"  # a route outside its hours: closed_to agent:alice
DID_SALES = "+85523900103"  # the sales queue directly (announcements)
DID_QUICK = "+85523900104"  # a menu with a short timeout and one retry

pytestmark = pytest.mark.integration

# operator prompts: name -> (the letter it shows as in a timeline, tone Hz, seconds)
TONES = {
    "welcome": ("w", 600.0, 0.6),
    "sub_menu": ("s", 800.0, 0.6),
    "quick": ("k", 1000.0, 0.4),
    "queue_closed": ("c", 1500.0, 1.2),
    "queue_position": ("p", 900.0, 0.6),
    "num_1": ("1", 1300.0, 0.5),
    "queue_wait": ("a", 1700.0, 0.5),
    "num_3": ("3", 2100.0, 0.5),
    "minutes": ("m", 500.0, 0.5),
}


def config(http: int, edge: int, trunk: int, base: int, rtp: int) -> str:
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
ring_timeout = 8
[routing]
prompts = "prompts"
[[trunks]]
id = "provider1"
host = "127.0.0.1"
port = {trunk}
dids = ["{DID_IVR}", "{DID_CLOSED}", "{DID_HOURS}", "{DID_SALES}", "{DID_QUICK}"]
[[trunks]]
id = "provider2"
host = "127.0.0.1"
port = {trunk + 1}
dids = ["+85523900200"]
[[agents]]
id = "alice"
name = "Alice"
sip_user = "1001"
sip_password = "secret-1001"
[[schedules]]
id = "never"                 # no spans: always closed
timezone = "Asia/Phnom_Penh"
[[queues]]
id = "sales"
announce_every = 5
[[queues]]
id = "billing"
[[queues]]
id = "closedq"
hours = "never"
[[ivr]]
id = "main"
prompt = "welcome"
timeout = 8
options = {{ "1" = "ivr:sub", "2" = "queue:closedq" }}
[[ivr]]
id = "sub"
prompt = "sub_menu"
timeout = 8
options = {{ "1" = "queue:billing", "9" = "ivr:main" }}
[[ivr]]
id = "quick"
prompt = "quick"
timeout = 1
retries = 1
options = {{ "1" = "queue:closedq" }}
[[routes]]
number = "{DID_IVR}"
to = "ivr:main"
[[routes]]
number = "{DID_CLOSED}"
to = "queue:closedq"
[[routes]]
number = "{DID_HOURS}"
to = "queue:billing"
hours = "never"
closed_to = "agent:alice"
[[routes]]
number = "{DID_SALES}"
to = "queue:sales"
[[routes]]
number = "+85523900200"
to = "queue:sales"
[[routes]]
number = "{DID_QUICK}"
to = "ivr:quick"
"""


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    for name, (_, freq, seconds) in TONES.items():
        (tmp_path / "prompts" / "en").mkdir(parents=True, exist_ok=True)
        write_tone(str(tmp_path / "prompts" / "en" / f"{name}.wav"), freq, seconds)
    http, edge, trunk = free_port(), free_ports(1, tcp=True), free_ports(2)
    base, rtp = free_ports(3), free_ports(150)
    sw = SwitchProcess(config(http, edge, trunk, base, rtp), tmp_path, http)
    sw.start(timeout=40)
    try:
        yield Env(sw, edge, trunk, tmp_path)
    finally:
        code = sw.terminate(timeout=30)
        assert code == 0, sw.stderr_text()[-3000:]


def phone(port: int, *args: str) -> Phone:
    return Phone("--port", str(port), "--rtp-port", str(free_ports(4)), *args)


def call(env: Env, did: str, *args: str, port: int | None = None) -> Phone:
    caller = phone(
        env.trunk if port is None else port,
        *("--user", CALLER[1:], *args, "--call", f"sip:{did}@127.0.0.1:{env.edge}"),
    )
    caller.wait_for("state", timeout=15, state="CONFIRMED")
    return caller


def alice_phone(env: Env, *args: str) -> Phone:
    port = free_ports(1)
    env.register("1001", "secret-1001", port)
    env.wait_api("/api/v1/agents", lambda ags: ags[0]["status"] == "available")
    return phone(port, *args)


def the_call(env: Env, check: Any) -> dict[str, Any]:
    calls = env.wait_api("/api/v1/calls", lambda cs: cs and check(cs[-1]))
    result: dict[str, Any] = calls[-1]
    return result


def heard(path: Path) -> str:
    """The caller's recording as letters, one per 0.1 s: the prompt heard, '.' nothing."""
    return tone_timeline(path, {letter: freq for letter, freq, _ in TONES.values()}, window=0.1)


def squeeze(timeline: str) -> str:
    """The prompts heard in order: runs of one letter (two windows at least), once each."""
    out = ""
    i = 0
    while i < len(timeline):
        j = i
        while j < len(timeline) and timeline[j] == timeline[i]:
            j += 1
        if timeline[i] != "." and j - i >= 2:
            out += timeline[i]
        i = j
    return out


def test_a_caller_navigates_nested_menus_to_a_queue_and_the_agent_sees_the_choices(
    env: Env,
) -> None:
    alice = alice_phone(env, "--auto-answer")
    rec = env.tmp / "caller.wav"
    caller = call(env, DID_IVR, "--record", str(rec))
    try:
        first = the_call(env, lambda c: c["state"] == "ringing")
        assert first["identified"] is False and first["ivr"] == []
        time.sleep(1.0)  # the welcome prompt plays (0.6 s)
        caller.send("dtmf 1")  # RFC 4733: main -> the sub menu
        the_call(env, lambda c: len(c["ivr"]) == 1)
        time.sleep(1.0)
        caller.send("info 1")  # SIP INFO: sub -> the billing queue
        alice.wait_for("incoming", timeout=15)
        record = the_call(env, lambda c: c["state"] == "answered")
        assert record["agent"] == "alice" and record["queue"] == "billing"
        assert record["ivr"] == [{"menu": "main", "digit": "1"}, {"menu": "sub", "digit": "1"}]
        caller.send("hangup")
        alice.wait_for("ended", timeout=10)
    finally:
        caller.close()
        alice.close()
    assert squeeze(heard(rec)).startswith("ws"), heard(rec)  # welcome, then the sub menu
    journey = env.wait_api(
        f"/api/v1/contacts/{record['contact_id']}/journey",
        lambda j: any(e["kind"] == "call_ended" for e in j),
    )
    kinds = [(e["kind"], e.get("via"), e.get("text")) for e in journey]
    assert kinds == [
        ("call_started", "provider1", None),
        ("ivr_choice", "main", "1"),
        ("ivr_choice", "sub", "1"),
        ("queued", "billing", None),
        ("dequeued", "billing", None),
        ("call_answered", "provider1", None),
        ("call_ended", "provider1", None),
    ], kinds
    # the same number again: a known contact, marked identified
    again = call(env, DID_CLOSED)
    try:
        second = the_call(env, lambda c: c["id"] != record["id"])
        assert second["identified"] is True and second["contact_id"] == record["contact_id"]
        again.wait_for("ended", timeout=20)
    finally:
        again.close()


def test_no_digit_replays_the_menu_then_a_human_takes_the_call(env: Env) -> None:
    alice = alice_phone(env, "--auto-answer")
    rec = env.tmp / "caller.wav"
    caller = call(env, DID_QUICK, "--record", str(rec))
    try:
        alice.wait_for("incoming", timeout=20)  # prompt, 1 s, prompt again, 1 s: a human
        record = the_call(env, lambda c: c["state"] == "answered")
        assert record["queue"] == "sales" and record["ivr"] == []  # the first queue
        caller.send("hangup")
        alice.wait_for("ended", timeout=10)
    finally:
        caller.close()
        alice.close()
    assert squeeze(heard(rec)).startswith("kk"), heard(rec)  # the menu twice (one retry)
    log = env.sw.stderr_text()
    assert '"ivr_fallback"' in log and '"ivr_retry"' in log


def test_a_closed_queue_plays_the_closed_message_and_hangs_up(env: Env) -> None:
    rec = env.tmp / "caller.wav"
    caller = call(env, DID_CLOSED, "--record", str(rec))
    try:
        caller.wait_for("ended", timeout=20)
    finally:
        caller.close()
    record = the_call(env, lambda c: c["state"] == "ended")
    assert record["cause"] == "queue_closed" and record["queue"] == "closedq"
    timeline = heard(rec)
    assert timeline.count("c") >= 8, timeline  # ~1.2 s of the closed message
    assert squeeze(timeline) == "c", timeline


def test_a_route_outside_its_hours_leads_to_closed_to(env: Env) -> None:
    alice = alice_phone(env, "--auto-answer")
    caller = call(env, DID_HOURS)
    try:
        alice.wait_for("incoming", timeout=15)
        record = the_call(env, lambda c: c["state"] == "answered")
        assert record["queue"] == "agent:alice" and record["agent"] == "alice"
        caller.send("hangup")
        alice.wait_for("ended", timeout=10)
    finally:
        caller.close()
        alice.close()


def test_a_waiting_caller_hears_position_and_expected_wait(env: Env) -> None:
    alice = alice_phone(env, "--auto-answer")
    first = call(env, DID_SALES, port=env.trunk + 1)  # takes alice
    phones = [alice, first]
    try:
        alice.wait_for("incoming", timeout=15)
        env.wait_api("/api/v1/agents", lambda ags: ags[0]["status"] == "busy")
        rec = env.tmp / "second.wav"
        second = call(env, DID_SALES, "--record", str(rec))
        phones.append(second)
        time.sleep(9.5)  # announce_every = 5 s, then ~3 s of announcement
        second.send("hangup")
        second.wait_for("ended", timeout=10)
    finally:
        for p in phones:
            p.close()
    # "you are number one, expected wait about three minutes": one agent signed in,
    # position 1, no call finished yet (the default 180 s handle time)
    assert squeeze(heard(rec)).startswith("p1a3m"), heard(rec)
    log = [e for e in env.sw.log_events() if e.get("event") == "queue_announcement"]
    assert log and log[0]["position"] == 1 and log[0]["expected_wait"] == 180.0


# ------------------------------------------------------------------ a GSM caller

MODEM_NUMBER = "+85512000111"
GSM_IVR = f"""
[routing]
prompts = "prompts"
[[queues]]
id = "sales"
[[ivr]]
id = "main"
prompt = "welcome"
timeout = 8
options = {{ "1" = "queue:sales" }}
[[routes]]
number = "{MODEM_NUMBER}"
to = "ivr:main"
"""


def test_a_gsm_caller_is_answered_into_the_menu_and_their_key_in_band_picks_the_queue(
    tmp_path: Path,
) -> None:
    from tests.integration import test_gsm_calls_e2e as gsm

    for name, (_, freq, seconds) in TONES.items():
        (tmp_path / "prompts" / "en").mkdir(parents=True, exist_ok=True)
        write_tone(str(tmp_path / "prompts" / "en" / f"{name}.wav"), freq, seconds)
    http, edge, trunk = free_port(), free_ports(1, tcp=True), free_ports(1)
    base, rtp = free_ports(2), free_ports(100)
    config = gsm.switch_config(http, edge, base, rtp, 20, 2, trunk, GSM_IVR).replace(
        'profile = "huawei_e173"', f'profile = "huawei_e173"\nnumber = "{MODEM_NUMBER}"'
    )
    sw = SwitchProcess(config, tmp_path, http).start(timeout=60)
    try:
        modem = gsm.SimulatorClient(tmp_path / "data" / "modems" / "gsm1" / "control.sock")
        env = gsm.Env(sw, edge, trunk, tmp_path, modem)
        env.wait_api("/api/v1/modems", lambda ms: ms and ms[0]["state"] == "ready")
        modem.request_sync("set_audio_tone", hz=gsm.MODEM_HZ)
        agent = env.agent_phone(auto_answer="")
        try:
            modem.request_sync("incoming_call", number=CALLER)
            # the switch answers the modem itself: the menu's prompt reaches the caller
            modem.wait_for_sync(lambda s: s["audio"]["active"], timeout=30)
            welcome = TONES["welcome"][1]
            modem.wait_for_sync(
                lambda s: modem.request_sync("audio_power", hz=welcome)["power"] > 1e5,
                timeout=30,
                interval=0.3,
            )
            assert not any(e.get("event") == "incoming" for e in agent.seen)
            record = the_call(env, lambda c: c["state"] == "ringing")
            assert record["channel"] == "gsm" and record["to"] == MODEM_NUMBER
            modem.request_sync("press_keys", digits="1")  # DTMF in band, on the PCM
            agent.wait_for("state", timeout=30, state="CONFIRMED")
            record = the_call(env, lambda c: c["state"] == "answered")
            assert record["queue"] == "sales" and record["agent"] == "alice"
            assert record["ivr"] == [{"menu": "main", "digit": "1"}]
            time.sleep(1.5)  # the caller and the agent hear each other
            heard = modem.request_sync("audio_power", hz=gsm.PHONE_HZ, seconds=1.0)
            assert heard["power"] > 1e5, heard
            assert agent.heard() > 5
            modem.request_sync("remote_hangup")
            agent.wait_for("ended", timeout=30)
        finally:
            agent.close()
        journey = env.journey(CALLER, lambda j: any(e["kind"] == "call_ended" for e in j))
        kinds = [(e["kind"], e.get("via"), e.get("text")) for e in journey]
        assert ("ivr_choice", "main", "1") in kinds
        assert [k for k, _, _ in kinds if k.startswith("call_")] == [
            "call_started",
            "call_answered",
            "call_ended",
        ]
        sent = [t["text"] for t in modem.request_sync("transcript")["lines"]]
        assert "ATA" in sent
    finally:
        assert sw.terminate(timeout=30) == 0
