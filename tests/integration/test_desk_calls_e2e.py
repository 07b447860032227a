"""Call controls in the desktop, in Chromium against `switch run` (the environment of
test_desktop_e2e, pjsua2 phones for the caller and the agents): a ringing call's offer
shows the answers the caller gave while waiting and the contact's open issues; Alice
consults Bob
while the customer waits on hold, goes back to the customer, then consults again and
hands over; an operator sees the calls of the moment live and listens in, then
whispers, from the console (the switch rings the phone the operator gives).
axe-core on the screens."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

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


def phone(sw: Env, user: str) -> Phone:
    """A pjsua2 phone registered at the edge as ``user``, answering by itself."""
    port = free_ports(1)
    sw.register(user, f"secret-{user}", port)
    return Phone(
        *("--port", str(port), "--rtp-port", str(free_ports(4)), "--user", user),
        "--auto-answer",
    )


@contextmanager
def customer_call(sw: Env) -> Iterator[Phone]:
    caller = Phone(
        *("--port", str(sw.trunk), "--rtp-port", str(free_ports(4))),
        *("--user", CALLER.lstrip("+"), "--call", f"sip:{DID}@127.0.0.1:{sw.edge}"),
    )
    try:
        caller.wait_for("state", timeout=15, state="CONFIRMED")
        yield caller
        caller.send("hangup")
        caller.wait_for("ended", timeout=10)
    finally:
        caller.close()


def state(sw: Env, agent: str, value: str) -> None:
    status, body = sw.api("POST", f"/api/v1/agents/{agent}/state", {"state": value})
    assert status == 200, body


def answered_by(sw: Env, agent: str) -> str:
    calls = sw.wait_api(
        "/api/v1/calls?active=true",
        lambda cs: len(cs) == 1 and cs[0]["state"] == "answered" and cs[0]["agent"] == agent,
        timeout=20,
    )
    return str(calls[0]["id"])


def desk_of_alice(sw: Env, chromium: Browser) -> Page:
    page = new_page(chromium)
    sign_in(page, sw, "alice")
    page.get_by_role("button", name="Available").click()
    expect(page.locator(".state-now")).to_have_text("Available", timeout=10_000)
    return page


def test_alice_consults_bob_goes_back_then_hands_the_customer_over(
    env: Env,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    alice, bob = phone(env, "1001"), phone(env, "1002")
    try:
        env.wait_api("/api/v1/agents/bob", lambda a: a["phone_registered"], timeout=15)
        state(env, "bob", "break")  # the customer's call goes to alice
        page = desk_of_alice(env, browser)
        with customer_call(env):
            call_id = answered_by(env, "alice")
            state(env, "bob", "available")
            form = page.get_by_role("form", name="Transfer the call")
            expect(form.get_by_role("button", name="Transfer", exact=True)).to_be_enabled(
                timeout=10_000
            )
            # a queue is handed over at once: no other way to choose
            form.get_by_label("Transfer to").select_option("queue")
            expect(form.get_by_label("How")).to_be_disabled()
            form.get_by_label("Transfer to").select_option("agent")
            form.get_by_label("Agent, queue or number").fill("bob")
            form.get_by_label("How").select_option("consult")
            form.get_by_label("Note for who takes the call").fill("Billing, wants a refund")
            form.get_by_role("button", name="Transfer", exact=True).click()
            bar = form.get_by_role("group", name="Transfer in progress")
            expect(bar).to_contain_text(
                "You are talking with bob; the customer waits on hold.", timeout=15_000
            )
            expect(form.get_by_role("button", name="Transfer", exact=True)).to_be_disabled()
            record = env.api("GET", f"/api/v1/calls/{call_id}")[1]
            assert record["transfer"]["mode"] == "consult", record
            assert record["transfer"]["state"] == "consulting" and record["agent"] == "alice"
            no_serious_axe_problems(page)
            screenshot(page, "desk-consult")

            # back to the customer: bob is hung up, alice keeps the call
            bar.get_by_role("button", name="Back to the customer").click()
            expect(form.get_by_role("status")).to_have_text(
                "Transfer cancelled: you are back with the customer.", timeout=10_000
            )
            expect(bar).to_be_hidden()
            record = env.wait_api(
                f"/api/v1/calls/{call_id}", lambda c: c["transfer"]["state"] == "cancelled"
            )
            assert record["agent"] == "alice", record
            bob.wait_for("ended", timeout=10)

            # again, and this time she hands the customer over
            env.wait_api("/api/v1/agents/bob", lambda a: a["state"] != "busy", timeout=15)
            state(env, "bob", "available")
            form.get_by_label("How").select_option("consult")
            form.get_by_label("Note for who takes the call").fill("Refund agreed: 12 USD")
            form.get_by_role("button", name="Transfer", exact=True).click()
            handover = bar.get_by_role("button", name="Hand over to bob")
            expect(handover).to_be_visible(timeout=15_000)
            handover.click()
            expect(form.get_by_role("status")).to_have_text("Transferred to bob.", timeout=10_000)
            expect(bar).to_be_hidden()
            record = env.wait_api(f"/api/v1/calls/{call_id}", lambda c: c["agent"] == "bob")
            assert record["transfer"]["state"] == "completed", record
            assert record["transfer"]["note"] == "Refund agreed: 12 USD", record
            alice.wait_for("ended", timeout=10)  # she is out of the call
            expect(form.get_by_role("button", name="Transfer", exact=True)).to_be_disabled()
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        alice.close()
        bob.close()
    env.wait_api("/api/v1/calls?active=true", lambda calls: calls == [], timeout=20)


def test_an_operator_sees_the_call_live_listens_in_then_whispers(
    env: Env,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    alice, bob = phone(env, "1001"), phone(env, "1002")  # bob's phone: the supervisor's
    try:
        env.wait_api("/api/v1/agents/bob", lambda a: a["phone_registered"], timeout=15)
        state(env, "bob", "break")
        page = new_page(browser)
        sign_in(page, env, "ops")
        calls = page.get_by_role("region", name="Calls now")
        expect(calls).to_contain_text("No call now.", timeout=10_000)
        with customer_call(env):
            call_id = answered_by(env, "alice")
            row = calls.locator(f'tr[data-call="{call_id}"]')
            expect(row).to_contain_text("012 777 888", timeout=10_000)  # live, no reload
            expect(row).to_contain_text("alice")
            expect(row).to_contain_text("talking")
            calls.get_by_label("Your phone for listening in").fill("1002")
            row.get_by_role("button", name="Listen in on alice").click()
            bob.wait_for("incoming", timeout=15)
            expect(row.locator(".supervisor")).to_have_text("ops: Listen", timeout=15_000)
            listen = row.get_by_role("button", name="Listen in on alice")
            expect(listen).to_have_attribute("aria-pressed", "true")
            record = env.api("GET", f"/api/v1/calls/{call_id}")[1]
            assert record["supervisor"] == {"mode": "listen", "by": "ops", "answered": True}

            row.get_by_role("button", name="Whisper to alice").click()
            expect(row.locator(".supervisor")).to_have_text("ops: Whisper", timeout=10_000)
            expect(listen).to_have_attribute("aria-pressed", "false")
            record = env.api("GET", f"/api/v1/calls/{call_id}")[1]
            assert record["supervisor"]["mode"] == "whisper", record
            no_serious_axe_problems(page)
            screenshot(page, "console-calls")
        bob.wait_for("ended", timeout=10)  # the call's end hangs the supervisor up
        expect(row).to_contain_text("ended", timeout=10_000)
        expect(calls).to_contain_text("No call now.", timeout=15_000)
        trail = page.get_by_role("region", name="Audit trail").locator("tbody tr")
        expect(trail.filter(has_text="call supervised")).to_have_count(2)  # audited, each
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        alice.close()
        bob.close()


@pytest.fixture
def asking_env(tmp_path: Path) -> Iterator[Env]:
    """test_desktop_e2e's switch with the DID routed to `support`, which asks a waiting
    caller for their account number."""

    def asking(text: str) -> str:
        return text.replace(
            'id = "support"\nmax_wait = 60',
            'id = "support"\nmax_wait = 60\nquestions = [{ id = "account", '
            'prompt = "account_number", kind = "digits", max_length = 4 }]\n'
            f'[[routes]]\nnumber = "{DID}"\nto = "queue:support"',
        )

    with desk_switch(tmp_path, asking) as made:
        yield made


def test_the_offer_shows_the_answers_given_while_waiting_and_the_open_issues(
    asking_env: Env,
    browser: Browser,  # noqa: F811
) -> None:
    env = asking_env  # noqa: F811
    env.modem.deliver_sms_sync(CALLER, "My router blinks red")
    [contact] = env.wait_api(f"/api/v1/contacts?phone=%2B{CALLER[1:]}", lambda cs: cs, timeout=20)
    for outcome, note in (("follow_up", "Sent a new router"), ("callback", "Check it works")):
        status, body = env.api(
            "POST",
            f"/api/v1/contacts/{contact['id']}/wrapup",
            {"disposition": outcome, "text": note},
        )
        assert status == 201, body
    port = free_ports(1)
    env.register("1001", "secret-1001", port)
    alice = Phone("--port", str(port), "--rtp-port", str(free_ports(4)), "--user", "1001")
    try:
        env.wait_api("/api/v1/agents/alice", lambda a: a["phone_registered"], timeout=15)
        state(env, "alice", "break")  # nobody free: the caller waits and is asked
        page = new_page(browser)
        sign_in(page, env, "alice")
        with customer_call(env) as caller:
            env.wait_api("/api/v1/calls?active=true", lambda cs: cs and cs[0]["queue"] == "support")
            time.sleep(1.0)  # the question's prompt has begun; a key cuts it short
            caller.send("dtmf 4821")
            env.wait_api(
                "/api/v1/calls?active=true",
                lambda cs: cs[0]["answers"] == [{"question": "account", "answer": "4821"}],
            )
            page.get_by_role("button", name="Available").click()
            alice.wait_for("incoming", timeout=20)
            offer = page.locator(".offer")
            expect(offer.get_by_role("heading", level=2)).to_have_text(
                "Incoming call: 012 777 888", timeout=10_000
            )
            answers = offer.locator(".answers")
            expect(answers.locator("dt")).to_have_text(["account"])
            expect(answers.locator("dd")).to_have_text(["4821"])
            issues = offer.locator(".issues li")
            expect(issues).to_have_count(2)
            expect(issues.nth(0)).to_contain_text("Needs follow-up")
            expect(issues.nth(0)).to_contain_text("Sent a new router")
            expect(issues.nth(1)).to_contain_text("Call back")
            no_serious_axe_problems(page)
            screenshot(page, "agent-offer-issues")
            alice.send("answer")
            expect(page.locator(".state-now")).to_have_text("Busy", timeout=10_000)
            # resolved: the next offer has no open issue
            wrap = page.get_by_role("tabpanel").get_by_role("form", name="Wrap-up")
            wrap.get_by_label("Outcome").select_option(label="Resolved")
            wrap.get_by_label("Wrap-up notes").fill("Router works")
            wrap.get_by_role("button", name="Save wrap-up").click()
            expect(wrap.get_by_role("status")).to_have_text("Wrap-up saved: Resolved.")
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        alice.close()
