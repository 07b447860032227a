"""Contacts in the desktop, in Chromium against `switch run` (the environment of
test_desktop_e2e): an operator finds a contact by what the customer wrote, edits its
name and details, links a second number of the same person and undoes the link; an
agent finds the contact by its new name; an agent wraps up a conversation with a
disposition and notes. axe-core on the screens."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.integration.kamailio_harness import free_ports
from tests.integration.test_desktop_e2e import (  # noqa: F401 (fixtures)
    CALLER,
    CUSTOMER,
    Env,
    browser,
    env,
    no_serious_axe_problems,
    sign_in,
)
from tests.web.browser import new_page, screenshot

pytestmark = pytest.mark.integration


def test_an_operator_edits_links_and_unlinks_a_contact(env: Env, browser: Browser) -> None:  # noqa: F811
    env.modem.deliver_sms_sync(CUSTOMER, "My router blinks red since Monday")
    env.modem.deliver_sms_sync(CALLER, "It is me again, from my other phone")
    env.wait_api(f"/api/v1/contacts?phone=%2B{CALLER[1:]}", lambda cs: len(cs) == 1, timeout=20)
    page = new_page(browser)
    sign_in(page, env, "ops")
    contacts = page.get_by_role("region", name="Contacts")
    contacts.get_by_label("Number, name or text").fill("router blinks")
    contacts.get_by_role("button", name="Search").click()
    expect(contacts.get_by_text("Found: 1")).to_be_visible(timeout=10_000)
    contacts.get_by_role("button", name="Open 012 345 678").click()
    card = contacts.get_by_role("article")
    expect(card.get_by_role("heading", level=3)).to_have_text("012 345 678")

    # name and details
    card.get_by_label("Name", exact=True).fill("Sokha Chan")
    card.get_by_role("button", name="Add a detail").click()
    card.get_by_role("textbox", name="Detail").fill("plan")
    card.get_by_role("textbox", name="Value").fill("Fiber 50")
    card.get_by_role("button", name="Save details").click()
    expect(card.get_by_role("heading", level=3)).to_have_text("Sokha Chan", timeout=10_000)
    expect(card.get_by_role("textbox", name="Value")).to_have_value("Fiber 50")
    customer = env.api("GET", f"/api/v1/contacts?phone=%2B{CUSTOMER[1:]}")[1][0]
    assert customer["name"] == "Sokha Chan" and customer["attributes"] == {"plan": "Fiber 50"}

    # link the other number of the same person, then undo it
    other = env.api("GET", f"/api/v1/contacts?phone=%2B{CALLER[1:]}")[1][0]
    card.get_by_label("Number of the same person").fill("012 777 888")
    card.get_by_role("button", name="Link", exact=True).click()
    undo = card.get_by_role("button", name=f"Undo the link with {other['id']}")
    expect(undo).to_be_visible(timeout=10_000)
    expect(card.get_by_text("012 777 888")).to_be_visible()
    merged = env.api("GET", f"/api/v1/contacts/{customer['id']}")[1]
    assert f"phone:{CALLER}" in merged["identities"]
    no_serious_axe_problems(page)
    screenshot(page, "console-contacts")
    undo.click()
    expect(card.get_by_text("No other contact linked.")).to_be_visible(timeout=10_000)
    back = env.api("GET", f"/api/v1/contacts/{customer['id']}")[1]
    assert f"phone:{CALLER}" not in back["identities"]
    assert env.api("GET", f"/api/v1/contacts/{other['id']}")[1]["merged_into"] is None
    assert page.errors == []  # type: ignore[attr-defined]

    # an agent finds the customer by the new name, and by a piece of the number
    desk = new_page(browser)
    sign_in(desk, env, "alice")
    search = desk.get_by_role("search")
    for text in ("sokha", "345 678"):
        search.get_by_label("Number, name or text").fill(text)
        search.get_by_role("button", name="Search").click()
        result = desk.locator(".result").filter(has_text="Sokha Chan")
        expect(result).to_be_visible(timeout=10_000)
        expect(result).to_contain_text("plan: Fiber 50")
    no_serious_axe_problems(desk)
    assert desk.errors == []  # type: ignore[attr-defined]


def test_an_agent_wraps_up_with_a_disposition_and_notes(env: Env, browser: Browser) -> None:  # noqa: F811
    env.register("1001", "secret-1001", free_ports(1))  # alice's phone: she can be reached
    page = new_page(browser)
    sign_in(page, env, "alice")
    page.get_by_role("button", name="Available").click()
    expect(page.locator(".state-now")).to_have_text("Available")
    # no [webrtc] on this switch: the desk says so, keeps the transfer for the desk phone
    phone = page.get_by_role("region", name="Browser phone")
    expect(phone.locator(".phone-status")).to_have_text(
        "No browser phone on this switch: answer on your desk phone."
    )
    expect(phone.get_by_role("button", name="Answer")).to_be_hidden()
    expect(phone.get_by_role("form", name="Transfer the call")).to_be_visible()
    env.modem.deliver_sms_sync(CUSTOMER, "Can I move my plan to next month?")
    panel = page.get_by_role("tabpanel")
    expect(panel.get_by_text("Can I move my plan to next month?")).to_be_visible(timeout=20_000)
    wrap = panel.get_by_role("form", name="Wrap-up")
    wrap.get_by_label("Wrap-up notes").fill("Moved to the March cycle")
    wrap.get_by_label("Outcome").select_option(label="Needs follow-up")
    wrap.get_by_role("button", name="Save wrap-up").click()
    expect(wrap.get_by_role("status")).to_have_text("Wrap-up saved: Needs follow-up.")
    event = panel.locator(".journey .wrap_up")
    expect(event).to_contain_text("Wrap-up", timeout=10_000)
    expect(event).to_contain_text("Needs follow-up")
    expect(event).to_contain_text("Moved to the March cycle")
    contact = env.api("GET", f"/api/v1/contacts?phone=%2B{CUSTOMER[1:]}")[1][0]
    journey = env.api("GET", f"/api/v1/contacts/{contact['id']}/journey")[1]
    wrap_up = [e for e in journey if e["kind"] == "wrap_up"]
    assert wrap_up[-1]["disposition"] == "follow_up" and wrap_up[-1]["agent"] == "alice"
    assert wrap_up[-1]["text"] == "Moved to the March cycle"
    no_serious_axe_problems(page)
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_long_journey_pages_back_in_the_desk_and_the_console(env: Env, browser: Browser) -> None:  # noqa: F811
    env.register("1001", "secret-1001", free_ports(1))
    env.modem.deliver_sms_sync(CUSTOMER, "The very first message")
    found = env.wait_api(f"/api/v1/contacts?phone=%2B{CUSTOMER[1:]}", lambda cs: cs, timeout=20)
    contact = found[0]["id"]
    for n in range(1, 106):  # more than a page of the desk's journey (100)
        status, body = env.api("POST", f"/api/v1/contacts/{contact}/notes", {"text": f"note {n}"})
        assert status == 201, body
    page = new_page(browser)
    sign_in(page, env, "alice")
    page.get_by_role("button", name="Available").click()
    env.modem.deliver_sms_sync(CUSTOMER, "And one more")
    panel = page.get_by_role("tabpanel")
    events = panel.locator(".journey > li")
    expect(panel.get_by_text("And one more")).to_be_visible(timeout=20_000)
    expect(events).to_have_count(100)
    expect(panel.get_by_text("The very first message")).to_have_count(0)
    whole = env.api("GET", f"/api/v1/contacts/{contact}/journey?limit=500")[1]
    assert len(whole) > 100
    older = panel.get_by_role("button", name="Show older events")
    older.click()
    expect(events).to_have_count(len(whole), timeout=10_000)
    expect(older).to_be_hidden()  # nothing older
    # newest first all along: the page added below is the journey's start, in order
    said = [e["text"] for e in reversed(whole) if e.get("text")]
    shown = [t for text in events.all_inner_texts() for t in text.split("\n") if t in said]
    assert shown == said, (shown[95:], said[95:])
    assert page.errors == []  # type: ignore[attr-defined]

    # the console's contact card shows the latest ten, and pages back the same way
    console = new_page(browser)
    sign_in(console, env, "ops")
    contacts = console.get_by_role("region", name="Contacts")
    contacts.get_by_label("Number, name or text").fill("very first message")
    contacts.get_by_role("button", name="Search").click()
    contacts.get_by_role("button", name="Open 012 345 678").click()
    card = contacts.get_by_role("article")
    latest = card.locator(".journey > li")
    expect(latest).to_have_count(10, timeout=10_000)
    card.get_by_role("button", name="Show older events").click()
    expect(latest).to_have_count(20, timeout=10_000)
    expect(card.get_by_role("button", name="Show older events")).to_be_visible()  # more remain
    no_serious_axe_problems(console)
    assert console.errors == []  # type: ignore[attr-defined]
