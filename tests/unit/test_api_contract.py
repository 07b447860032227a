"""The API as its OpenAPI document and README describe it: errors, methods, times,
phone numbers, merges, paging, the audit trail, and offline docs."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from actors.messages import AddNote
from base.clock import FakeClock
from base.errors import Rejected
from switch.api.app import create_api
from switch.api.sms import sms_routers
from switch.config import parse_config
from switch.core import Core
from switch.phone import PHONE_PATTERN
from switch.store import Store

TOKEN = "secret-token-for-tests"
TECH = "tech-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TECH_AUTH = {"Authorization": f"Bearer {TECH}"}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


class FakeModem:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def raw_at(self, command: str) -> list[str]:
        if "\r" in command:
            raise ValueError("one command per request")
        self.sent.append(command)
        return ["OK"]

    async def ussd(self, code: str) -> str:
        return "Balance 2.50$"


class FakeSms:
    """The modem side of the API, without a modem."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.modem = FakeModem()

    async def submit(self, to: str, text: str, **_: Any) -> str:
        self.core.normalize(to)
        return "out-1"

    def modem_slot(self, modem_id: str) -> Any:
        if modem_id != "gsm1":
            raise Rejected("not_found", f"modem {modem_id!r} not found", 404)
        return SimpleNamespace(modem=self.modem)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[Core, httpx.AsyncClient]]:
    cfg = parse_config(
        {
            "store": {"path": str(tmp_path / "s.db")},
            "api": {"tokens": [TOKEN], "technician_tokens": [TECH]},
        }
    )
    core = Core(cfg, await Store.open(cfg.store.path), FakeClock(1_700_000_000.0))
    core.sms = FakeSms(core)  # type: ignore[assignment]
    transport = httpx.ASGITransport(app=create_api(core, sms_routers()), client=("10.1.2.3", 5))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield core, client
    await core.close()


# ------------------------------------------------------------------ the document


async def test_every_api_operation_documents_auth_and_its_errors(env: Any) -> None:
    _, c = env
    doc = (await c.get("/openapi.json")).json()
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["bearer"]["description"],
    }
    error = {"$ref": "#/components/schemas/ErrorBody"}
    for path, operations in doc["paths"].items():
        if not path.startswith("/api/v1"):
            continue
        for method, op in operations.items():
            where = f"{method} {path}"
            if path == "/api/v1/login":  # contract part 2: open to all, it limits itself
                assert op["security"] == [] and {"401", "429"} <= set(op["responses"])
                continue
            # contract part 2: a bearer token or a signed-in session's cookie
            assert op["security"] == [{"bearer": []}, {"session": []}], where
            expected = {"401", "422", "503"} | ({"404"} if "{" in path else set())
            if "requestBody" in op:
                expected |= {"400", "413"}
            assert expected <= set(op["responses"]), where
            for status, response in op["responses"].items():
                if status[0] in "45":
                    assert response["content"]["application/json"]["schema"] == error, where
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert "/api/v1/simulator/sms" in doc["paths"] and "/api/v1/audit" in doc["paths"]
    assert "403" in doc["paths"]["/api/v1/modems/{modem_id}/at"]["post"]["responses"]
    assert "409" in doc["paths"]["/api/v1/contacts/{contact_id}/merge"]["post"]["responses"]
    to = doc["components"]["schemas"]["MessageIn"]["properties"]["to"]
    assert to["pattern"] == PHONE_PATTERN and "E.164" in to["description"]


async def test_unknown_method_is_405_with_allow_and_unknown_path_404(env: Any) -> None:
    _, c = env
    r = await c.delete("/api/v1/messages", headers=AUTH)
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    assert r.headers["allow"] == "POST"
    r = await c.put("/api/v1/nothing-here", headers=AUTH)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert (await c.delete("/api/v1/messages")).status_code == 401  # the token first


async def test_docs_load_their_assets_from_the_switch_itself(env: Any) -> None:
    _, c = env
    page = await c.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert urls and not [u for u in urls if "//" in u], urls
    for url in urls:
        asset = await c.get(url)
        assert asset.status_code == 200 and len(asset.content) > 1000, url
    assert (await c.get("/redoc")).status_code == 404


