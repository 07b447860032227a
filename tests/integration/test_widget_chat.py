"""The web chat end to end, without a browser: `switch run` (simulated modem, SIP edge),
the agents' side through the API, and customers' pages played by WebSocket clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.widget_env import CUSTOMER, SHOP, WidgetEnv, running_widget_switch

pytestmark = pytest.mark.integration


@pytest.fixture
def env(tmp_path: Path) -> Iterator[WidgetEnv]:
    with running_widget_switch(tmp_path) as env:
        yield env


def chat_of(env: WidgetEnv, contact_id: str) -> dict[str, Any]:
    status, body = env.api("GET", f"/api/v1/contacts/{contact_id}/chat")
    assert status == 200, body
    return dict(body)


def kinds(journey: list[dict[str, Any]], channel: str | None = None) -> list[str]:
    return [e["kind"] for e in journey if channel is None or e["channel"] == channel]


async def test_a_chat_reaches_an_agent_whose_answer_the_page_gets_with_delivery_states(
    env: WidgetEnv,
) -> None:
    env.sign_in("alice")
    page = env.visitor()
    welcome = await page.open()
    assert welcome["history"] == [] and welcome["queue"] == "open"
    sent = await page.say("My bike's chain broke", "m1")
    assert sent["type"] == "sent" and sent["message"]["status"] == "sent"
    # The agent gets the chat: the page hears who answers, and its message is delivered.
    joined = await page.next("conversation", lambda f: f["state"] == "assigned")
    assert joined["agent"] == "Alice"
    [conv] = env.wait_api("/api/v1/conversations?agent=alice", lambda cs: len(cs) == 1)
    assert (conv["channel"], conv["state"]) == ("chat", "assigned")
    contact = conv["contact_id"]
    journey = env.journey(contact)
    first = next(e for e in journey if e["kind"] == "message_in")
    assert (first["channel"], first["via"], first["text"]) == (
        "chat",
        "widget",
        sent["message"]["text"],
    )
    assert first["from"] == f"web:{page.visitor_id}"
    assert chat_of(env, contact)["messages"][0]["status"] == "delivered"

    # Typing both ways.
    status, body = env.api("POST", f"/api/v1/contacts/{contact}/typing", {"agent": "alice"})
    assert status == 200 and body["pages"] == 1
    typing = await page.next("typing")
    assert typing["on"] is True and typing["agent"] == "Alice"
    await page.put(type="typing", on=True)
    env.wait_api(f"/api/v1/contacts/{contact}/chat", lambda c: c["typing"] and c["online"])

    # The agent answers through the API (no channel: the open chat).
    status, body = env.api(
        "POST",
        f"/api/v1/contacts/{contact}/messages",
        {"text": "We can fix it today", "agent": "alice"},
    )
    assert status == 202, body
    answer = await page.next("message", lambda f: f["message"]["dir"] == "out")
    assert (
        answer["message"]["text"] == "We can fix it today" and answer["message"]["agent"] == "Alice"
    )
    assert answer["message"]["id"] == body["id"]
    view = chat_of(env, contact)
    assert [m["status"] for m in view["messages"]] == ["read", "sent"]  # hers: not yet seen
    await page.put(type="seen", ids=[body["id"]], status="delivered")
    env.wait_api(
        f"/api/v1/contacts/{contact}/chat", lambda c: c["messages"][-1]["status"] == "delivered"
    )
    await page.put(type="seen", ids=[body["id"]], status="read")
    env.wait_api(
        f"/api/v1/contacts/{contact}/chat", lambda c: c["messages"][-1]["status"] == "read"
    )
    await page.put(type="seen", ids=[body["id"]], status="delivered")  # never backwards
    await page.drain(0.3)
    assert chat_of(env, contact)["messages"][-1]["status"] == "read"
    journey = env.journey(contact)
    assert kinds(journey, "chat") == ["message_in", "queued", "dequeued", "message_out"]
    await page.close()


async def test_history_survives_a_reconnect_and_a_message_sent_twice_is_recorded_once(
    env: WidgetEnv,
) -> None:
    page = env.visitor()
    await page.open()
    first = await page.say("Do you rent bikes?", "q1")
    await page.next("message", lambda f: f["message"]["dir"] == "out")  # nobody there: the
    await page.close()  # switch's automatic answer, before the visitor goes
    await page.connect()  # the same browser later: same cookie
    welcome = await page.next("welcome")
    texts = [m["text"] for m in welcome["history"]]
    assert texts[0] == "Do you rent bikes?" and welcome["history"][0]["dir"] == "in"
    assert texts[1:] and welcome["history"][1]["auto"] is True  # nobody there: the switch's
    again = await page.say("Do you rent bikes?", "q1")  # resent after the reconnect
    assert again["message"]["id"] == first["message"]["id"]
    contact = contact_of_visitor(env, page.visitor_id)
    assert kinds(env.journey(contact), "chat").count("message_in") == 1
    await page.close()


def contact_of_visitor(env: WidgetEnv, visitor: str) -> str:
    """The contact a visitor's last message went to (the switch logs it)."""
    found = [
        e["contact_id"]
        for e in env.sw.log_events()
        if e.get("event") == "widget_message" and e.get("visitor") == visitor
    ]
    assert found, f"no message of visitor {visitor}"
    return str(found[-1])


