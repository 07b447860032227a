"""The customer's widget in a real Chromium (Debian's, driven by Playwright), on the
switch's demo page (/widget/demo), against `switch run` with a simulated modem and an
agent signed in by a registered phone.

Like the browser phone's tests, the scenarios run in a network namespace that has only
``lo`` (Chromium sees no other interface): the launcher test below re-runs this file
under ``unshare -n`` with ``EDGE_NETNS=1``. Screenshots go to ``$EDGE_SCREENSHOTS``
(``docs/screenshots`` holds the ones made for the docs).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.integration.netns import INSIDE, run_module_in_namespace
from tests.integration.widget_env import DESK_PASSWORD, WidgetEnv, running_widget_switch

playwright = pytest.importorskip("playwright.async_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(os.environ.get("EDGE_SCREENSHOTS", "/tmp/edge-switch-screenshots"))
HELLO = "Hello! Is my bike ready? I left it on Monday."
REPLY = "Good morning! Yes, it is ready: the chain and both brakes are new."
MARKUP = 'Hi <b>there</b> <img src=x onerror="window.pwned=1">'
ANSWER = "<script>window.pwned=2</script>Your bike is ready"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
]


def scenario(test: Any) -> Any:
    """A scenario: runs in the namespace, on the module's event loop (one browser)."""
    skip = pytest.mark.skipif(not INSIDE, reason="runs in the namespace: see the first test")
    return skip(pytest.mark.asyncio(loop_scope="module")(test))


def test_scenarios_in_a_namespace_with_only_loopback(tmp_path: Path) -> None:
    run_module_in_namespace(__file__, tmp_path)


# --------------------------------------------------------------- inside the namespace


@pytest.fixture(scope="module")
def switch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WidgetEnv]:
    with running_widget_switch(tmp_path_factory.mktemp("switch")) as env:
        env.sign_in("alice")
        yield env


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
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
                "--allow-loopback-in-peer-connection",
            ],
        )
        yield chromium
        await chromium.close()


async def open_widget(
    browser: Any, switch: WidgetEnv, query: str = "", **context: Any
) -> tuple[Any, Any]:
    """A new browser (context: its own cookies) on the demo page with the panel open."""
    ctx = await browser.new_context(**{"viewport": {"width": 900, "height": 760}, **context})
    page = await ctx.new_page()
    page.on("console", lambda msg: print("page:", msg.type, msg.text))
    page.on("pageerror", lambda exc: print("page error:", exc))
    await page.goto(f"{switch.url}/widget/demo?open=1{query}")
    await playwright.expect(page.locator(".status")).not_to_have_text("", timeout=15000)
    return ctx, page


