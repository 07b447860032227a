"""The browser phone inside the agent's desk, in a real Chromium, through the whole switch.

Alice signs in to the desk (`GET /`); the desk asks the session for a short-lived SIP
credential and registers to the edge over WebSocket. A trunk call (a pjsua2 test phone
plays the provider) is offered on the desk with the caller's context; she answers in the
browser; audio flows both ways (Chromium's fake microphone plays 700 Hz, the caller
1200 Hz); DTMF reaches the media worker; she transfers to Bob with a note; a desk phone
registered as alice rings with the browser and the first to answer wins.

Like tests/integration/test_browser_phone.py, the scenarios run in a network namespace
with nothing but ``lo`` (Chromium binds WebRTC to every interface it sees): the first
test re-runs this file under ``unshare -n`` with ``EDGE_NETNS=1``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from switch.passwords import hash_password
from tests.integration.kamailio_harness import free_ports
from tests.integration.netns import INSIDE, run_module_in_namespace
from tests.integration.webrtc_env import (
    AGENT_PASSWORD,
    AGENT_USER,
    CALLER,
    DID,
    HAVE_RTPENGINE,
    WebEnv,
    running_switch,
)
from tests.sipphone import Phone, read_wav, tone_power, write_tone
from tests.web.browser import axe_problems, screenshot

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "desk-password-1"
BROWSER_TONE = 700
CALLER_TONE = 1200
BOB = """
[[agents]]
id = "bob"
name = "Bob"
sip_user = "1002"
sip_password = "secret-1002"
"""

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
    pytest.mark.skipif(not HAVE_RTPENGINE, reason="needs rtpengine (rtpengine-daemon)"),
]
scenario = pytest.mark.skipif(not INSIDE, reason="runs in the namespace: see the first test")


def test_scenarios_in_a_namespace_with_only_loopback(tmp_path: Path) -> None:
    run_module_in_namespace(__file__, tmp_path, timeout=900)


# --------------------------------------------------------------- inside the namespace


@pytest.fixture(scope="module")
def switch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    if not INSIDE:
        pytest.skip("runs in the namespace")
    with running_switch(
        tmp_path_factory.mktemp("switch"), password_hash=hash_password(PASSWORD), extra=BOB
    ) as env:
        yield env


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not INSIDE:
        pytest.skip("runs in the namespace")
    wav = tmp_path_factory.mktemp("audio") / "tone700.wav"
    write_tone(str(wav), BROWSER_TONE, seconds=2.0, rate=48000)
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-audio-capture={wav}",
                "--allow-loopback-in-peer-connection",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def desk(browser: Any, switch: WebEnv) -> Iterator[Any]:
    """Alice's desk, signed in, its browser phone registered, alice available."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"http://127.0.0.1:{switch.http}/")
    page.get_by_label("User").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    phone = page.get_by_role("region", name="Browser phone")
    expect(phone.get_by_role("status")).to_have_text("Ready: calls ring here", timeout=15000)
    page.get_by_role("button", name="Available").click()
    switch.wait_api("/api/v1/agents/alice", lambda a: a["state"] == "available")
    yield page
    assert errors == []
    page.get_by_role("button", name="Sign out").click()
    context.close()


def provider_call(switch: WebEnv, record: Path) -> Phone:
    return Phone(
        "--port", str(switch.trunk), "--rtp-port", str(free_ports(4)),
        "--user", CALLER.lstrip("+"), "--tone", str(CALLER_TONE), "--record", str(record),
        "--call", f"sip:{DID}@127.0.0.1:{switch.edge}",
    )  # fmt: skip


