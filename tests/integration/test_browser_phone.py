"""The agent's browser phone (/phone) in a real Chromium, through the whole switch.

Chromium (Debian's, driven by Playwright) binds WebRTC to every interface it sees, so
these scenarios run in a network namespace that has nothing but ``lo``: the launcher
test below re-runs this file under ``unshare -n`` (as root, as CI does) with
``EDGE_NETNS=1``, where the scenarios run and the launcher skips; outside, the
scenarios skip and the launcher reports the inner run.

In the namespace: `switch run` (Kamailio with a WebSocket port, rtpengine, pjsua2
workers), a pjsua2 test phone as the provider, and the phone page. Chromium's fake
microphone plays a 700 Hz tone (``--use-file-for-fake-audio-capture``); the provider's
phone plays 1200 Hz and records what it hears. The page measures what it receives
(WebRTC stats, and the strongest frequency from a WebAudio analyser).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.integration.kamailio_harness import free_ports
from tests.integration.netns import INSIDE, run_module_in_namespace
from tests.integration.webrtc_env import (
    CALLER,
    DID,
    HAVE_RTPENGINE,
    WebEnv,
    running_switch,
)
from tests.sipphone import Phone, read_wav, tone_power, write_tone

playwright = pytest.importorskip("playwright.async_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(os.environ.get("EDGE_SCREENSHOTS", "/tmp/edge-switch-screenshots"))

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
    pytest.mark.skipif(not HAVE_RTPENGINE, reason="needs rtpengine (rtpengine-daemon)"),
]


def scenario(test: Any) -> Any:
    """A scenario: runs in the namespace, on the module's event loop (one browser)."""
    skip = pytest.mark.skipif(not INSIDE, reason="runs in the namespace: see the first test")
    return skip(pytest.mark.asyncio(loop_scope="module")(test))


BROWSER_TONE = 700
CALLER_TONE = 1200
CONNECTED = re.compile(r"^In call with ")


def test_scenarios_in_a_namespace_with_only_loopback(tmp_path: Path) -> None:
    run_module_in_namespace(__file__, tmp_path)


# --------------------------------------------------------------- inside the namespace


@pytest.fixture(scope="module")
def switch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    with running_switch(tmp_path_factory.mktemp("switch")) as env:
        yield env


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    wav = tmp_path_factory.mktemp("audio") / "tone700.wav"
    write_tone(str(wav), BROWSER_TONE, seconds=2.0, rate=48000)
    async with playwright.async_playwright() as p:
        chromium = await p.chromium.launch(
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
        await chromium.close()


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Any, switch: WebEnv) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport={"width": 520, "height": 900})
    page = await context.new_page()
    page.on("console", lambda msg: print("page:", msg.type, msg.text))
    await page.goto(f"http://127.0.0.1:{switch.http}/phone")
    await page.get_by_label("API token").fill("secret-token-for-tests")
    await page.get_by_label("Agent").fill("alice")
    await page.get_by_role("button", name="Register", exact=True).click()
    await playwright.expect(page.get_by_role("status")).to_have_text("Registered", timeout=15000)
    switch.wait_api("/api/v1/agents", _alice_available)
    yield page
    await page.get_by_role("button", name="Unregister").click()
    await context.close()
    switch.wait_api("/api/v1/agents", lambda agents: not _alice_available(agents))


def _alice_available(agents: list[dict[str, Any]]) -> bool:
    return any(a["id"] == "alice" and a["status"] == "available" for a in agents)


def provider_call(switch: WebEnv, record: Path) -> Phone:
    return Phone(
        "--port", str(switch.trunk), "--rtp-port", str(free_ports(4)),
        "--user", CALLER.lstrip("+"), "--tone", str(CALLER_TONE), "--record", str(record),
        "--call", f"sip:{DID}@127.0.0.1:{switch.edge}",
    )  # fmt: skip


