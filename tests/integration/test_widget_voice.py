""" "Call us" from the widget, with a scripted WebRTC peer (aiortc, no browser): the page's
socket hands out a SIP credential for the visitor's own guest user, the call goes
through Kamailio and rtpengine into the same queue as phone calls, a pjsua2 desk phone
answers, both hear each other, and the journey holds the chat and the call in one
contact (with ``channel_switched`` between them)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.kamailio_harness import free_ports
from tests.integration.webrtc_env import HAVE_RTPENGINE
from tests.integration.widget_env import AGENTS, WIDGET_NUMBER, WidgetEnv, running_widget_switch
from tests.sipphone import Phone, read_wav, tone_power

webphone = pytest.importorskip("tests.webphone")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not HAVE_RTPENGINE, reason="needs rtpengine (rtpengine-daemon)"),
]

PAGE_TONE = 700
AGENT_TONE = 1200


@pytest.fixture
def env(tmp_path: Path) -> Iterator[WidgetEnv]:
    webphone.loopback_only()
    with running_widget_switch(tmp_path, webrtc=True) as env:
        yield env


def desk_phone(env: WidgetEnv, agent: str, record: Path) -> Phone:
    user, password = AGENTS[agent]
    phone = Phone(
        "--port", str(free_ports(1)), "--rtp-port", str(free_ports(4)),
        "--user", user, "--password", password, "--register", f"127.0.0.1:{env.edge}",
        "--tone", str(AGENT_TONE), "--record", str(record), "--auto-answer",
    )  # fmt: skip
    assert phone.wait_for("registered", timeout=15)["code"] == 200
    env.wait_api(f"/api/v1/agents/{agent}", lambda a: a["state"] == "available")
    return phone


async def until(check: Any, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: not seen")


async def test_call_us_lands_in_the_visitors_contact_and_both_hear_each_other(
    env: WidgetEnv,
) -> None:
    alice = desk_phone(env, "alice", env.tmp / "alice.wav")
    page = env.visitor()
    welcome = await page.open()
    assert welcome["features"]["call"]
    await page.say("Could I rather talk to someone?", "t1")
    await page.next("conversation", lambda f: f["state"] == "assigned")  # alice has the chat
    bob = desk_phone(env, "bob", env.tmp / "bob.wav")  # free for a call
    await page.put(type="call")
    credential = (await page.next("call"))["credential"]
    assert credential["uri"].startswith(f"sip:web-{page.visitor_id}@")  # the visitor's own
    assert credential["call"] == f"sip:{WIDGET_NUMBER}@127.0.0.1"
    assert "sip_password" not in str(credential) and AGENTS["bob"][1] not in str(credential)
    guest = webphone.WebPhone(
        f"ws://127.0.0.1:{env.ws}", credential["uri"], credential["authorization_user"],
        credential["password"], tone=PAGE_TONE,
    )  # fmt: skip
    await guest.connect()
    try:
        call = await guest.call(credential["call"], timeout=30)
        assert call.status == 200
        bob.wait_for("state", timeout=15, state="CONFIRMED")
        await until(lambda: call.heard.frames > 100, "audio at the page")
        await asyncio.sleep(1.0)
        assert call.heard.power(AGENT_TONE) > 100 * call.heard.power(PAGE_TONE) + 1
        assert bob.heard() > 5
        [record] = env.wait_api("/api/v1/calls?active=true", lambda cs: len(cs) == 1)
        assert (record["via"], record["agent"]) == ("widget", "bob")
        # the chat stays open while the call goes on
        during = await page.say("(typing while we talk)", "t2")
        assert during["type"] == "sent" and during["message"]["status"] == "sent"
        assert await call.hangup() == 200
    finally:
        await guest.close()
        alice.close()
    bob.wait_for("state", timeout=20, state="DISCONNECTED")
    bob.close()
    samples, rate = read_wav(env.tmp / "bob.wav")
    assert tone_power(samples, rate, PAGE_TONE) > 100 * tone_power(samples, rate, 300) + 1

    contact = record["contact_id"]
    status, view = env.api("GET", f"/api/v1/contacts/{contact}")
    assert status == 200 and f"web:{page.visitor_id}" in view["identities"]
    journey = env.wait_api(
        f"/api/v1/contacts/{contact}/journey", lambda j: any(e["kind"] == "call_ended" for e in j)
    )
    steps = [(e["channel"], e["kind"]) for e in journey if e["kind"] != "note"]
    first_chat = steps.index(("chat", "message_in"))
    switched = steps.index(("voice", "channel_switched"))
    started = steps.index(("voice", "call_started"))
    assert first_chat < switched < started
    switch_event = next(e for e in journey if e["kind"] == "channel_switched")
    assert (switch_event["from"], switch_event["to"]) == ("chat", "voice")
    assert ("voice", "call_answered") in steps and ("chat", "message_in") in steps[started:]
    await page.close()
