"""Role limits of signed-in people (switch/api/access.py), every one through the API:
403 with the error body when a role may not, the route's own answer when it may."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from actors.agent import AgentEvent
from actors.messages import JourneyEntry
from actors.store import Put, Write
from base.clock import FakeClock
from switch.api.access import RULES, decide
from switch.api.app import create_api
from switch.api.calls import call_routers
from switch.api.sms import sms_routers
from switch.center.api import center_routers
from switch.config import parse_config
from switch.core import Core
from switch.passwords import hash_password
from switch.store import Store

PW = "password-for-tests"
HASH = hash_password(PW)
TOKEN = "secret-token-for-tests"
TECH_TOKEN = "tech-token-for-tests"


@pytest.fixture
async def core(tmp_path: Path) -> AsyncIterator[Core]:
    cfg = parse_config(
        {
            "store": {"path": str(tmp_path / "s.db")},
            "api": {"tokens": [TOKEN], "technician_tokens": [TECH_TOKEN]},
            "queues": [{"id": "support"}],
            "agents": [
                {"id": "alice", "password_hash": HASH},
                {"id": "bob", "password_hash": HASH},
            ],
            "users": [
                {"id": "ops", "role": "operator", "password_hash": HASH},
                {"id": "tech", "role": "technician", "password_hash": HASH},
            ],
        }
    )
    c = Core(cfg, await Store.open(cfg.store.path), FakeClock())
    await c.start_contact_center()
    yield c
    await c.close()


class Person:
    def __init__(self, client: httpx.AsyncClient, csrf: str) -> None:
        self.c, self.csrf = client, csrf

    async def get(self, path: str) -> httpx.Response:
        return await self.c.get(path)

    async def post(self, path: str, body: Any = None) -> httpx.Response:
        return await self.c.post(path, json=body or {}, headers={"X-CSRF-Token": self.csrf})


@pytest.fixture
async def people(core: Core) -> AsyncIterator[dict[str, Person]]:
    app = create_api(core, [*center_routers(), *sms_routers(), *call_routers()])
    out: dict[str, Person] = {}
    clients = []
    for user in ("alice", "bob", "ops", "tech"):
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        clients.append(client)
        r = await client.post("/api/v1/login", json={"user": user, "password": PW})
        assert r.status_code == 200, r.text
        out[user] = Person(client, r.json()["csrf"])
    yield out
    for client in clients:
        await client.aclose()


def forbidden(r: httpx.Response) -> bool:
    return (
        r.status_code == 403
        and r.json()["error"]["code"] == "forbidden"
        and bool(r.json()["error"]["message"])
    )


async def contact_served_by(core: Core, agent: str, phone: str) -> str:
    contact_id = await core.directory.contact_for(f"phone:{phone}")
    entry = JourneyEntry(
        "voice", "call_answered", core.clock.now(), {"agent": agent, "call_id": "c" + phone[-4:]}
    )
    await core.registry.ask(f"contact:{contact_id}", entry)
    return contact_id


# ---------------------------------------------------------------------- agents


async def test_an_agent_sees_and_changes_only_their_own_state(people: Any) -> None:
    alice = people["alice"]
    assert forbidden(await alice.get("/api/v1/agents"))
    assert forbidden(await alice.get("/api/v1/agents/bob"))
    assert forbidden(await alice.post("/api/v1/agents/bob/state", {"state": "offline"}))
    assert (await alice.get("/api/v1/agents/alice")).status_code == 200
    r = await alice.post("/api/v1/agents/alice/state", {"state": "break", "reason": "tea"})
    assert r.status_code == 200


async def test_an_agent_may_not_touch_modems_trunks_audit_or_raw_messages(people: Any) -> None:
    alice = people["alice"]
    assert forbidden(await alice.get("/api/v1/modems"))
    assert forbidden(await alice.post("/api/v1/modems/gsm1/diagnose"))
    assert forbidden(await alice.post("/api/v1/modems/gsm1/ussd", {"code": "*124#"}))
    assert forbidden(await alice.post("/api/v1/modems/gsm1/at", {"command": "AT"}))
    assert forbidden(await alice.post("/api/v1/trunks/provider1/test"))
    assert forbidden(await alice.get("/api/v1/audit"))
    assert forbidden(await alice.post("/api/v1/messages", {"to": "+85512345678", "text": "x"}))
    assert forbidden(await alice.get("/api/v1/calls"))
    assert forbidden(await alice.get("/api/v1/queues/support"))  # who waits: operators
    assert (await alice.get("/api/v1/queues")).status_code == 200  # the counts: yes


async def test_an_agent_lists_only_their_own_conversations(people: Any) -> None:
    alice = people["alice"]
    assert forbidden(await alice.get("/api/v1/conversations"))
    assert forbidden(await alice.get("/api/v1/conversations?agent=bob"))
    assert (await alice.get("/api/v1/conversations?agent=alice")).status_code == 200


async def test_an_agent_reads_and_writes_only_the_contacts_they_serve(
    core: Core, people: Any
) -> None:
    alice, bob = people["alice"], people["bob"]
    theirs = await contact_served_by(core, "alice", "+85512345678")
    assert (await alice.get(f"/api/v1/contacts/{theirs}/journey")).status_code == 200
    assert (await alice.get(f"/api/v1/contacts/{theirs}")).status_code == 200
    note = {"text": "called back", "author": "alice"}
    assert (await alice.post(f"/api/v1/contacts/{theirs}/notes", note)).status_code == 201
    for path in (f"/api/v1/contacts/{theirs}", f"/api/v1/contacts/{theirs}/journey"):
        assert forbidden(await bob.get(path))
    assert forbidden(await bob.post(f"/api/v1/contacts/{theirs}/notes", note))
    assert forbidden(await bob.post(f"/api/v1/contacts/{theirs}/messages", {"text": "hi"}))
    assert forbidden(await bob.post(f"/api/v1/contacts/{theirs}/conversation/close"))
    assert forbidden(await alice.post(f"/api/v1/contacts/{theirs}/merge", {"other": "x"}))
    # search by number: any agent may (to call a number), and gets the contact
    found = await bob.get("/api/v1/contacts?phone=%2B85512345678")
    assert found.status_code == 200 and found.json()[0]["id"] == theirs


async def test_an_agent_sees_and_types_in_only_the_web_chats_they_serve(
    core: Core, people: Any
) -> None:
    alice, bob = people["alice"], people["bob"]
    theirs = await contact_served_by(core, "alice", "+85512345678")
    chat = await alice.get(f"/api/v1/contacts/{theirs}/chat")
    assert chat.status_code == 200 and chat.json()["contact_id"] == theirs
    typing = await alice.post(f"/api/v1/contacts/{theirs}/typing", {"agent": "alice"})
    assert typing.status_code == 200 and typing.json()["pages"] == 0
    assert forbidden(await alice.post(f"/api/v1/contacts/{theirs}/typing", {"agent": "bob"}))
    assert forbidden(await bob.get(f"/api/v1/contacts/{theirs}/chat"))
    assert forbidden(await bob.post(f"/api/v1/contacts/{theirs}/typing", {"agent": "bob"}))


async def test_an_agent_replies_only_as_themselves(core: Core, people: Any) -> None:
    alice = people["alice"]
    theirs = await contact_served_by(core, "alice", "+85512345678")
    r = await alice.post(f"/api/v1/contacts/{theirs}/messages", {"text": "hi", "agent": "bob"})
    assert forbidden(r)
    r = await alice.post(f"/api/v1/contacts/{theirs}/messages", {"text": "hi", "agent": "alice"})
    assert r.status_code == 503  # allowed; no modem in this box


async def test_an_open_conversation_or_a_ringing_call_makes_the_contact_theirs(
    core: Core, people: Any
) -> None:
    bob = people["bob"]
    contact_id = await core.directory.contact_for("phone:+85599887766")
    path = f"/api/v1/contacts/{contact_id}/journey"
    assert forbidden(await bob.get(path))
    record = {"contact_id": contact_id, "channel": "sms", "state": "assigned", "agent": "bob"}
    await core.store.write(Write(puts=(Put("conversation", f"{contact_id}.sms", record),)))
    assert (await bob.get(path)).status_code == 200
    await core.store.write(Write(puts=(Put("conversation", f"{contact_id}.sms", None),)))
    assert forbidden(await bob.get(path))
    await core.store.write(
        Write(
            puts=(Put("call", "call-1", {"id": "call-1", "contact_id": contact_id, "agent": None}),)
        )
    )
    now = core.clock.now()
    await core.registry.ask("agent:bob", AgentEvent("registered", now))
    await core.registry.ask("agent:bob", AgentEvent("ring", now, "call-1"))
    assert (await bob.get(path)).status_code == 200
    assert (await bob.get("/api/v1/calls/call-1")).status_code == 503  # allowed: no SIP here
    assert forbidden(await people["alice"].get("/api/v1/calls/call-1"))
    # the agent of a call finishes its consult transfer (hand over, or back); nobody else
    for how in ("complete", "cancel"):
        path = f"/api/v1/calls/call-1/transfer/{how}"
        assert (await bob.post(path, None)).status_code == 503  # allowed: no SIP here
        assert forbidden(await people["alice"].post(path, None))


async def test_an_agent_calls_out_only_as_themselves(people: Any) -> None:
    alice = people["alice"]
    assert forbidden(await alice.post("/api/v1/calls", {"agent": "bob", "to": "+85512345678"}))
    r = await alice.post("/api/v1/calls", {"agent": "alice", "to": "+85512345678"})
    assert r.status_code == 503  # allowed; no SIP in this box


# ------------------------------------------------------ operators, technicians


async def test_an_operator_sees_the_box_but_not_raw_modem_commands(people: Any) -> None:
    ops = people["ops"]
    assert (await ops.get("/api/v1/agents")).status_code == 200
    assert (await ops.get("/api/v1/queues/support")).status_code == 200
    assert (await ops.get("/api/v1/audit")).status_code == 200
    assert (await ops.get("/api/v1/conversations")).status_code == 200
    assert (await ops.post("/api/v1/agents/alice/state", {"state": "offline"})).status_code == 200
    assert (await ops.get("/api/v1/modems")).status_code == 503  # allowed; no modem
    assert forbidden(await ops.post("/api/v1/modems/gsm1/at", {"command": "AT"}))
    assert forbidden(await ops.post("/api/v1/modems/gsm1/ussd", {"code": "*124#"}))


async def test_a_technician_gets_modems_trunks_and_the_audit_trail_only(people: Any) -> None:
    tech = people["tech"]
    assert (await tech.get("/api/v1/audit")).status_code == 200
    assert (await tech.post("/api/v1/modems/gsm1/at", {"command": "AT"})).status_code == 503
    assert (await tech.post("/api/v1/modems/gsm1/ussd", {"code": "*124#"})).status_code == 503
    for path in ("/api/v1/agents", "/api/v1/queues", "/api/v1/conversations"):
        assert forbidden(await tech.get(path)), path
    assert forbidden(await tech.post("/api/v1/agents/alice/state", {"state": "offline"}))


async def test_the_boxs_health_and_a_reload_are_for_operators_and_technicians(
    people: Any,
) -> None:
    for who in ("tech", "ops"):
        assert (await people[who].get("/api/v1/health")).status_code == 200, who
        # allowed, but this core runs no file to reload: 503, not 403
        assert (await people[who].post("/api/v1/config/reload")).status_code == 503, who
    assert forbidden(await people["alice"].get("/api/v1/health"))
    assert forbidden(await people["alice"].post("/api/v1/config/reload"))


async def test_tokens_keep_their_old_limits(core: Core) -> None:
    app = create_api(core, [*center_routers(), *sms_routers()])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        plain = {"Authorization": f"Bearer {TOKEN}"}
        tech = {"Authorization": f"Bearer {TECH_TOKEN}"}
        assert (await c.get("/api/v1/agents", headers=plain)).status_code == 200
        assert forbidden(await c.get("/api/v1/audit", headers=plain))
        assert (await c.get("/api/v1/audit", headers=tech)).status_code == 200
        r = await c.post("/api/v1/modems/gsm1/at", json={"command": "AT"}, headers=plain)
        assert forbidden(r)


# ------------------------------------------------------------------ the table


def test_a_route_missing_from_the_table_is_for_operators_only() -> None:
    assert decide("operator", "GET", "/api/v1/something-new") == "allow"
    assert decide("agent", "GET", "/api/v1/something-new") == "deny"
    assert decide("technician", "GET", "/api/v1/something-new") == "deny"


def test_no_rule_lets_an_agent_near_modems_or_the_audit_trail() -> None:
    for (method, path), rule in RULES.items():
        if path.startswith(("/modems", "/audit", "/trunks", "/simulator")):
            assert rule.agent is None and "agent" not in rule.roles, (method, path)
            assert decide("agent", method, "/api/v1" + path) == "deny"