# ------------------------------------------------------------------ values


async def test_times_are_iso_8601_with_zone(env: Any) -> None:
    core, c = env
    cid = await core.directory.contact_for("phone:+85512345678")
    await core.registry.ask(f"contact:{cid}", AddNote("hello", "ops", core.clock.now()))
    contact = (await c.get(f"/api/v1/contacts/{cid}", headers=AUTH)).json()
    assert ISO.match(contact["created_at"]) and ISO.match(contact["last_at"])
    assert contact["created_at"].startswith("2023-11-14T22:13:20")
    [found] = (await c.get("/api/v1/contacts", params={"phone": "012345678"}, headers=AUTH)).json()
    assert found == contact


async def test_a_phone_valid_by_schema_but_not_a_number_is_422_invalid_phone(env: Any) -> None:
    _, c = env
    for bad in ("0", "+1", "12;AT", "abc"):
        r = await c.post("/api/v1/messages", json={"to": bad, "text": "hi"}, headers=AUTH)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_phone", bad
        r = await c.get("/api/v1/contacts", params={"phone": bad}, headers=AUTH)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_phone", bad


# ------------------------------------------------------------------ merges


async def test_merge_cycles_are_refused_with_409(env: Any) -> None:
    core, c = env
    a = await core.directory.contact_for("phone:+85512345678")
    b = await core.directory.contact_for("phone:+85512345679")
    r = await c.post(f"/api/v1/contacts/{b}/merge", json={"other": a}, headers=AUTH)
    assert r.status_code == 200 and r.json()["merged_from"] == [a]
    r = await c.post(f"/api/v1/contacts/{a}/merge", json={"other": b}, headers=AUTH)
    assert r.status_code == 409 and r.json()["error"]["code"] == "merged_away"
    assert b in r.json()["error"]["message"]
    r = await c.post(f"/api/v1/contacts/{b}/merge", json={"other": a}, headers=AUTH)
    assert r.status_code == 409  # already merged
    r = await c.post(f"/api/v1/contacts/{a}/merge", json={"other": a}, headers=AUTH)
    assert r.status_code == 422
    r = await c.post(f"/api/v1/contacts/{a}/unmerge", json={"other": b}, headers=AUTH)
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_merged"


async def test_crossing_merges_do_not_deadlock_and_one_of_them_wins(env: Any) -> None:
    import asyncio

    core, c = env
    a = await core.directory.contact_for("phone:+85512345678")
    b = await core.directory.contact_for("phone:+85512345679")
    one, two = await asyncio.wait_for(
        asyncio.gather(
            c.post(f"/api/v1/contacts/{b}/merge", json={"other": a}, headers=AUTH),
            c.post(f"/api/v1/contacts/{a}/merge", json={"other": b}, headers=AUTH),
        ),
        timeout=10,
    )
    assert sorted([one.status_code, two.status_code]) == [200, 409]


async def test_a_phone_lookup_never_returns_a_merged_away_contact(env: Any) -> None:
    core, c = env
    a = await core.directory.contact_for("phone:+85512345678")
    b = await core.directory.contact_for("phone:+85512345679")
    await c.post(f"/api/v1/contacts/{b}/merge", json={"other": a}, headers=AUTH)
    for phone in ("+85512345678", "+85512345679"):
        found = (await c.get("/api/v1/contacts", params={"phone": phone}, headers=AUTH)).json()
        assert [f["id"] for f in found] == [b], phone
    # a record left pointing at the merged-away contact (an older version's merge)
    await core.store.put("identity", "phone:+85512345678", a)
    found = (await c.get("/api/v1/contacts", params={"phone": "+85512345678"}, headers=AUTH)).json()
    assert [f["id"] for f in found] == [b]


# ------------------------------------------------------------------ paging


