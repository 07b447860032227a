"""The operator console in Chromium against `switch run` (the environment of
test_desktop_e2e): today's figures and the charts of the day move live as a caller
joins a queue and gives up; the Persian console mirrors; a technician's checks (modem
diagnosis, USSD, trunk test) and the outgoing SMS queue; recordings found by contact,
agent and date and played in the page, with the retention shown; the config file's
check names each bad key, a SIGHUP's refusal shows live, and "Reload now" applies a
valid file; a reload changes the recordings' retention at once. axe-core on each."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.integration.kamailio_harness import free_ports
from tests.integration.test_desktop_e2e import (  # noqa: F401 (fixtures)
    CALLER,
    DID,
    Env,
    browser,
    desk_switch,
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
    # the queue's own day, in the queue table (looked at every 15 s at most)
    row = page.locator('tr[data-queue="default"]')
    expect(row.locator(".abandoned")).to_have_text("1", timeout=20_000)
    expect(row.locator(".sl")).to_have_text("0%")
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
    # the card after the wallboard ("calls now") sits to its left in Persian
    box = page.get_by_role("region", name="تماس‌های کنونی").bounding_box()
    wall = page.get_by_role("region", name="تابلوی وضعیت").bounding_box()
    assert box is not None and wall is not None and box["x"] < wall["x"]
    no_serious_axe_problems(page)
    page.get_by_label("زبان").select_option("en")
    expect(page.locator("html")).to_have_attribute("dir", "ltr", timeout=10_000)


def test_a_technician_diagnoses_asks_ussd_tests_a_trunk_and_sees_the_sms_queue(
    env: Env,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    env.modem.request_sync("set_ussd", code="*124#", reply="Balance: 5.00 USD, valid to 31/12")
    env.modem.request_sync("set_outcome", destination=CALLER, submit_error=500)
    status, body = env.api("POST", "/api/v1/messages", {"to": CALLER, "text": "Your code is 4411"})
    assert status == 202, body
    env.wait_api("/api/v1/outbox", lambda ms: ms and ms[0]["attempts"] >= 1, timeout=20)
    page = new_page(browser)
    sign_in(page, env, "tech")
    health = page.get_by_role("region", name="Modems and trunks")
    result = health.locator(".health-result")
    health.get_by_role("button", name="Diagnose gsm1").click()
    expect(result.locator(".checks li").first).to_be_visible(timeout=15_000)
    health.get_by_label("USSD code for gsm1").fill("*124#")
    health.get_by_role("button", name="Send").click()
    expect(result).to_contain_text("Balance: 5.00 USD, valid to 31/12", timeout=15_000)
    expect(health.locator('tr[data-trunk="provider1"] .registration')).to_have_text(
        "IP peering: nothing to register"
    )
    health.get_by_role("button", name="Test provider1").click()
    expect(result.locator(".checks li").first).to_be_visible(timeout=30_000)
    outbox = page.get_by_role("region", name="Outgoing SMS queue")
    row = outbox.locator("tbody tr")
    expect(row).to_have_count(1, timeout=10_000)
    expect(row).to_contain_text("012 777 888")
    expect(row).to_contain_text("Your code is 4411")
    expect(row.locator("td").nth(4)).not_to_be_empty()  # the modem's error, in its words
    no_serious_axe_problems(page)
    screenshot(page, "console-technician")
    # the modem sends again: the queue empties by itself
    env.modem.request_sync("set_outcome", destination=CALLER, outcome="delivered")
    expect(outbox.get_by_text("Nothing waiting: every SMS has gone.")).to_be_visible(timeout=90_000)
    assert page.errors == []  # type: ignore[attr-defined]


def test_the_config_check_names_each_bad_key_and_a_reload_applies_a_good_file(
    env: Env,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    page = new_page(browser)
    sign_in(page, env, "tech")
    card = page.get_by_role("region", name="Configuration")
    expect(card).to_contain_text("The config file is valid", timeout=10_000)
    expect(card).to_contain_text("nothing to reload")
    expect(card).to_contain_text("No reload since the switch started.")
    reload = card.get_by_role("button", name="Reload now")
    expect(reload).to_be_disabled()

    good = env.sw.config.read_text()
    broken = good.replace("max_wait = 60", "max_wait = -1").replace(
        "reply_timeout = 120", 'reply_timeout = "soon"'
    )
    env.sw.config.write_text(broken)
    card.get_by_role("button", name="Check again").click()
    expect(card).to_contain_text("The config file has 2 error(s)", timeout=10_000)
    errors = card.locator(".config-result tbody tr")
    expect(errors).to_have_count(2)
    expect(card.locator('.config-result tr[data-key="queues[0].max_wait"]')).to_be_visible()
    expect(card.locator('.config-result tr[data-key="routing.reply_timeout"]')).to_be_visible()
    expect(reload).to_be_disabled()
    # a SIGHUP with the broken file: refused, and the card hears it from the audit trail
    assert env.sw.proc is not None
    env.sw.proc.send_signal(signal.SIGHUP)
    last = card.locator(".config-last")
    expect(last).to_contain_text("by a signal (SIGHUP): refused, 2 error(s)", timeout=10_000)
    last.locator("summary", has_text="Why it was refused").click()
    expect(last.locator('tr[data-key="queues[0].max_wait"]')).to_be_visible()
    no_serious_axe_problems(page)
    screenshot(page, "console-config")

    # fixed, with a new queue: a reload would add it; "Reload now" does
    env.sw.config.write_text(good + '\n[[queues]]\nid = "sales"\n')
    card.get_by_role("button", name="Check again").click()
    pending = "A reload would change 1 thing(s) now; 0 would wait"
    expect(card).to_contain_text(pending, timeout=10_000)
    expect(card.locator(".config-changes.apply")).to_contain_text("queues[sales] (added)")
    expect(reload).to_be_enabled()
    reload.click()
    expect(last).to_contain_text("by tech (console or API): applied, 1 change(s)", timeout=10_000)
    expect(card).to_contain_text("nothing to reload")
    status, queues = env.api("GET", "/api/v1/queues")
    assert status == 200 and "sales" in {q["id"] for q in queues}, queues
    assert page.errors == []  # type: ignore[attr-defined]


@pytest.fixture
def recording_env(tmp_path: Path) -> Iterator[Env]:
    """test_desktop_e2e's switch, recording its calls and keeping them 30 days."""

    def recording(text: str) -> str:
        return text.replace(
            "ring_timeout = 15", "ring_timeout = 15\nrecord_calls = true\nrecordings_keep_days = 30"
        )

    with desk_switch(tmp_path, recording) as made:
        yield made