async def test_two_visitors_are_two_contacts_and_never_see_each_other(env: WidgetEnv) -> None:
    env.sign_in("alice")
    one, two = env.visitor(), env.visitor()
    await one.open()
    await two.open()
    assert one.visitor_id != two.visitor_id
    await one.say("<img src=x onerror=alert(1)> from one", "a")
    await two.say("from two", "b")
    a, b = contact_of_visitor(env, one.visitor_id), contact_of_visitor(env, two.visitor_id)
    assert a != b
    status, body = env.api(
        "POST", f"/api/v1/contacts/{a}/messages", {"text": "for one", "channel": "chat"}
    )
    assert status == 202, body
    got = await one.next("message", lambda f: f["message"]["text"] == "for one")
    assert got["message"]["auto"] is False  # (no agent named: the business answers)
    frames = await two.drain(1.0)
    texts = [f["message"]["text"] for f in frames if f["type"] in ("message", "sent")]
    assert "for one" not in texts and not any("from one" in t for t in texts)
    # what a customer wrote is kept as text, byte for byte (pages show it as text)
    journey = env.journey(a)
    assert any(e.get("text") == "<img src=x onerror=alert(1)> from one" for e in journey)
    await one.close()
    await two.close()


async def test_a_proven_number_joins_the_web_identity_to_the_phone_contact(
    env: WidgetEnv,
) -> None:
    assert env.modem is not None
    env.modem.deliver_sms_sync(CUSTOMER, "Is my bike ready?")  # the number's own history
    phone_contact = env.wait_api(
        f"/api/v1/contacts?phone=%2B{CUSTOMER[1:]}", lambda cs: len(cs) == 1, timeout=20
    )[0]["id"]
    page = env.visitor()
    await page.open()
    await page.say("Hello from the web", "w1")
    web_contact = contact_of_visitor(env, page.visitor_id)
    assert web_contact != phone_contact

    await page.put(type="phone", number="012 345 678")  # national, as people write it
    sent = await page.next("verify")
    assert sent["state"] == "code_sent" and sent["phone"] == CUSTOMER
    code = env.wait_code(CUSTOMER)
    wrong = "000000" if code != "000000" else "111111"
    await page.put(type="code", code=wrong)
    refused = await page.next("verify")
    assert (refused["state"], refused["reason"], refused["left"]) == ("refused", "wrong_code", 2)
    assert f"web:{page.visitor_id}" not in env.contact_of(CUSTOMER)["identities"]  # no merge

    await page.put(type="code", code=code)
    proven = await page.next("verify")
    assert proven["state"] == "verified" and proven["phone"] == CUSTOMER
    contact = env.contact_of(CUSTOMER)
    assert contact["id"] == phone_contact and f"web:{page.visitor_id}" in contact["identities"]
    assert web_contact in contact["merged_from"]
    journey = env.journey(phone_contact)
    assert ("sms", "message_in") in [(e["channel"], e["kind"]) for e in journey]
    assert ("chat", "message_in") in [(e["channel"], e["kind"]) for e in journey]
    # the visitor's next message lands in the phone contact, and their history is whole
    await page.say("Still there?", "w2")
    assert contact_of_visitor(env, page.visitor_id) == phone_contact
    await page.close()
    await page.connect()
    welcome = await page.next("welcome")
    assert welcome["verified"] == CUSTOMER
    assert [m["text"] for m in welcome["history"] if m["dir"] == "in"] == [
        "Hello from the web",
        "Still there?",
    ]
    await page.close()


