"""HTTP API in-process: auth, error bodies, contacts and journeys."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from actors.messages import CallEvent, InboundMessage
from base.clock import FakeClock
from switch.api.app import create_api
from switch.config import parse_config
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


def is_error(resp: httpx.Response, status: int, code: str | None = None) -> bool:
    body: Any = resp.json()
    ok = resp.status_code == status and set(body["error"]) >= {"code", "message"}
    return ok and (code is None or body["error"]["code"] == code)


async def test_health_and_metrics_need_no_token(env: Any) -> None:
    _, c = env
    assert (await c.get("/healthz")).json() == {"status": "ok"}
    metrics = await c.get("/metrics")
    assert metrics.status_code == 200 and "switch_store_events_total" in metrics.text


async def test_missing_or_wrong_token_is_401_with_error_body(env: Any) -> None:
    _, c = env
    assert is_error(await c.get("/api/v1/contacts?phone=+85512345678"), 401, "unauthorized")
    bad = {"Authorization": "Bearer nope-nope-nope"}
    assert is_error(await c.get("/api/v1/contacts?phone=+85512345678", headers=bad), 401)
    assert is_error(await c.get("/api/v1/nothing-here"), 401)


async def test_unknown_phone_is_empty_list_and_invalid_phone_is_422(env: Any) -> None:
    _, c = env
    r = await c.get("/api/v1/contacts", params={"phone": "+85512345678"}, headers=AUTH)
    assert r.status_code == 200 and r.json() == []
    assert is_error(
        await c.get("/api/v1/contacts", params={"phone": "12ab"}, headers=AUTH),
        422,
        "invalid_phone",
    )
    assert is_error(await c.get("/api/v1/contacts", headers=AUTH), 422, "invalid_request")


async def test_unknown_ids_and_routes_are_404(env: Any) -> None:
    _, c = env
    assert is_error(await c.get("/api/v1/contacts/deadbeef", headers=AUTH), 404, "not_found")
    assert is_error(await c.get("/api/v1/contacts/deadbeef/journey", headers=AUTH), 404)
    assert is_error(await c.get("/api/v1/contacts/../../etc", headers=AUTH), 404)
    assert is_error(await c.get("/api/v1/nothing-here", headers=AUTH), 404)


async def test_malformed_json_and_bad_fields_are_4xx(env: Any) -> None:
    core, c = env
    cid = await core.directory.contact_for("phone:+85512345678")
    headers = {**AUTH, "Content-Type": "application/json"}
    r = await c.post(f"/api/v1/contacts/{cid}/notes", content=b"{bad", headers=headers)
    assert is_error(r, 400, "malformed_json")
    r = await c.post(f"/api/v1/contacts/{cid}/notes", json={"text": ""}, headers=AUTH)
    assert is_error(r, 422, "invalid_request") and "text" in r.json()["error"]["message"]
    r = await c.post(f"/api/v1/contacts/{cid}/notes", json={"text": "x", "evil": 1}, headers=AUTH)
    assert is_error(r, 422)


async def test_journey_across_channels_oldest_first(env: Any) -> None:
    core, c = env
    cid = await core.directory.contact_for("phone:+85512345678")
    ref = core.registry.ref(f"contact:{cid}")
    t = core.clock.now()
    await ref.ask(InboundMessage("sms", "gsm1", "+85512345678", "ជំរាបសួរ", t, "m1"))
    await ref.ask(CallEvent("call-1", "started", t + 5, via="provider1"))
    await ref.ask(CallEvent("call-1", "answered", t + 6, agent="alice"))
    await ref.ask(CallEvent("call-1", "ended", t + 9, cause="normal"))
    core.clock.advance(20)
    r = await c.post(
        f"/api/v1/contacts/{cid}/notes", json={"text": "wants a callback"}, headers=AUTH
    )
    assert r.status_code == 201
    found = (await c.get("/api/v1/contacts", params={"phone": "012345678"}, headers=AUTH)).json()
    assert [f["id"] for f in found] == [cid]
    journey = (await c.get(f"/api/v1/contacts/{cid}/journey", headers=AUTH)).json()
    assert [(j["channel"], j["kind"]) for j in journey] == [
        ("sms", "message_in"),
        ("voice", "channel_switched"),
        ("voice", "call_started"),
        ("voice", "call_answered"),
        ("voice", "call_ended"),
        ("note", "note"),
    ]
    assert journey[0]["text"] == "ជំរាបសួរ" and journey[3]["agent"] == "alice"
    assert journey[4]["cause"] == "normal"
    assert all(j["at"].endswith("Z") for j in journey)


async def test_merge_endpoint(env: Any) -> None:
    core, c = env
    a = await core.directory.contact_for("phone:+85512345678")
    b = await core.directory.contact_for("web:abc")
    r = await c.post(f"/api/v1/contacts/{a}/merge", json={"other": b}, headers=AUTH)
    assert r.status_code == 200 and "web:abc" in r.json()["identities"]
    r = await c.post(f"/api/v1/contacts/{a}/merge", json={"other": "ffff"}, headers=AUTH)
    assert is_error(r, 404)
    r = await c.post(f"/api/v1/contacts/{a}/unmerge", json={"other": b}, headers=AUTH)
    assert r.status_code == 200 and "web:abc" not in r.json()["identities"]


async def test_openapi_is_published(env: Any) -> None:
    _, c = env
    doc = (await c.get("/openapi.json")).json()
    assert "/api/v1/contacts/{contact_id}/journey" in doc["paths"]