def test_recordings_are_found_and_played_in_the_page(
    recording_env: Env,
    browser: Browser,  # noqa: F811
) -> None:
    sw = recording_env
    port = free_ports(1)
    sw.register("1001", "secret-1001", port)
    alice = Phone("--port", str(port), "--rtp-port", str(free_ports(4)), "--user", "1001",
                  "--auto-answer", "--tone", "900")  # fmt: skip
    try:
        sw.wait_api("/api/v1/agents/alice", lambda a: a["state"] == "available")
        caller = Phone(
            "--port", str(sw.trunk), "--rtp-port", str(free_ports(4)), "--tone", "1200",
            "--user", CALLER.lstrip("+"), "--call", f"sip:{DID}@127.0.0.1:{sw.edge}",
        )  # fmt: skip
        try:
            caller.wait_for("state", timeout=15, state="CONFIRMED")
            sw.wait_api("/api/v1/calls?active=true", lambda cs: cs and cs[0]["agent"] == "alice")
            alice.wait_for("state", timeout=15, state="CONFIRMED")
            time.sleep(2)  # the call lasts a moment: there is something to hear
            caller.send("hangup")
            caller.wait_for("ended", timeout=10)
        finally:
            caller.close()
    finally:
        alice.close()
    sw.wait_api("/api/v1/recordings", lambda r: r["recordings"] and r["recordings"][0]["available"])
    page = new_page(browser)
    sign_in(page, sw, "ops")
    panel = page.get_by_role("region", name="Recordings")
    expect(panel.get_by_text("Recordings are kept 30 days, then deleted.")).to_be_visible(
        timeout=10_000
    )
    search = panel.get_by_role("search", name="Find recordings")
    search.get_by_label("Contact (number or id)").fill("012 777 888")
    search.get_by_label("Agent").fill("alice")
    today = date.today().isoformat()
    search.get_by_label("From").fill(today)
    search.get_by_label("To").fill(today)
    search.get_by_role("button", name="Find").click()
    rows = panel.locator("tbody tr")
    expect(rows).to_have_count(1, timeout=10_000)
    expect(rows).to_contain_text("012 777 888")
    expect(rows).to_contain_text("alice")
    audio = rows.get_by_label("Recording of the call with 012 777 888", exact=False)
    seconds = audio.evaluate(
        """async (a) => {
            await new Promise((ok, no) => {
                a.addEventListener('loadedmetadata', ok, {once: true});
                a.addEventListener('error', () => no(new Error('cannot load')), {once: true});
                a.load();
            });
            return a.duration;
        }"""
    )
    assert seconds > 1.0  # the page fetched the WAV with the session and could decode it
    no_serious_axe_problems(page)
    screenshot(page, "console-recordings")
    # another agent, or another day: nothing
    search.get_by_label("Agent").fill("bob")
    search.get_by_role("button", name="Find").click()
    expect(panel.get_by_text("No recording found.")).to_be_visible(timeout=10_000)
    # the retention changes with a reload, at once: the card says so after a search
    text = sw.sw.config.read_text()
    sw.sw.config.write_text(text.replace("recordings_keep_days = 30", "recordings_keep_days = 7"))
    assert sw.sw.proc is not None
    sw.sw.proc.send_signal(signal.SIGHUP)
    sw.wait_api("/api/v1/recordings", lambda r: r["retention_days"] == 7)
    search.get_by_role("button", name="Find").click()
    expect(panel.get_by_text("Recordings are kept 7 days, then deleted.")).to_be_visible(
        timeout=10_000
    )
    assert page.errors == []  # type: ignore[attr-defined]
