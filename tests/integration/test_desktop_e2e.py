"""The desktop in Chromium against `switch run` (a simulated modem, the SIP edge, media
workers): signing in, role limits, an SMS conversation answered from the desk, an
incoming call offered with its context, the wallboard as a caller joins a queue,
Persian right to left, live updates surviving a restart, accessibility (axe-core).
Screenshots of the main screens go to docs/screenshots/."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from drivers.gsm import sms_parts_needed
from drivers.gsm.simulator import SimulatorClient
from switch.passwords import hash_password
from tests.conftest import free_port
from tests.integration.kamailio_harness import free_ports
from tests.integration.switch_env import SwitchEnv
from tests.integration.switchproc import SwitchProcess
from tests.sipphone import Phone
from tests.web.browser import axe_problems, chromium, new_page, screenshot

pytestmark = pytest.mark.integration

PASSWORD = "desk-password-1"
HASH = hash_password(PASSWORD)
DID = "+85523900100"
CUSTOMER = "+85512345678"
CALLER = "+85512777888"


def config(http: int, edge: int, trunk: int, base: int, rtp: int) -> str:
    return f"""
[store]
path = "data/switch.db"
[http]
listen = "127.0.0.1:{http}"
[api]
tokens = ["secret-token-for-tests"]
[[modems]]
id = "gsm1"
simulated = true
profile = "huawei_e173"
[sip]
listen = "127.0.0.1:{edge}"
workers = 2
worker_port_base = {base}
rtp_port_base = {rtp}
ring_timeout = 15
[[trunks]]
id = "provider1"
host = "127.0.0.1"
port = {trunk}
dids = ["{DID}"]
[[queues]]
id = "support"
max_wait = 60
[routing]
reply_timeout = 120
missed_call_break = false
[[agents]]
id = "alice"
name = "Alice"
sip_user = "1001"
sip_password = "secret-1001"
password_hash = "{HASH}"
[[agents]]
id = "bob"
name = "Bob"
sip_user = "1002"
sip_password = "secret-1002"
password_hash = "{HASH}"
language = "fa"
[[users]]
id = "ops"
name = "Olivia"
role = "operator"
password_hash = "{HASH}"
[[users]]
id = "tech"
role = "technician"
password_hash = "{HASH}"
"""


class Env(SwitchEnv):
    modem: SimulatorClient
    url: str


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@contextmanager
def desk_switch(tmp_path: Path, edit: Callable[[str], str] = lambda text: text) -> Iterator[Env]:
    """`switch run` on :func:`config` (``edit`` changes its text first), its modem ready;
    stopped cleanly at the end."""
    http, edge, trunk = free_port(), free_ports(1, tcp=True), free_ports(1)
    base, rtp = free_ports(2), free_ports(100)
    sw = SwitchProcess(edit(config(http, edge, trunk, base, rtp)), tmp_path, http)
    sw.start(timeout=60)
    made = Env(sw, edge, trunk, tmp_path)
    made.url = f"http://127.0.0.1:{http}"
    made.modem = SimulatorClient(tmp_path / "data" / "modems" / "gsm1" / "control.sock")
    made.wait_api("/api/v1/modems", lambda ms: ms and ms[0]["state"] == "ready", timeout=30)
    try:
        yield made
    finally:
        code = sw.terminate(timeout=30)
        assert code == 0, sw.stderr_text()[-3000:]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with desk_switch(tmp_path) as made:
        yield made


def sign_in(page: Page, env: Env, user: str, password: str = PASSWORD) -> None:
    page.goto(env.url + "/")
    page.get_by_label("User").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    if password != PASSWORD:
        return
    form = page.get_by_role("form", name="Sign in")
    try:  # signed in: the form goes (argon2 takes a while on a busy box)
        expect(form).to_have_count(0, timeout=30_000)
    except AssertionError:
        said = form.inner_text() if form.count() else ""
        logins = [e for e in env.sw.log_events() if "login" in str(e.get("event", ""))]
        errors = page.errors  # type: ignore[attr-defined]
        raise AssertionError(
            f"{user} still not signed in after 30 s; the form says {said!r}; "
            f"page errors {errors}; the switch's login lines {logins[-5:]}"
        ) from None


def register(env: Env, user: str) -> int:
    port = free_ports(1)
    env.register(user, f"secret-{user}", port)
    return port


def no_serious_axe_problems(page: Page) -> None:
    problems = axe_problems(page)
    assert problems == [], problems


# ------------------------------------------------------------------ sign-in


def test_sign_in_wrong_password_and_sign_out(env: Env, browser: Browser) -> None:
    page = new_page(browser)
    page.goto(env.url + "/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    no_serious_axe_problems(page)
    screenshot(page, "login")
    sign_in(page, env, "alice", "not-the-password")
    expect(page.get_by_role("alert")).to_have_text("Wrong user or password.")
    expect(page.get_by_label("Password")).to_have_value("")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="My state")).to_be_visible()
    expect(page.get_by_text("Signed in as Alice (agent)")).to_be_visible()
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["switch_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # the page's scripts cannot read it
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.errors == []  # type: ignore[attr-defined]


def test_each_role_sees_its_own_screen_and_no_more(env: Env, browser: Browser) -> None:
    agent = new_page(browser)
    sign_in(agent, env, "alice")
    expect(agent.get_by_role("heading", name="My state")).to_be_visible()
    expect(agent.get_by_role("heading", name="Wallboard")).to_have_count(0)
    expect(agent.get_by_role("heading", name="Audit trail")).to_have_count(0)
    no_serious_axe_problems(agent)
    # what the page cannot show, the API refuses too (same cookie, same CSRF token)
    status = agent.evaluate(
        """async () => {
            const s = await (await fetch('/api/v1/session')).json();
            const h = {'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf};
            const audit = await fetch('/api/v1/audit');
            const other = await fetch('/api/v1/agents/bob/state',
                {method: 'POST', headers: h, body: JSON.stringify({state: 'offline'})});
            const nocsrf = await fetch('/api/v1/agents/alice/state',
                {method: 'POST', headers: {'Content-Type': 'application/json'},
                 body: JSON.stringify({state: 'offline'})});
            return [audit.status, (await audit.json()).error.code, other.status,
                    nocsrf.status, (await nocsrf.json()).error.code];
        }"""
    )
    assert status == [403, "forbidden", 403, 403, "csrf_failed"]

    ops = new_page(browser)
    sign_in(ops, env, "ops")
    expect(ops.get_by_role("heading", name="Wallboard")).to_be_visible()
    expect(ops.get_by_role("heading", name="Audit trail")).to_be_visible()
    expect(ops.get_by_role("row", name=re.compile("Alice"))).to_be_visible()
    expect(ops.get_by_role("button", name="Diagnose gsm1")).to_be_visible()
    expect(ops.get_by_label("USSD code for gsm1")).to_have_count(0)  # technicians only
    ops.get_by_role("button", name="Diagnose gsm1").click()
    expect(ops.locator(".health-result .checks li").first).to_be_visible(timeout=20_000)
    no_serious_axe_problems(ops)

    tech = new_page(browser)
    sign_in(tech, env, "tech")
    expect(tech.get_by_role("heading", name="Modems and trunks")).to_be_visible()
    expect(tech.get_by_role("heading", name="Wallboard")).to_have_count(0)
    expect(tech.get_by_label("USSD code for gsm1")).to_be_visible()
    expect(tech.get_by_role("button", name="Test provider1")).to_be_visible()
    # the failed sign-in of another test is not here, but alice's and ops's sign-ins are
    expect(tech.get_by_role("cell", name="signed in").first).to_be_visible()
    no_serious_axe_problems(tech)
    screenshot(ops, "console")


def test_the_console_says_what_is_wrong_with_the_box(env: Env, browser: Browser) -> None:
    tech = new_page(browser)
    sign_in(tech, env, "tech")
    expect(tech.get_by_text("Nothing is wrong with the box.")).to_be_visible(timeout=20_000)
    env.modem.request_sync("unplug")
    problem = tech.locator(".problems li", has_text="modem gsm1")
    expect(problem).to_be_visible(timeout=40_000)  # the panel refreshes every 15 s
    expect(tech.get_by_role("heading", name="What is wrong now")).to_be_visible()
    env.modem.request_sync("replug")
    expect(tech.get_by_text("Nothing is wrong with the box.")).to_be_visible(timeout=60_000)


# ------------------------------------------------------------------- the desk


def test_an_agent_sees_an_sms_conversation_arrive_and_replies(env: Env, browser: Browser) -> None:
    register(env, "1001")  # alice's phone: she can be reached
    page = new_page(browser)
    sign_in(page, env, "alice")
    page.get_by_role("button", name="Available").click()
    expect(page.get_by_role("button", name="Available")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".state-now")).to_have_text("Available")
    env.modem.deliver_sms_sync(CUSTOMER, "Hello, my internet is down since this morning")
    offer = page.locator(".offer")
    expect(offer.get_by_role("heading", level=2)).to_have_text(
        "New SMS conversation: 012 345 678", timeout=20_000
    )
    expect(offer.get_by_text("SMS received").first).to_be_visible()
    tab = page.get_by_role("tab", name="012 345 678")
    expect(tab).to_have_attribute("aria-selected", "true")
    panel = page.get_by_role("tabpanel")
    expect(panel.get_by_text("Hello, my internet is down since this morning")).to_be_visible()
    reply = page.get_by_label("Reply by SMS")
    reply.fill("We are checking your line.")
    expect(page.locator(".sms-meta")).to_contain_text("1 SMS part(s) · GSM-7 · 134 characters")
    reply.fill("យើងកំពុងពិនិត្យ")
    expect(page.locator(".sms-meta")).to_contain_text("Unicode (UCS-2)")
    reply.fill("We are checking your line. " * 7)  # 189 GSM-7 characters: two parts
    expect(page.locator(".sms-meta")).to_contain_text("2 SMS part(s) · GSM-7")
    reply.fill("We are checking your line, it will be fixed today.")
    page.get_by_role("button", name="Send SMS").click()
    expect(panel.get_by_role("status").filter(has_text="Sent.")).to_be_visible()
    env.modem.wait_for_sync(
        lambda s: any(
            p["text"] == "We are checking your line, it will be fixed today." for p in s["sent"]
        ),
        timeout=20,
    )
    expect(panel.get_by_text("SMS sent").first).to_be_visible(timeout=10_000)
    page.get_by_label("Wrap-up notes").fill("Line fault, ticket 4411")
    page.get_by_role("button", name="Save note").click()
    expect(panel.get_by_text("Line fault, ticket 4411")).to_be_visible()
    no_serious_axe_problems(page)
    screenshot(page, "agent-workspace")
    page.get_by_role("button", name="Close conversation").click()
    env.wait_api("/api/v1/agents/alice", lambda a: a["state"] == "available" and a["chats"] == 0)
    assert page.errors == []  # type: ignore[attr-defined]


def test_an_incoming_call_is_offered_with_the_callers_context(env: Env, browser: Browser) -> None:
    env.modem.deliver_sms_sync(CALLER, "Is my order ready?")  # an earlier contact
    env.wait_api(f"/api/v1/contacts?phone=%2B{CALLER[1:]}", lambda cs: len(cs) == 1, timeout=20)
    port = register(env, "1001")
    alice = Phone("--port", str(port), "--rtp-port", str(free_ports(4)), "--user", "1001")
    page = new_page(browser)
    try:
        sign_in(page, env, "alice")
        page.get_by_role("button", name="Available").click()
        env.wait_api("/api/v1/agents/alice", lambda a: a["state"] == "available")
        caller = Phone(
            "--port", str(env.trunk), "--rtp-port", str(free_ports(4)),
            "--user", CALLER.lstrip("+"), "--call", f"sip:{DID}@127.0.0.1:{env.edge}",
        )  # fmt: skip
        try:
            alice.wait_for("incoming", timeout=20)
            offer = page.locator(".offer")
            expect(offer.get_by_role("heading", level=2)).to_have_text(
                "Incoming call: 012 777 888", timeout=10_000
            )
            last = offer.get_by_role("listitem").filter(has_text="SMS received")
            expect(last).to_have_count(1)
            expect(last).to_contain_text("Is my order ready?")
            expect(offer.get_by_text("No rating yet.")).to_be_visible()
            expect(page.locator(".state-now")).to_have_text("Ringing")
            no_serious_axe_problems(page)
            screenshot(page, "agent-offer")
            alice.send("answer")
            expect(page.get_by_role("tab", name="012 777 888")).to_be_visible(timeout=10_000)
            expect(page.locator(".state-now")).to_have_text("Busy", timeout=10_000)
            caller.send("hangup")
            caller.wait_for("ended", timeout=10)
        finally:
            caller.close()
        expect(page.get_by_role("tabpanel").get_by_text("Call ended").first).to_be_visible(
            timeout=10_000
        )
    finally:
        alice.close()


def test_the_wallboard_updates_when_a_caller_joins_a_queue(env: Env, browser: Browser) -> None:
    port = register(env, "1001")
    agent = Phone("--port", str(port), "--rtp-port", str(free_ports(4)), "--user", "1001")
    try:
        env.wait_api("/api/v1/agents/alice", lambda a: a["state"] == "available")
        env.api("POST", "/api/v1/agents/alice/state", {"state": "break", "reason": "lunch"})
        page = new_page(browser)
        sign_in(page, env, "ops")
        row = page.locator('tr[data-queue="default"]')
        expect(row.locator(".waiting")).to_have_text("0")
        expect(page.locator('tr[data-agent="alice"] .state')).to_have_text("Break")
        caller = Phone(
            "--port", str(env.trunk), "--rtp-port", str(free_ports(4)),
            "--user", CALLER.lstrip("+"), "--call", f"sip:{DID}@127.0.0.1:{env.edge}",
        )  # fmt: skip
        try:
            caller.wait_for("state", timeout=15, state="CONFIRMED")
            expect(row.locator(".waiting")).to_have_text("1", timeout=5_000)
            screenshot(page, "wallboard")
            caller.send("hangup")
            caller.wait_for("ended", timeout=10)
        finally:
            caller.close()
        expect(row.locator(".waiting")).to_have_text("0", timeout=5_000)
    finally:
        agent.close()


# ------------------------------------------------------- languages, live, a11y


def test_the_persian_desk_reads_right_to_left(env: Env, browser: Browser) -> None:
    page = new_page(browser)
    sign_in(page, env, "bob")  # bob's language is fa
    expect(page.get_by_role("heading", name="وضعیت من")).to_be_visible()
    html = page.locator("html")
    expect(html).to_have_attribute("lang", "fa")
    expect(html).to_have_attribute("dir", "rtl")
    side = page.get_by_role("heading", name="وضعیت من").bounding_box()
    work = page.get_by_role("heading", name="کارهای من").bounding_box()
    assert side is not None and work is not None
    assert side["x"] > work["x"]  # the first column stands on the right
    clock = page.locator(".clock")
    expect(clock).to_have_text(re.compile("^[۰-۹]{2}:[۰-۹]{2}$"))  # Persian digits
    no_serious_axe_problems(page)
    screenshot(page, "agent-persian")
    page.get_by_label("زبان").select_option("km")
    expect(page.get_by_role("heading", name="ស្ថានភាពរបស់ខ្ញុំ")).to_be_visible()
    expect(html).to_have_attribute("dir", "ltr")
    page.reload()  # the choice is kept for bob
    expect(page.locator("html")).to_have_attribute("lang", "km")


def test_live_updates_come_back_after_a_restart_and_the_page_says_when_they_stop(
    env: Env, browser: Browser
) -> None:
    page = new_page(browser)
    sign_in(page, env, "ops")
    expect(page.locator('tr[data-agent="alice"] .state')).to_have_text("Offline")
    status = page.locator("#live-status")
    expect(status).to_have_text("")
    assert env.sw.terminate(timeout=30) == 0
    expect(status).to_have_text("Live updates stopped. Reconnecting…", timeout=10_000)
    env.sw.start(timeout=60)
    expect(status).to_have_text("", timeout=30_000)  # back, with the same session
    register(env, "1001")
    expect(page.locator('tr[data-agent="alice"] .state')).to_have_text("Available", timeout=15_000)


def test_the_reply_counter_counts_as_the_switch_encodes(env: Env, browser: Browser) -> None:
    texts = [
        "",
        "a" * 160,
        "a" * 161,
        "{" * 80,
        "{" * 81,
        "a" * 152 + "€",
        "a" * 153 + "€" + "b",
        "ស" * 70,
        "ស" * 71,
        "😀" * 35,
        "😀" * 36,
        "a" * 66 + "😀",
        "Ça coûte 5€ [promo]",
        "سلام، سفارش شما آماده است",
        "x" * 1000,
    ]
    page = new_page(browser)
    page.goto(env.url + "/")
    got: list[dict[str, Any]] = page.evaluate(
        """async (texts) => {
            const { smsInfo } = await import('/desktop/sms.js');
            return texts.map((text) => smsInfo(text));
        }""",
        texts,
    )
    for text, info in zip(texts, got, strict=True):
        parts, encoding = sms_parts_needed(text)
        assert (info["parts"], info["encoding"]) == (parts, encoding), text[:20]


def test_axe_finds_what_it_should(browser: Browser) -> None:
    page = new_page(browser)
    page.set_content("<html lang='en'><body><main><input type='text'></main></body></html>")
    assert any(p["id"] == "label" for p in axe_problems(page))  # the check works
