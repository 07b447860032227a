"""Contacts as people edit and find them: name and attributes (PATCH, audited), search
by a piece of a number, a name, a text said; linking identities (merge) and undoing it."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from actors.contact import ContactState, decide, evolve
from actors.messages import AddNote, InboundMessage, SetDetails
from base.clock import FakeClock
from switch.api.app import create_api
from switch.audit import AUDIT_LOG
from switch.config import parse_config
from switch.contact_search import needle
from switch.core import Core
from switch.store import Store

AUTH = {"Authorization": "Bearer secret-token-for-tests"}


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[Core, httpx.AsyncClient]]:
    cfg = parse_config(
        {"store": {"path": str(tmp_path / "s.db")}, "api": {"tokens": ["secret-token-for-tests"]}}
    )
    core = Core(cfg, await Store.open(cfg.store.path), FakeClock())
    transport = httpx.ASGITransport(app=create_api(core))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield core, client
    await core.close()


async def sms(core: Core, phone: str, text: str) -> str:
    cid = await core.directory.contact_for(f"phone:{phone}")
    message = InboundMessage(
        channel="sms",
        text=text,
        via="gsm1",
        sender=phone,
        message_id=f"m-{phone}-{text[:8]}",
        at=1.0,
    )
    await core.registry.ask(f"contact:{cid}", message)
    return cid


def test_details_are_decided_and_folded_purely() -> None:
    state = ContactState("c1", exists=True, name="old")
    change = SetDetails("Sokha", (("plan", "gold"),), "alice", 10.0)
    decision = decide(state, change, 10.0)
    assert decision.events == (
        ("details_changed", {"name": "Sokha", "attributes": {"plan": "gold"}, "by": "alice"}),
    )
    after = evolve(state, *decision.events[0][:1], 10.0, decision.events[0][1])
    assert after.name == "Sokha" and after.attributes == (("plan", "gold"),)
    assert after.journey_len == state.journey_len  # not a journey event
    assert decide(after, change, 11.0).events == ()  # nothing changed: nothing recorded
    assert after.to_json()["attributes"] == {"plan": "gold"}


def test_a_needle_is_what_the_log_stores() -> None:
    assert needle("012 345 678") == "12345678"  # the trunk prefix is not in E.164
    assert needle("+855 12 345") == "85512345"
    assert needle('say "hi"') == 'say \\"hi\\"'
    assert needle("សុខា") == "សុខា"


async def test_edit_name_and_attributes_then_find_by_them(env: Any) -> None:
    core, c = env
    cid = await sms(core, "+85512345678", "My router blinks red")
    other = await sms(core, "+85599888777", "hello")
    r = await c.patch(
        f"/api/v1/contacts/{cid}",
        json={"name": "Sokha Chan", "attributes": {"plan": "Fiber 50", "city": "Kampot"}},
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Sokha Chan"
    assert r.json()["attributes"] == {"plan": "Fiber 50", "city": "Kampot"}
    got = (await c.get(f"/api/v1/contacts/{cid}", headers=AUTH)).json()
    assert got["attributes"] == {"plan": "Fiber 50", "city": "Kampot"}

    async def ids(q: str) -> list[str]:
        r = await c.get("/api/v1/contacts", params={"q": q}, headers=AUTH)
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()]

    assert await ids("sokha") == [cid]  # a name, in any case
    assert await ids("kampot") == [cid]  # an attribute
    assert await ids("router blinks") == [cid]  # a text the customer sent
    assert await ids("012 345 678") == [cid]  # a whole number, as people write it
    assert await ids("345 67") == [cid]  # a piece of a number
    assert await ids("99888") == [other]
    assert await ids("nobody says this") == []
    # attributes are replaced as a whole; an empty name clears it
    r = await c.patch(f"/api/v1/contacts/{cid}", json={"name": " ", "attributes": {}}, headers=AUTH)
    assert r.json()["name"] is None and r.json()["attributes"] == {}
    events, _ = core.store.events_page([AUDIT_LOG])
    edits = [e.data for e in events if e.data["action"] == "contact.edit"]
    assert len(edits) == 2 and edits[0]["target"] == cid
    assert edits[0]["detail"]["attributes"] == {"plan": "Fiber 50", "city": "Kampot"}


async def test_bad_edits_and_searches_are_refused_with_nothing_changed(env: Any) -> None:
    core, c = env
    cid = await sms(core, "+85512345678", "hi")
    for body in (
        {"name": "x" * 201},
        {"attributes": {"": "v"}},
        {"attributes": {f"k{i}": "v" for i in range(31)}},
        {"attributes": {"k": "v" * 501}},
        {"colour": "red"},
    ):
        r = await c.patch(f"/api/v1/contacts/{cid}", json=body, headers=AUTH)
        assert r.status_code == 422, (body, r.text)
    assert (await c.get(f"/api/v1/contacts/{cid}", headers=AUTH)).json()["name"] is None
    r = await c.get("/api/v1/contacts", params={"q": "h"}, headers=AUTH)
    assert r.status_code == 422
    r = await c.get("/api/v1/contacts", params={"q": "hi", "phone": "+85512345678"}, headers=AUTH)
    assert r.status_code == 422
    assert (await c.patch("/api/v1/contacts/deadbeef", json={}, headers=AUTH)).status_code == 404


async def test_a_link_found_by_search_and_undone(env: Any) -> None:
    core, c = env
    one = await sms(core, "+85512345678", "first number")
    two = await sms(core, "+85599888777", "second number")
    await core.registry.ask(f"contact:{two}", AddNote("same person as 012 345 678", "ops", 1.0))
    r = await c.post(f"/api/v1/contacts/{one}/merge", json={"other": two}, headers=AUTH)
    assert r.status_code == 200 and "phone:+85599888777" in r.json()["identities"]
    # the merged-away contact's texts find the contact it became
    r = await c.get("/api/v1/contacts", params={"q": "second number"}, headers=AUTH)
    assert [x["id"] for x in r.json()] == [one]
    r = await c.patch(f"/api/v1/contacts/{two}", json={"name": "x"}, headers=AUTH)
    assert r.status_code == 409
    r = await c.post(f"/api/v1/contacts/{one}/unmerge", json={"other": two}, headers=AUTH)
    assert r.status_code == 200 and "phone:+85599888777" not in r.json()["identities"]
    r = await c.get("/api/v1/contacts", params={"q": "second number"}, headers=AUTH)
    assert [x["id"] for x in r.json()] == [two]


async def test_a_wrap_up_lands_in_the_journey_and_bad_ones_are_refused(env: Any) -> None:
    core, c = env
    cid = await sms(core, "+85512345678", "hi")
    path = f"/api/v1/contacts/{cid}/wrapup"
    body = {"disposition": "resolved", "text": "Reset the router", "call_id": "c-1"}
    assert (await c.post(path, json=body, headers=AUTH)).status_code == 201
    assert (await c.post(path, json={"disposition": "lost"}, headers=AUTH)).status_code == 422
    assert (await c.post(path, json={"text": "no outcome"}, headers=AUTH)).status_code == 422
    unknown = "/api/v1/contacts/deadbeef/wrapup"
    assert (await c.post(unknown, json={"disposition": "other"}, headers=AUTH)).status_code == 404
    journey = (await c.get(f"/api/v1/contacts/{cid}/journey", headers=AUTH)).json()
    wrap = [e for e in journey if e["kind"] == "wrap_up"]
    assert len(wrap) == 1 and wrap[0]["channel"] == "note"
    assert (wrap[0]["disposition"], wrap[0]["text"]) == ("resolved", "Reset the router")
    assert wrap[0]["call_id"] == "c-1" and wrap[0]["agent"] == "api"