async def open_desk(browser: Any, switch: WidgetEnv, agent: str) -> tuple[Any, Any]:
    """The agent's desktop (GET /), signed in and available."""
    ctx = await browser.new_context(viewport={"width": 1280, "height": 860})
    page = await ctx.new_page()
    page.on("pageerror", lambda exc: print("desk error:", exc))
    await page.goto(f"{switch.url}/")
    await page.get_by_label("User").fill(agent)
    await page.get_by_label("Password").fill(DESK_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    available = page.get_by_role("button", name="Available")
    await available.click()
    await playwright.expect(available).to_have_attribute("aria-pressed", "true")
    return ctx, page


async def visitor_of(ctx: Any) -> str:
    [cookie] = [c for c in await ctx.cookies() if c["name"] == "edge_visitor"]
    assert cookie["httpOnly"]
    return str(cookie["value"]).split(".")[0]


def contact_of(switch: WidgetEnv, visitor: str, timeout: float = 10.0) -> str:
    """The contact the visitor's last message went to (the switch logs it)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [
            e["contact_id"]
            for e in switch.sw.log_events()
            if e.get("event") == "widget_message" and e.get("visitor") == visitor
        ]
        if found:
            return str(found[-1])
        assert time.monotonic() < deadline, f"no message of visitor {visitor}"
        time.sleep(0.1)


async def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"))


async def write(page: Any, text: str, label: str = "Your message") -> None:
    box = page.get_by_label(label, exact=True)
    await box.fill(text)
    await box.press("Enter")


def answer(switch: WidgetEnv, contact: str, text: str, agent: str | None = None) -> None:
    request = {"text": text} | ({"agent": agent} if agent else {})
    status, body = switch.api("POST", f"/api/v1/contacts/{contact}/messages", request)
    assert status == 202, body


def close_chat(switch: WidgetEnv, contact: str) -> None:
    """The agent closes the chat (alice is free again for the next scenario)."""
    path = f"/api/v1/contacts/{contact}/conversation/close"
    status, body = switch.api("POST", path, {"channel": "chat"})
    assert status == 200, body


@scenario
async def test_a_chat_answered_through_the_api_shows_in_the_page_as_text_and_survives_reload(
    switch: WidgetEnv, browser: Any
) -> None:
    desk_ctx, desk = await open_desk(browser, switch, "alice")
    ctx, page = await open_widget(browser, switch)
    await playwright.expect(page.locator(".status")).to_have_text("We are here: write to us.")
    await write(page, HELLO)
    mine = page.locator("li.msg.mine")
    await playwright.expect(mine.locator(".text")).to_have_text(HELLO)
    contact = contact_of(switch, await visitor_of(ctx))
    [conv] = switch.wait_api(
        "/api/v1/conversations?agent=alice", lambda cs: any(c["contact_id"] == contact for c in cs)
    )
    assert (conv["channel"], conv["state"]) == ("chat", "assigned")
    await playwright.expect(page.locator(".status")).to_have_text("Alice is answering you")
    answer(switch, contact, REPLY, "alice")
    await playwright.expect(page.locator("li.msg.theirs .text")).to_have_text(REPLY)
    await playwright.expect(page.locator("li.msg.theirs .who")).to_have_text("Alice")
    status, _ = switch.api("POST", f"/api/v1/contacts/{contact}/typing", {"agent": "alice"})
    assert status == 200
    await playwright.expect(page.locator(".typing")).to_have_text("Alice is typing…")
    await playwright.expect(mine).to_have_attribute("data-status", "read")  # alice answered
    await shot(page, "widget-chat")

    await write(page, MARKUP)
    await playwright.expect(mine.nth(1).locator(".text")).to_have_text(MARKUP)
    switch.wait_api(
        f"/api/v1/contacts/{contact}/journey",
        lambda j: [e["text"] for e in j if e["kind"] == "message_in"] == [HELLO, MARKUP],
    )  # kept as written

    # the agent's desk shows what the customer wrote as text: nothing of it runs there
    panel = desk.get_by_role("tabpanel")
    await playwright.expect(panel.get_by_text(MARKUP)).to_be_visible(timeout=20000)
    assert await panel.locator("img, b").count() == 0
    assert await desk.evaluate("window.pwned") is None

    answer(switch, contact, ANSWER)
    theirs = page.locator("li.msg.theirs")
    await playwright.expect(theirs.nth(1).locator(".text")).to_have_text(ANSWER)
    await playwright.expect(theirs.nth(1).locator(".who")).to_have_text("Agent")  # unnamed
    # what anybody wrote is text: no element from it, no script ran
    assert await page.locator("li.msg img, li.msg b, li.msg script").count() == 0
    assert await page.evaluate("window.pwned") is None

    await page.reload()
    log = page.locator("li.msg .text")
    await playwright.expect(log).to_have_text([HELLO, REPLY, MARKUP, ANSWER], timeout=15000)
    assert await page.evaluate("window.pwned") is None
    close_chat(switch, contact)
    await ctx.close()
    await desk_ctx.close()


@scenario
async def test_two_browsers_are_two_contacts(switch: WidgetEnv, browser: Any) -> None:
    one_ctx, one = await open_widget(browser, switch)
    two_ctx, two = await open_widget(browser, switch)
    await write(one, "I am the first")
    await write(two, "I am the second")
    await playwright.expect(one.locator("li.msg .text")).to_have_text(["I am the first"])
    await playwright.expect(two.locator("li.msg .text")).to_have_text(["I am the second"])
    first, second = await visitor_of(one_ctx), await visitor_of(two_ctx)
    assert first != second
    assert contact_of(switch, first) != contact_of(switch, second)
    answer(switch, contact_of(switch, second), "only for the second")
    await playwright.expect(two.locator("li.msg.theirs .text")).to_have_text("only for the second")
    await one.wait_for_timeout(500)
    assert await one.locator("li.msg.theirs").count() == 0
    for visitor in (first, second):
        close_chat(switch, contact_of(switch, visitor))
    await one_ctx.close()
    await two_ctx.close()


@scenario
async def test_persian_is_right_to_left(switch: WidgetEnv, browser: Any) -> None:
    ctx, page = await open_widget(browser, switch, "&lang=fa", locale="fa-IR")
    root = page.locator(".widget")
    await playwright.expect(root).to_have_attribute("dir", "rtl")
    await playwright.expect(root).to_have_attribute("lang", "fa")
    await playwright.expect(page.get_by_role("heading", name="گفتگو با ما")).to_be_visible()
    await write(page, "سلام، دوچرخه من آماده است؟", "پیام شما")
    contact = contact_of(switch, await visitor_of(ctx))
    await playwright.expect(page.locator(".status")).to_have_text("Alice به شما پاسخ می‌دهد")
    answer(switch, contact, "بله، آماده است.", "alice")
    await playwright.expect(page.locator("li.msg.theirs .text")).to_have_text("بله، آماده است.")
    # mirrored: the customer's own message sits on the left, the answer on the right,
    # the send button left of the text box
    mine = await page.locator("li.msg.mine").bounding_box()
    theirs = await page.locator("li.msg.theirs").bounding_box()
    text = await page.locator("textarea").bounding_box()
    send = await page.locator("button.send").bounding_box()
    assert mine["x"] < theirs["x"] and send["x"] < text["x"]
    await shot(page, "widget-persian")
    close_chat(switch, contact)
    await ctx.close()


@scenario
async def test_a_phone_sized_screen_gets_the_whole_width(switch: WidgetEnv, browser: Any) -> None:
    ctx, page = await open_widget(
        browser,
        switch,
        viewport={"width": 375, "height": 667},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    await write(page, "Do you rent bikes by the day?")
    contact = contact_of(switch, await visitor_of(ctx))
    await playwright.expect(page.locator(".status")).to_have_text("Alice is answering you")
    answer(switch, contact, "Yes: 8 dollars a day.", "alice")
    await playwright.expect(page.locator("li.msg.theirs .text")).to_have_text(
        "Yes: 8 dollars a day."
    )
    panel = await page.locator(".panel").bounding_box()
    assert panel["x"] >= 0 and panel["x"] + panel["width"] <= 375
    assert panel["y"] >= 0 and panel["y"] + panel["height"] <= 667
    for part in ("textarea", "button.send", "header"):
        await playwright.expect(page.locator(part)).to_be_in_viewport()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 375
    await shot(page, "widget-phone")
    close_chat(switch, contact)
    await ctx.close()


@scenario
async def test_the_agent_answers_a_chat_from_the_desk_and_no_sms_goes_out(
    switch: WidgetEnv, browser: Any
) -> None:
    from tests.web.browser import axe_problems_async

    assert switch.modem is not None
    sms_before = len(switch.modem.state_sync()["sent"])
    desk_ctx, desk = await open_desk(browser, switch, "alice")
    ctx, page = await open_widget(browser, switch)
    await write(page, "Can I bring my bike in on Saturday morning?")
    contact = contact_of(switch, await visitor_of(ctx))

    # the offer says what it is: a chat from somebody on the web site, not an SMS
    offer = desk.locator("section.offer")
    await playwright.expect(offer.get_by_role("heading", level=2)).to_have_text(
        "New chat: web visitor", timeout=20000
    )
    await playwright.expect(offer).to_contain_text("Chat message received")
    assert "SMS" not in await offer.inner_text()
    await offer.get_by_role("button", name="Open workspace").click()
    panel = desk.get_by_role("tabpanel")
    await playwright.expect(panel.get_by_text("Can I bring my bike in")).to_be_visible()
    form = panel.locator("form.reply")
    await playwright.expect(form).to_have_attribute("data-channel", "chat")
    await playwright.expect(form.locator(".sms-meta")).to_be_hidden()  # no SMS parts in a chat
    reply = panel.get_by_label("Reply in the chat", exact=True)

    # the customer sees the agent typing while the agent writes the answer
    await reply.press_sequentially("Yes, ")
    await playwright.expect(page.locator(".typing")).to_have_text("Alice is typing…")
    answer_text = "Yes, Saturday from 8 to 12. Bring the bike to the back door."
    await reply.fill(answer_text)
    await shot(desk, "desk-chat-reply")
    assert await axe_problems_async(desk) == []
    await panel.get_by_role("button", name="Send to chat").click()
    await playwright.expect(panel.locator(".reply-status")).to_have_text("Sent.")
    await playwright.expect(reply).to_have_value("")
    journey_list = panel.locator(".journey")
    await playwright.expect(journey_list).to_contain_text("Chat message sent")
    assert "SMS" not in await journey_list.inner_text()

    theirs = page.locator("li.msg.theirs")
    await playwright.expect(theirs.locator(".text")).to_have_text(answer_text)
    await playwright.expect(theirs.locator(".who")).to_have_text("Alice")
    journey = switch.wait_api(
        f"/api/v1/contacts/{contact}/journey",
        lambda j: any(e["kind"] == "message_out" for e in j),
    )
    assert [(e["channel"], e["text"]) for e in journey if e["kind"] == "message_out"] == [
        ("chat", answer_text)
    ]
    assert len(switch.modem.state_sync()["sent"]) == sms_before  # no SMS went anywhere

    # closing from the desk closes the chat (its channel, not SMS)
    await form.get_by_role("button", name="Close conversation").click()
    status = panel.locator(".reply-status")
    await playwright.expect(status).to_have_text("Conversation closed.")
    await playwright.expect(form).to_be_hidden()  # nothing to answer: no chat, no phone
    await playwright.expect(panel.get_by_text("No phone number to reply to.")).to_be_visible()
    switch.wait_api(
        "/api/v1/conversations?agent=alice",
        lambda cs: not any(c["contact_id"] == contact and c["state"] == "assigned" for c in cs),
    )
    await ctx.close()
    await desk_ctx.close()