async def test_three_wrong_codes_lock_the_number_for_everybody(env: WidgetEnv) -> None:
    page = env.visitor()
    await page.open()
    await page.say("hi", "h1")
    await page.put(type="phone", number=CUSTOMER)
    assert (await page.next("verify"))["state"] == "code_sent"
    code = env.wait_code(CUSTOMER)
    wrong = [c for c in ("000000", "111111", "222222", "333333") if c != code]
    for n in range(3):
        await page.put(type="code", code=wrong[n])
        refused = await page.next("verify")
    assert refused["reason"] == "locked" and refused["until"] > 0
    await page.put(type="code", code=code)  # the right code, too late
    assert (await page.next("verify"))["reason"] == "locked"
    other = env.visitor()  # another browser cannot try that number either
    await other.open()
    await other.put(type="phone", number=CUSTOMER)
    assert (await other.next("verify"))["reason"] == "locked"
    assert len(env.codes_sent_to(CUSTOMER)) == 1
    status, found = env.api("GET", f"/api/v1/contacts?phone=%2B{CUSTOMER[1:]}")
    assert status == 200 and all(f"web:{page.visitor_id}" not in c["identities"] for c in found)
    await page.close()
    await other.close()


async def test_origins_sizes_and_rates_are_checked(env: WidgetEnv) -> None:
    evil = env.visitor(origin="https://evil.example")
    response = await evil.session()
    assert response.status_code == 403 and response.json()["error"]["code"] == "origin"
    shop = env.visitor()
    response = await shop.session()
    assert response.headers["access-control-allow-origin"] == SHOP
    assert response.headers["access-control-allow-credentials"] == "true"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    async with httpx.AsyncClient() as client:  # the preflight of an allowed site
        pre = await client.options(f"{env.url}/widget/session", headers={"Origin": SHOP})
        assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == SHOP
        script = await client.get(f"{env.url}/widget.js")
        assert script.status_code == 200 and script.headers["access-control-allow-origin"] == "*"
        assert "javascript" in script.headers["content-type"]
    # another site's page with a visitor's cookie: refused
    evil.cookie = shop.cookie
    await evil.connect()
    assert await evil.closed_with() == 4403
    # no cookie, or a forged one
    nobody = env.visitor()
    await nobody.connect()
    assert await nobody.closed_with() == 4401
    forged = env.visitor(cookie=f"{shop.visitor_id}.forged-signature")
    await forged.connect()
    assert await forged.closed_with() == 4401

    await shop.open()
    too_long = await shop.say("x" * 2001, "big")
    assert (too_long["type"], too_long["code"]) == ("error", "too_long")
    await shop.put(type="send", id="bad id!", text="hi")
    assert (await shop.next("error"))["code"] == "invalid_frame"
    await shop.ws.send("not json")
    assert (await shop.next("error"))["code"] == "invalid_frame"
    answers = [await shop.say(f"message {n}", f"r{n}") for n in range(12)]
    assert [a["type"] for a in answers[:10]] == ["sent"] * 10  # a burst of 10, then wait
    assert answers[-1]["type"] == "error" and answers[-1]["code"] == "rate_limited"
    await shop.close()


async def test_no_answer_in_time_returns_the_chat_to_the_queue(env: WidgetEnv) -> None:
    env.sign_in("alice")
    page = env.visitor()
    await page.open()
    await page.say("Hello?", "n1")
    await page.next("conversation", lambda f: f["state"] == "assigned")
    # reply_timeout = 6 s: nobody answers, the chat goes back to the queue (and is
    # offered again: alice is the only agent)
    back = await page.next("conversation", lambda f: f["state"] == "queued", timeout=30)
    assert back["agent"] is None
    contact = contact_of_visitor(env, page.visitor_id)
    events = [e["event"] for e in env.sw.log_events() if e.get("contact_id") == contact]
    assert "conversation_assigned" in events
    await page.close()


async def test_with_nobody_there_the_page_is_told_and_an_sms_answer_waits_for_an_agent(
    env: WidgetEnv,
) -> None:
    page = env.visitor()
    welcome = await page.open()
    assert welcome["queue"] == "no_agents" and welcome["features"]["sms"]
    await page.say("Can I book a repair for Monday?", "s1")
    auto = await page.next("message", lambda f: f["message"]["dir"] == "out")
    assert auto["message"]["auto"] is True and "Nobody can answer" in auto["message"]["text"]
    await page.put(type="sms")
    assert (await page.next("error"))["code"] == "not_verified"  # a proven number first
    await page.put(type="phone", number=CUSTOMER)
    await page.next("verify", lambda f: f["state"] == "code_sent")
    await page.put(type="code", code=env.wait_code(CUSTOMER))
    await page.next("verify", lambda f: f["state"] == "verified")
    await page.put(type="sms")
    assert (await page.next("sms"))["phone"] == CUSTOMER
    contact = env.contact_of(CUSTOMER)["id"]
    queue = env.api("GET", "/api/v1/queues/support")[1]
    assert [(e["contact_id"], e["channel"]) for e in queue["entries"]] == [(contact, "sms")]
    env.sign_in("alice")  # someone comes: the question is theirs, answered by SMS
    [conv] = env.wait_api("/api/v1/conversations?agent=alice", lambda cs: len(cs) == 1, timeout=20)
    assert (conv["contact_id"], conv["channel"]) == (contact, "sms")
    status, body = env.api(
        "POST",
        f"/api/v1/contacts/{contact}/messages",
        {"text": "Monday 9:00 is free", "channel": "sms"},
    )
    assert status == 202, body
    assert env.modem is not None
    env.modem.wait_for_sync(
        lambda s: any(p["text"] == "Monday 9:00 is free" for p in s["sent"]), timeout=20
    )
    await page.close()