async def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def stats(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate("window.edgePhone.phone.stats()")
    return result


async def until(page: Any, check: Any, what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await page.wait_for_timeout(100)
    raise AssertionError(f"{what}: not seen; last {last}")


def log_events(switch: WebEnv, name: str) -> list[dict[str, Any]]:
    return [e for e in switch.sw.log_events() if e.get("event") == name]


@scenario
async def test_a_trunk_call_rings_the_browser_which_answers_and_hears_both_ways(
    switch: WebEnv, page: Any
) -> None:
    record = switch.tmp / "caller-1.wav"
    caller = provider_call(switch, record)
    try:
        line = page.locator("#line")
        await playwright.expect(line).to_contain_text("Incoming call from", timeout=15000)
        await shot(page, "1-incoming")
        await page.get_by_role("button", name="Answer").click()
        await playwright.expect(line).to_have_text(CONNECTED, timeout=10000)
        caller.wait_for("state", timeout=15, state="CONFIRMED")
        # The browser hears the caller: packets, and the caller's frequency.
        await until(page, lambda: _received(page, 50), "50 packets at the browser")
        peak = await until(page, lambda: _peak_near(page, CALLER_TONE), "the caller's tone")
        assert abs(peak - CALLER_TONE) < 30
        codec = (await stats(page))["codec"]
        assert codec in ("audio/PCMU", "audio/PCMA"), codec  # G.711 offered: no transcoding
        # The caller hears the browser's fake microphone.
        assert caller.heard() > 5
        await shot(page, "2-in-call")
    finally:
        await page.get_by_role("button", name="Hang up").click()
        caller.wait_for("ended", timeout=20)
        caller.close()
    await playwright.expect(page.locator("#line")).to_have_text("Call ended", timeout=10000)
    samples, rate = read_wav(record)
    assert tone_power(samples, rate, BROWSER_TONE) > 10 * tone_power(samples, rate, CALLER_TONE) + 1


async def _received(page: Any, packets: int) -> bool:
    figures = await stats(page)
    return bool(figures and figures["packetsReceived"] >= packets)


async def _peak_near(page: Any, freq: float) -> float | None:
    peak = await page.evaluate("window.edgePhone.peakFrequency()")
    return float(peak) if peak is not None and abs(peak - freq) < 30 else None


@scenario
async def test_dtmf_mute_and_hold_from_the_browser(switch: WebEnv, page: Any) -> None:
    caller = provider_call(switch, switch.tmp / "caller-2.wav")
    try:
        await playwright.expect(page.locator("#line")).to_contain_text(
            "Incoming call", timeout=15000
        )
        await page.get_by_role("button", name="Answer").click()
        await playwright.expect(page.locator("#line")).to_have_text(CONNECTED, timeout=10000)
        caller.wait_for("state", timeout=15, state="CONFIRMED")
        await until(page, lambda: _received(page, 25), "audio at the browser")

        # DTMF: the digit reaches the media worker in the media (RFC 4733, via rtpengine).
        keypad = page.get_by_role("group", name="Keypad")
        await keypad.get_by_role("button", name="5", exact=True).click()
        await keypad.get_by_role("button", name="#", exact=True).click()
        deadline = time.monotonic() + 10
        digits: list[str] = []
        while time.monotonic() < deadline and digits[-2:] != ["5", "#"]:
            digits = [e["digit"] for e in log_events(switch, "dtmf_received")]
            time.sleep(0.1)
        assert digits[-2:] == ["5", "#"], digits
        assert {e["how"] for e in log_events(switch, "dtmf_received")} == {"rfc4733"}

        # Mute: the caller stops hearing the browser; unmute: hears it again.
        assert caller.heard() > 5
        mute = page.get_by_role("button", name="Mute")
        await mute.click()
        await playwright.expect(mute).to_have_attribute("aria-pressed", "true")
        await page.wait_for_timeout(600)
        assert caller.heard() <= 2
        await mute.click()
        await playwright.expect(mute).to_have_attribute("aria-pressed", "false")
        await page.wait_for_timeout(600)
        assert caller.heard() > 5

        # Hold: a re-INVITE through rtpengine; the browser stops receiving audio.
        hold = page.get_by_role("button", name="Hold")
        await hold.click()
        await playwright.expect(page.locator("#line")).to_contain_text(
            "On hold with", timeout=10000
        )
        await shot(page, "3-on-hold")
        await page.wait_for_timeout(500)
        before = (await stats(page))["packetsReceived"]
        await page.wait_for_timeout(1000)
        assert (await stats(page))["packetsReceived"] - before < 10
        await hold.click()
        await playwright.expect(page.locator("#line")).to_have_text(CONNECTED, timeout=10000)
        before = (await stats(page))["packetsReceived"]
        await page.wait_for_timeout(1000)
        assert (await stats(page))["packetsReceived"] - before > 25
    finally:
        caller.send("hangup")
        caller.close()
    # The caller hung up: the browser's call ends.
    await playwright.expect(page.locator("#line")).to_have_text("Call ended", timeout=10000)
    await playwright.expect(page.get_by_role("button", name="Hang up")).to_be_disabled()


@scenario
async def test_the_agent_calls_out_from_the_browser(switch: WebEnv, page: Any) -> None:
    customer = Phone(
        "--port", str(switch.trunk), "--rtp-port", str(free_ports(4)),
        "--auto-answer", "--tone", str(CALLER_TONE),
    )  # fmt: skip
    try:
        await page.get_by_label("Number").fill("012 345 678")
        await page.get_by_role("button", name="Call", exact=True).click()
        incoming = customer.wait_for("incoming", timeout=15)
        assert f"From: sip:{DID.lstrip('+')}@" in json.dumps(incoming)  # the trunk's DID
        await playwright.expect(page.locator("#line")).to_have_text(CONNECTED, timeout=15000)
        await until(page, lambda: _peak_near(page, CALLER_TONE), "the customer's tone")
        assert customer.heard() > 5
        calls = switch.wait_api(
            "/api/v1/calls?active=true", lambda cs: cs and cs[0]["state"] == "answered"
        )
        assert calls[0]["direction"] == "out" and calls[0]["agent"] == "alice"
        await page.get_by_role("button", name="Hang up").click()
        customer.wait_for("ended", timeout=20)
    finally:
        customer.close()
    await playwright.expect(page.locator("#line")).to_have_text("Call ended", timeout=10000)


@scenario
async def test_the_page_speaks_persian_right_to_left(switch: WebEnv, browser: Any) -> None:
    context = await browser.new_context(viewport={"width": 520, "height": 900})
    page = await context.new_page()
    await page.goto(f"http://127.0.0.1:{switch.http}/phone?lang=fa")
    assert await page.evaluate("[document.documentElement.lang, document.documentElement.dir]") == [
        "fa",
        "rtl",
    ]
    await playwright.expect(page.get_by_role("button", name="ثبت‌نام", exact=True)).to_be_visible()
    await playwright.expect(page.get_by_role("status")).to_have_text("ثبت‌نام نشده")
    await shot(page, "4-persian")
    await page.get_by_label("زبان").select_option("km")
    assert await page.evaluate("document.documentElement.dir") == "ltr"
    await playwright.expect(page.get_by_role("button", name="ឆ្លើយ")).to_be_disabled()
    await context.close()