async def test_journey_pages_oldest_first_with_a_link_to_older_events(env: Any) -> None:
    core, c = env
    cid = await core.directory.contact_for("phone:+85512345678")
    for i in range(7):
        core.clock.advance(1)
        await core.registry.ask(f"contact:{cid}", AddNote(f"n{i}", "ops", core.clock.now()))
    url = f"/api/v1/contacts/{cid}/journey"
    r = await c.get(url, params={"limit": 3}, headers=AUTH)
    assert [e["text"] for e in r.json()] == ["n4", "n5", "n6"]
    texts = [e["text"] for e in r.json()]
    while "link" in r.headers:
        next_url = re.fullmatch(r'<([^>]+)>; rel="next"', r.headers["link"])
        assert next_url is not None
        r = await c.get(next_url.group(1), headers=AUTH)
        texts = [e["text"] for e in r.json()] + texts
    assert texts == [f"n{i}" for i in range(7)]
    full = await c.get(url, headers=AUTH)
    assert [e["text"] for e in full.json()] == texts and "link" not in full.headers


@pytest.mark.parametrize(
    "query",
    [
        {"limit": 0},
        {"limit": 1001},
        {"limit": "x"},
        {"before": "abc"},
        {"before": 0},
        {"before": 99},
    ],
)
async def test_nonsense_paging_is_422(env: Any, query: dict[str, Any]) -> None:
    core, c = env
    cid = await core.directory.contact_for("phone:+85512345678")
    r = await c.get(f"/api/v1/contacts/{cid}/journey", params=query, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"]["code"] in (
        "invalid_request",
        "invalid_cursor",
    )
    r = await c.get("/api/v1/audit", params=query, headers=TECH_AUTH)
    assert r.status_code == 422, query


# ------------------------------------------------------------------ audit


async def test_raw_at_ussd_and_merges_leave_an_audit_trail_for_technicians(env: Any) -> None:
    core, c = env
    r = await c.post("/api/v1/modems/gsm1/at", json={"command": "AT+CMGD=1,4"}, headers=TECH_AUTH)
    assert r.status_code == 200
    r = await c.post("/api/v1/modems/gsm1/at", json={"command": "AT\rATD1"}, headers=TECH_AUTH)
    assert r.status_code == 422
    r = await c.post("/api/v1/modems/gsm1/ussd", json={"code": "*124#"}, headers=AUTH)
    assert r.status_code == 200
    a = await core.directory.contact_for("phone:+85512345678")
    b = await core.directory.contact_for("phone:+85512345679")
    await c.post(f"/api/v1/contacts/{b}/merge", json={"other": a}, headers=AUTH)
    assert (await c.get("/api/v1/audit", headers=AUTH)).status_code == 403
    r = await c.get("/api/v1/audit", headers=TECH_AUTH)
    assert r.status_code == 200
    trail = [(e["action"], e["target"], e["outcome"], e["detail"]) for e in r.json()]
    assert trail == [
        ("modem.at", "gsm1", "ok", {"command": "AT+CMGD=1,4"}),
        ("modem.at", "gsm1", "invalid_command", {"command": "AT\rATD1"}),
        ("modem.ussd", "gsm1", "ok", {"code": "*124#"}),
        ("contact.merge", b, "ok", {"other": a}),
    ]
    first = r.json()[0]
    assert first["who"].startswith("api.technician_tokens[0] (") and first["role"] == "technician"
    assert first["source"] == "10.1.2.3" and ISO.match(first["at"])
    assert r.json()[2]["who"].startswith("api.tokens[0] (") and TOKEN not in str(r.json())
    r = await c.get("/api/v1/audit", params={"limit": 2}, headers=TECH_AUTH)
    assert [e["action"] for e in r.json()] == ["modem.ussd", "contact.merge"]
    assert 'rel="next"' in r.headers["link"]


async def test_an_unknown_query_parameter_is_422_not_ignored(env: Any) -> None:
    core, c = env
    cid = await core.directory.contact_for("phone:+85512345678")
    r = await c.get(f"/api/v1/contacts/{cid}/journey", params={"limt": 5}, headers=AUTH)
    assert r.status_code == 422 and "limt" in r.json()["error"]["message"]
    r = await c.get(f"/api/v1/contacts/{cid}/journey", params={"limit": 5}, headers=AUTH)
    assert r.status_code == 200