async def test_call_me_back_takes_the_chat_place_in_the_queue(env: WidgetEnv) -> None:
    env.sign_in("alice")
    status, _ = env.api("POST", "/api/v1/agents/alice/state", {"state": "break", "reason": "lunch"})
    assert status == 200
    other = env.visitor()  # somebody waits already
    await other.open()
    await other.say("first in line", "o1")
    page = env.visitor()
    await page.open()
    await page.say("Please call me", "c1")
    queue = env.wait_api("/api/v1/queues/support", lambda q: len(q["entries"]) == 2)
    assert [e["channel"] for e in queue["entries"]] == ["chat", "chat"]
    await page.put(type="phone", number=CUSTOMER)
    await page.next("verify", lambda f: f["state"] == "code_sent")
    await page.put(type="code", code=env.wait_code(CUSTOMER))
    await page.next("verify", lambda f: f["state"] == "verified")
    await page.put(type="callback")
    callback = await page.next("callback")
    assert callback["position"] == 2 and callback["state"] == "waiting"  # the chat's place
    queue = env.api("GET", "/api/v1/queues/support")[1]
    contact = env.contact_of(CUSTOMER)["id"]
    assert [(e["channel"], e["callback"]) for e in queue["entries"]] == [
        ("chat", False),
        ("voice", True),
    ]
    assert queue["entries"][1]["contact_id"] == contact
    view = env.api("GET", f"/api/v1/callbacks/{callback['id']}")[1]
    assert view["phone"] == CUSTOMER and view["position"] == 2
    journey = env.journey(contact)
    assert "callback_requested" in kinds(journey) and "message_in" in kinds(journey, "chat")
    await page.close()
    await other.close()


async def test_a_merge_moves_the_open_chat_with_its_agent(env: WidgetEnv) -> None:
    assert env.modem is not None
    env.modem.deliver_sms_sync(CUSTOMER, "hello by SMS")
    phone_contact = env.wait_api(
        f"/api/v1/contacts?phone=%2B{CUSTOMER[1:]}", lambda cs: len(cs) == 1, timeout=20
    )[0]["id"]
    env.sign_in("alice")  # (after the SMS: nobody was there, it got the automatic answer)
    page = env.visitor()
    await page.open()
    await page.say("It is me again, from the web", "m1")
    await page.next("conversation", lambda f: f["state"] == "assigned")
    web_contact = contact_of_visitor(env, page.visitor_id)
    await page.put(type="phone", number=CUSTOMER)
    await page.next("verify", lambda f: f["state"] == "code_sent")
    await page.put(type="code", code=env.wait_code(CUSTOMER))
    await page.next("verify", lambda f: f["state"] == "verified")
    [conv] = env.wait_api(
        "/api/v1/conversations?agent=alice",
        lambda cs: len(cs) == 1 and cs[0]["contact_id"] == phone_contact,
    )
    assert (conv["channel"], conv["state"]) == ("chat", "assigned")
    alice = env.api("GET", "/api/v1/agents/alice")[1]
    assert alice["chats"] == 1  # the same chat, not a second one
    # answering either contact id reaches the page (the merged-away one leads here)
    for target in (phone_contact, web_contact):
        status, body = env.api(
            "POST", f"/api/v1/contacts/{target}/messages", {"text": f"to {target}"}
        )
        assert status == 202, body
        await page.next("message", lambda f, t=target: f["message"]["text"] == f"to {t}")
    status, _ = env.api(
        "POST", f"/api/v1/contacts/{phone_contact}/conversation/close", {"channel": "chat"}
    )
    assert status == 200
    env.wait_api("/api/v1/agents/alice", lambda a: a["chats"] == 0)
    await page.close()
