"""The operator console in Chromium against `switch run` (the environment of
test_desktop_e2e): today's figures and the charts of the day move live as a caller
joins a queue and gives up; axe-core on the screen; the Persian console mirrors."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.integration.kamailio_harness import free_ports
from tests.integration.test_desktop_e2e import (  # noqa: F401 (fixtures)
    CALLER,
    DID,
    Env,
    browser,
    env,
    no_serious_axe_problems,
    sign_in,
)
from tests.sipphone import Phone
from tests.web.browser import new_page, screenshot

pytestmark = pytest.mark.integration


def test_todays_figures_and_charts_move_live(env: Env, browser: Browser) -> None:  # noqa: F811
    # alice is signed in but on a break: a caller waits in the queue
    port = free_ports(1)
    env.register("1001", "secret-1001", port)
    agent = Phone("--port", str(port), "--rtp-port", str(free_ports(4)), "--user", "1001")
    try:
        env.wait_api("/api/v1/agents/alice", lambda a: a["state"] == "available")
        env.api("POST", "/api/v1/agents/alice/state", {"state": "break", "reason": "lunch"})
        caller_gives_up(env, browser)
    finally:
        agent.close()


def caller_gives_up(env: Env, browser: Browser) -> None:  # noqa: F811
    page = new_page(browser)
    sign_in(page, env, "ops")
    offered = page.locator('[data-kpi="offered"] dd')
    abandoned = page.locator('[data-kpi="abandoned"] dd')
    expect(offered).to_have_text("0", timeout=10_000)
    chart = page.get_by_role("img", name="Offers per hour", exact=False)
    expect(chart).to_have_count(1)
    assert page.locator(".offers-chart rect.offered").count() >= 1  # one bar per hour begun
    caller = Phone(
        "--port", str(env.trunk), "--rtp-port", str(free_ports(4)),
        "--user", CALLER.lstrip("+"), "--call", f"sip:{DID}@127.0.0.1:{env.edge}",
    )  # fmt: skip
    try:
        caller.wait_for("state", timeout=15, state="CONFIRMED")
        expect(page.locator('tr[data-queue="default"] .waiting')).to_have_text("1", timeout=5_000)
        page.wait_for_timeout(6_000)  # longer than a misdial (5 s): a real abandon
        caller.send("hangup")
        caller.wait_for("ended", timeout=10)
    finally:
        caller.close()
    # no reload: the figures follow the queues
    expect(offered).to_have_text("1", timeout=10_000)
    expect(abandoned).to_have_text("1")
    expect(page.locator('[data-kpi="abandon_rate"] dd')).to_have_text("100%")
    label = chart.get_attribute("aria-label") or ""
    assert "Abandoned: " in label and " 1." in label, label
    tallest = page.locator(".offers-chart rect.abandoned").evaluate_all(
        "rects => Math.max(...rects.map(r => Number(r.getAttribute('height'))))"
    )
    assert tallest > 50  # the hour with the abandon has the full-height bar
    no_serious_axe_problems(page)
    screenshot(page, "wallboard-today")
    assert page.errors == []  # type: ignore[attr-defined]


def test_the_persian_console_mirrors(env: Env, browser: Browser) -> None:  # noqa: F811
    page = new_page(browser)
    sign_in(page, env, "ops")
    expect(page.locator('[data-kpi="offered"] dd')).to_be_visible(timeout=10_000)
    page.get_by_label("Language").select_option("fa")
    expect(page.locator("html")).to_have_attribute("dir", "rtl", timeout=10_000)
    expect(page.get_by_role("heading", name="مخاطبان")).to_be_visible()
    expect(page.locator('[data-kpi="offered"] dd')).to_have_text("۰", timeout=10_000)
    # the charts keep time running left to right; the page around them mirrors
    assert page.locator(".chart").first.evaluate("e => getComputedStyle(e).direction") == "ltr"
    box = page.get_by_role("region", name="مخاطبان").bounding_box()
    wall = page.get_by_role("region", name="تابلوی وضعیت").bounding_box()
    assert box is not None and wall is not None and box["x"] < wall["x"]
    no_serious_axe_problems(page)
    page.get_by_label("زبان").select_option("en")
    expect(page.locator("html")).to_have_attribute("dir", "ltr", timeout=10_000)