def until(page: Any, check: Any, what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        page.wait_for_timeout(100)
    raise AssertionError(f"{what}: not seen; last {last}")


def received(page: Any, packets: int) -> bool:
    figures = page.evaluate("window.deskPhone.stats()")
    return bool(figures and figures["packetsReceived"] >= packets)


def peak_near(page: Any, freq: float) -> float | None:
    peak = page.evaluate("window.deskPhone.peakFrequency()")
    return float(peak) if peak is not None and abs(peak - freq) < 30 else None


def dtmf_digits(switch: WebEnv) -> list[str]:
    return [e["digit"] for e in switch.sw.log_events() if e.get("event") == "dtmf_received"]


@scenario
def test_a_trunk_call_is_offered_with_context_and_answered_in_the_desk(
    switch: WebEnv, desk: Any
) -> None:
    page = desk
    phone = page.get_by_role("region", name="Browser phone")
    line = phone.locator(".phone-line")
    record = switch.tmp / "caller-1.wav"
    caller = provider_call(switch, record)
    try:
        # the offer card with the caller's context, and the browser ringing with it
        offer = page.locator(".offer")
        expect(offer.get_by_role("heading", level=2)).to_have_text(
            "Incoming call: 012 345 678", timeout=15000
        )
        expect(offer.get_by_text("No rating yet.")).to_be_visible()
        expect(line).to_have_text("Incoming call from 012 345 678", timeout=10000)
        expect(phone.get_by_role("button", name="Answer")).to_be_enabled()
        phone.get_by_role("button", name="Answer").click()
        expect(line).to_have_text("In call with 012 345 678", timeout=10000)
        caller.wait_for("state", timeout=15, state="CONFIRMED")
        # the workspace of the caller opens as the agent is busy with the call
        expect(page.get_by_role("tab", name="012 345 678")).to_be_visible(timeout=10000)
        # audio both ways: the browser hears the caller's tone, the caller the browser's
        until(page, lambda: received(page, 50), "50 packets at the browser")
        peak = until(page, lambda: peak_near(page, CALLER_TONE), "the caller's tone")
        assert abs(peak - CALLER_TONE) < 30
        assert caller.heard() > 5
        # DTMF from the desk's keypad reaches the media worker (RFC 4733)
        keypad = phone.get_by_role("group", name="Keypad")
        keypad.get_by_role("button", name="4", exact=True).click()
        keypad.get_by_role("button", name="2", exact=True).click()
        until(page, lambda: dtmf_digits(switch)[-2:] == ["4", "2"], "the digits at the worker")
        # mute: the caller stops hearing the browser
        mute = phone.get_by_role("button", name="Mute")
        mute.click()
        expect(mute).to_have_attribute("aria-pressed", "true")
        page.wait_for_timeout(600)
        assert caller.heard() <= 2
        mute.click()
        expect(mute).to_have_attribute("aria-pressed", "false")
        page.wait_for_timeout(300)
        assert axe_problems(page) == []
        screenshot(page, "agent-browser-phone")
        phone.get_by_role("button", name="Hang up").click()
        caller.wait_for("ended", timeout=20)
    finally:
        caller.close()
    expect(line).to_have_text("Call ended", timeout=10000)
    expect(phone.get_by_role("button", name="Hang up")).to_be_disabled()
    samples, rate = read_wav(record)
    assert tone_power(samples, rate, BROWSER_TONE) > 10 * tone_power(samples, rate, CALLER_TONE) + 1
    switch.wait_api("/api/v1/calls?active=true", lambda calls: calls == [])


@scenario
def test_the_desk_transfers_the_call_to_bob_with_a_note(switch: WebEnv, desk: Any) -> None:
    page = desk
    phone = page.get_by_role("region", name="Browser phone")
    line = phone.locator(".phone-line")
    bob_port = free_ports(1)
    switch.register("1002", "secret-1002", bob_port)
    bob = Phone("--port", str(bob_port), "--rtp-port", str(free_ports(4)), "--user", "1002",
                "--auto-answer")  # fmt: skip
    # bob registered: he is available too once the switch has seen his phone; the call
    # may go to either, so bob steps away (before the call) while alice takes it
    caller = None
    try:
        switch.wait_api("/api/v1/agents/bob", lambda a: a["phone_registered"], timeout=15)
        switch.api("POST", "/api/v1/agents/bob/state", {"state": "break", "reason": "other"})
        caller = provider_call(switch, switch.tmp / "caller-2.wav")
        expect(line).to_contain_text("Incoming call from", timeout=15000)
        phone.get_by_role("button", name="Answer").click()
        expect(line).to_contain_text("In call with", timeout=10000)
        calls = switch.wait_api(
            "/api/v1/calls?active=true", lambda cs: cs and cs[0]["state"] == "answered"
        )
        call_id = calls[0]["id"]
        switch.api("POST", "/api/v1/agents/bob/state", {"state": "available"})
        form = phone.get_by_role("form", name="Transfer the call")
        expect(form.get_by_role("button", name="Transfer")).to_be_enabled()
        form.get_by_label("Transfer to").select_option("agent")
        form.get_by_label("Agent, queue or number").fill("bob")
        form.get_by_label("Note for who takes the call").fill("Wants the invoice again")
        form.get_by_role("button", name="Transfer").click()
        expect(form.get_by_role("status")).to_have_text("Transferred to bob.", timeout=10000)
        bob.wait_for("incoming", timeout=15)
        expect(line).to_have_text("Call ended", timeout=15000)  # alice is out of the call
        record = switch.wait_api(
            f"/api/v1/calls/{call_id}", lambda c: c["agent"] == "bob", timeout=15
        )
        assert record["transfer"]["note"] == "Wants the invoice again", record
        caller.send("hangup")
        caller.wait_for("ended", timeout=15)
    finally:
        if caller is not None:
            caller.close()
        bob.close()
        switch.api("POST", "/api/v1/agents/bob/state", {"state": "offline"})
    switch.wait_api("/api/v1/calls?active=true", lambda calls: calls == [])


@scenario
def test_a_desk_phone_rings_with_the_browser_and_the_first_to_answer_wins(
    switch: WebEnv, desk: Any
) -> None:
    page = desk
    phone = page.get_by_role("region", name="Browser phone")
    line = phone.locator(".phone-line")
    port = free_ports(1)
    switch.register(AGENT_USER, AGENT_PASSWORD, port)
    deskphone = Phone("--port", str(port), "--rtp-port", str(free_ports(4)), "--user", AGENT_USER)
    caller = provider_call(switch, switch.tmp / "caller-3.wav")
    try:
        deskphone.wait_for("incoming", timeout=20)
        expect(line).to_contain_text("Incoming call from", timeout=10000)
        deskphone.send("answer")
        caller.wait_for("state", timeout=15, state="CONFIRMED")
        # the browser stops ringing: the other branch was answered
        expect(line).to_have_text("Call ended", timeout=10000)
        expect(phone.get_by_role("button", name="Answer")).to_be_disabled()
        calls = switch.wait_api(
            "/api/v1/calls?active=true", lambda cs: cs and cs[0]["state"] == "answered"
        )
        assert calls[0]["agent"] == "alice"
        caller.send("hangup")
        deskphone.wait_for("ended", timeout=15)
    finally:
        caller.close()
        deskphone.close()
