"""The widget when nobody can answer (outside opening hours) and its abuse limits per
client address, through `switch run` with pages played by WebSocket clients."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.widget_env import CUSTOMER, running_widget_switch

pytestmark = pytest.mark.integration

NEVER_OPEN = """hours = "never"
[[schedules]]
id = "never"
weekly = {}
"""


async def test_outside_opening_hours_the_page_is_told_and_offered_a_callback(
    tmp_path: Path,
) -> None:
    with running_widget_switch(tmp_path, queue_extra=NEVER_OPEN) as env:
        env.sign_in("alice")  # somebody is there, but the queue is closed
        page = env.visitor()
        welcome = await page.open()
        assert welcome["queue"] == "closed"
        assert welcome["features"]["callback"] and welcome["features"]["sms"]
        await page.say("Are you open on Sunday?", "q1")
        auto = await page.next("message", lambda f: f["message"]["dir"] == "out")
        assert auto["message"]["auto"] is True and "We are closed now" in auto["message"]["text"]
        status, convs = env.api("GET", "/api/v1/conversations?agent=alice")
        assert status == 200 and convs == []  # alice is available, but not offered it
        status, _ = env.api("POST", "/api/v1/agents/alice/state", {"state": "break"})
        assert status == 200  # (so that the callback waits for the morning)
        await page.put(type="phone", number=CUSTOMER)
        await page.next("verify", lambda f: f["state"] == "code_sent")
        await page.put(type="code", code=env.wait_code(CUSTOMER))
        await page.next("verify", lambda f: f["state"] == "verified")
        await page.put(type="callback")
        callback = await page.next("callback")
        assert (callback["state"], callback["position"]) == ("waiting", 1)
        view = env.api("GET", f"/api/v1/callbacks/{callback['id']}")[1]
        assert (view["phone"], view["queue"], view["state"]) == (CUSTOMER, "support", "waiting")
        await page.close()


async def test_messages_are_limited_per_visitor_and_per_address(tmp_path: Path) -> None:
    # 2 a minute per visitor (a burst of 2), 4 times that per address (a burst of 8)
    with running_widget_switch(tmp_path, extra="messages_per_minute = 2") as env:
        pages = [env.visitor() for _ in range(5)]
        for page in pages:
            await page.open()
        answers = []
        for n, page in enumerate(pages[:4]):
            answers.append([(await page.say(f"{n}.{m}", f"v{n}m{m}"))["type"] for m in range(3)])
        assert answers == [["sent", "sent", "error"]] * 4  # each visitor: 2, then wait
        last = await pages[4].say("my first one", "v4m0")  # this visitor's first, but the
        assert (last["type"], last["code"]) == ("error", "rate_limited")  # address is full
        for page in pages:
            await page.close()


async def test_connections_are_limited_per_address(tmp_path: Path) -> None:
    with running_widget_switch(tmp_path, extra="connections_per_minute = 3") as env:
        first = env.visitor()
        await first.open()  # a session and a socket: 2 of 3
        second = env.visitor()
        assert (await second.session()).status_code == 200  # 3 of 3
        await second.connect()
        assert await second.closed_with() == 4429
        third = env.visitor()
        refused = await third.session()
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
        # the visitor already in keeps chatting
        assert (await first.say("still here", "s1"))["type"] == "sent"
        await first.close()
