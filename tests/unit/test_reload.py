"""Config reload: the plan (what changes live, what needs a restart) and a running
core reloading through the API: queues, agents and skills change, an invalid file is
refused whole, keys read only at start are named and kept."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from actors.agent import AgentEvent
from actors.router import ROUTER, GetQueues
from base.clock import FakeClock
from switch.api.access import decide
from switch.api.app import create_api
from switch.audit import audit_page
from switch.center.api import center_routers
from switch.config import parse_config
from switch.core import Core
from switch.reload.plan import Change, plan_reload
from switch.reload.service import Reloader
from switch.store import Store

TOKEN = "secret-token-for-tests"
TECH = "tech-token-for-tests"


def base(store: str = "s.db", **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "store": {"path": store},
        "http": {"listen": "127.0.0.1:8080"},
        "api": {"tokens": [TOKEN], "technician_tokens": [TECH]},
        "queues": [{"id": "support"}],
        "agents": [{"id": "alice"}, {"id": "bob", "skills": ["km"]}],
        "routes": [{"number": "+85523900100", "to": "queue:support"}],
    }
    data.update(extra)
    return data


# ------------------------------------------------------------------ the plan


def test_same_config_changes_nothing() -> None:
    plan = plan_reload(parse_config(base()), parse_config(base()))
    assert not plan.changed and plan.applied == () and plan.restart == ()


def test_contact_center_changes_apply_and_are_named_by_entry() -> None:
    new = base(
        queues=[{"id": "support", "max_wait": 30}, {"id": "sales", "skills": ["km"]}],
        agents=[{"id": "alice", "skills": ["km"]}, {"id": "carol"}],
        routes=[{"number": "+85523900100", "to": "queue:sales"}],
    )
    plan = plan_reload(parse_config(base()), parse_config(new))
    assert set(plan.applied) == {
        Change("queues[support].max_wait", "changed"),
        Change("queues[sales]", "added"),
        Change("agents[alice].skills", "changed"),
        Change("agents[carol]", "added"),
        Change("agents[bob]", "removed"),
        Change("routes[+85523900100].to", "changed"),
    }
    assert plan.restart == ()
    assert [q.id for q in plan.effective.queues] == ["support", "sales"]


def test_keys_read_at_start_need_a_restart_and_keep_their_running_value() -> None:
    old = parse_config(base())
    new = parse_config(
        base(
            store="other.db",
            http={"listen": "127.0.0.1:9090"},
            queues=[{"id": "support"}, {"id": "sales"}],
            mqtt={"box_id": "shop-1"},
        )
    )
    plan = plan_reload(old, new)
    assert plan.applied == (Change("queues[sales]", "added"),)
    assert set(plan.restart) == {
        Change("store.path", "changed"),
        Change("http.listen", "changed"),
        Change("mqtt", "added"),
    }
    assert plan.effective.http.listen == "127.0.0.1:8080"
    assert plan.effective.store.path == "s.db"
    assert plan.effective.mqtt is None
    assert [q.id for q in plan.effective.queues] == ["support", "sales"]


def test_the_recordings_limits_change_live_while_the_rest_of_sip_waits() -> None:
    sip = {"listen": "127.0.0.1:5060", "record_calls": True, "recordings_keep_days": 90}
    old = parse_config(base(sip=sip))
    new = parse_config(base(sip={**sip, "listen": "127.0.0.1:5070", "recordings_keep_days": 30}))
    plan = plan_reload(old, new)
    assert plan.applied == (Change("sip.recordings_keep_days", "changed"),)
    assert plan.restart == (Change("sip.listen", "changed"),)
    assert plan.effective.sip is not None
    assert plan.effective.sip.recordings_keep_days == 30
    assert plan.effective.sip.listen == "127.0.0.1:5060"
    # a [sip] that comes or goes is a restart, whole
    plan = plan_reload(parse_config(base()), new)
    assert plan.applied == () and plan.restart == (Change("sip", "added"),)


def test_a_queues_survey_needs_a_restart_while_the_rest_of_it_changes() -> None:
    new = base(queues=[{"id": "support", "max_wait": 60, "csat": "sms"}])
    plan = plan_reload(parse_config(base()), parse_config(new))
    assert plan.applied == (Change("queues[support].max_wait", "changed"),)
    assert plan.restart == (Change("queues[support].csat", "added"),)


# ------------------------------------------------------- a core, through the API


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[Core, httpx.AsyncClient, Path]]:
    path = tmp_path / "switch.toml"
    write(path, base(str(tmp_path / "s.db")))
    cfg = parse_config(base(str(tmp_path / "s.db")))
    core = Core(cfg, await Store.open(cfg.store.path), FakeClock())
    await core.start_contact_center()
    core.reloader = Reloader(core, path)
    api = create_api(core, center_routers())
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield core, client, path
    await core.close()


def write(path: Path, data: dict[str, Any]) -> None:
    """A TOML file of ``data`` (tables, arrays of tables, strings, numbers, lists)."""
    lines: list[str] = []

    def table(header: str, values: dict[str, Any]) -> None:
        lines.append(header)
        for key, value in values.items():
            if isinstance(value, dict):
                inline = ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items())
                lines.append(f"{key} = {{ {inline} }}")
            else:
                lines.append(f"{key} = {json.dumps(value)}")

    for section, value in data.items():
        if isinstance(value, list):
            for entry in value:
                table(f"[[{section}]]", entry)
        else:
            table(f"[{section}]", value)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def tech() -> dict[str, str]:
    return {"Authorization": f"Bearer {TECH}"}


async def queues(client: httpx.AsyncClient) -> dict[str, Any]:
    got = await client.get("/api/v1/queues", headers=tech())
    assert got.status_code == 200, got.text
    return {q["id"]: q for q in got.json()}


async def test_a_reload_adds_queues_and_agents_and_changes_skills(env: Any) -> None:
    core, client, path = env
    store = str(core.config.store.path)
    write(
        path,
        base(
            store,
            queues=[{"id": "support"}, {"id": "sales", "skills": ["fr"]}],
            agents=[{"id": "alice", "skills": ["fr"]}, {"id": "carol"}],
        ),
    )
    now = core.clock.now()
    await core.registry.ask("agent:alice", AgentEvent("registered", now))
    assert "sales" not in await queues(client)

    got = await client.post("/api/v1/config/reload", headers=tech())
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["reloaded"] is True
    assert "queues[sales] (added)" in body["applied"]
    assert "agents[carol] (added)" in body["applied"]
    assert "agents[bob] (removed)" in body["applied"]
    assert body["needs_restart"] == []

    sales = (await queues(client))["sales"]
    assert sales["agents_available"] == 1  # alice, with her new skill
    agents = (await client.get("/api/v1/agents", headers=tech())).json()
    assert [a["id"] for a in agents] == ["alice", "carol"]
    assert next(a for a in agents if a["id"] == "alice")["skills"] == ["fr"]
    entries, _ = audit_page(core, before=None, limit=10)
    assert entries[-1]["action"] == "config.reload" and entries[-1]["outcome"] == "ok"


async def test_an_invalid_file_is_refused_with_every_error_and_the_old_config_runs(
    env: Any,
) -> None:
    core, client, path = env
    running = core.config
    write(
        path,
        base(
            str(core.config.store.path),
            queues=[{"id": "support", "max_wait": -1}],
            agents=[{"id": "alice", "max_chats": 0}],
        ),
    )
    got = await client.post("/api/v1/config/reload", headers=tech())
    assert got.status_code == 422
    error = got.json()["error"]
    assert error["code"] == "invalid_config"
    assert "queues[0].max_wait" in error["message"]
    assert "agents[0].max_chats" in error["message"]
    assert core.config is running
    assert set(await queues(client)) >= {"support"}

    path.write_text("[store\n", encoding="utf-8")  # not even TOML
    got = await client.post("/api/v1/config/reload", headers=tech())
    assert got.status_code == 422 and "(syntax)" in got.json()["error"]["message"]
    assert core.config is running
    entries, _ = audit_page(core, before=None, limit=10)
    assert [e["outcome"] for e in entries[-2:]] == ["invalid_config", "invalid_config"]


async def test_keys_read_at_start_are_named_and_not_applied(env: Any) -> None:
    core, client, path = env
    write(path, base(str(core.config.store.path), http={"listen": "127.0.0.1:9999"}))
    got = await client.post("/api/v1/config/reload", headers=tech())
    assert got.status_code == 200
    assert got.json()["needs_restart"] == ["http.listen (changed)"]
    assert got.json()["applied"] == []
    assert core.config.http.listen == "127.0.0.1:8080"


async def test_a_reload_needs_a_technician(env: Any) -> None:
    _, client, _ = env
    got = await client.post("/api/v1/config/reload", headers={"Authorization": f"Bearer {TOKEN}"})
    assert got.status_code == 403


async def test_a_check_names_what_a_reload_would_change_and_applies_nothing(env: Any) -> None:
    core, client, path = env
    running = core.config
    got = await client.get("/api/v1/config/check", headers=tech())
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["valid"] is True and body["config"] == str(path)
    assert body["changes"] == [] and body["needs_restart"] == [] and body["errors"] == []
    assert body["last_reload"] is None

    store = str(core.config.store.path)
    write(
        path,
        base(store, queues=[{"id": "support"}, {"id": "sales"}], http={"listen": "127.0.0.1:9"}),
    )
    body = (await client.get("/api/v1/config/check", headers=tech())).json()
    assert body["valid"] is True
    assert body["changes"] == ["queues[sales] (added)"]
    assert body["needs_restart"] == ["http.listen (changed)"]
    assert core.config is running and "sales" not in await queues(client)
    entries, _ = audit_page(core, before=None, limit=10)
    assert not [e for e in entries if e["action"] == "config.reload"]  # a check is no reload


async def test_a_check_of_a_broken_file_names_each_key_and_shows_the_last_reload(
    env: Any,
) -> None:
    core, client, path = env
    store = str(core.config.store.path)
    write(path, base(store, queues=[{"id": "support", "max_wait": -1}]))
    assert (await client.post("/api/v1/config/reload", headers=tech())).status_code == 422
    write(
        path,
        base(
            store, queues=[{"id": "support", "max_wait": -1}], agents=[{"id": "a", "max_chats": 0}]
        ),
    )
    got = await client.get("/api/v1/config/check", headers=tech())
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["valid"] is False and body["changes"] == []
    assert {e["key"] for e in body["errors"]} == {"queues[0].max_wait", "agents[0].max_chats"}
    last = body["last_reload"]
    assert last["reloaded"] is False and last["via"] == "api" and last["who"]
    assert [e["key"] for e in last["errors"]] == ["queues[0].max_wait"]

    write(path, base(store, queues=[{"id": "support"}, {"id": "sales"}]))
    assert (await client.post("/api/v1/config/reload", headers=tech())).status_code == 200
    body = (await client.get("/api/v1/config/check", headers=tech())).json()
    assert body["valid"] is True and body["changes"] == []  # the file is what runs now
    assert body["last_reload"]["reloaded"] is True
    assert body["last_reload"]["applied"] == ["queues[sales] (added)"]


async def test_a_check_is_for_operators_and_technicians(env: Any) -> None:
    core, client, _ = env
    core.reloader = Reloader(core, None)
    got = await client.get("/api/v1/config/check", headers=tech())
    assert got.status_code == 503 and got.json()["error"]["code"] == "unavailable"
    assert decide("agent", "GET", "/api/v1/config/check") == "deny"
    assert decide("operator", "GET", "/api/v1/config/check") == "allow"
    assert decide("technician", "GET", "/api/v1/config/check") == "allow"


async def test_a_removed_queue_with_someone_waiting_stays_until_it_is_empty(env: Any) -> None:
    core, client, path = env
    from actors.queue import WorkItem
    from actors.routing import Enqueue, Withdraw

    now = core.clock.now()
    item = WorkItem("i1", "cb:x", "callback", "contact-1", "support", now)  # waits
    await core.registry.ask(ROUTER, Enqueue(item))
    write(path, base(str(core.config.store.path), queues=[{"id": "sales"}], routes=[]))
    got = await client.post("/api/v1/config/reload", headers=tech())
    assert got.status_code == 200, got.text
    assert "queues[support] (removed)" in got.json()["applied"]
    ids = {q["id"] for q in await core.registry.ask(ROUTER, GetQueues())}
    assert {"support", "sales"} <= ids  # support drains first
    await core.registry.ask(ROUTER, Withdraw("i1", "withdrawn"))
    ids = {q["id"] for q in await core.registry.ask(ROUTER, GetQueues())}
    assert "support" not in ids and "sales" in ids


async def test_a_sighup_while_starting_is_kept_until_the_switch_serves() -> None:
    import asyncio

    from switch.app import _Hangup

    calls: list[str] = []

    class FakeReloader:
        async def reload(self, *, who: str, role: str, via: str) -> None:
            calls.append(via)

    hangup = _Hangup(FakeReloader())  # type: ignore[arg-type]
    hangup()
    hangup()
    await asyncio.sleep(0)
    assert calls == []  # still starting: nothing reloads yet, nothing is lost
    hangup.serving()
    await asyncio.sleep(0.01)
    assert calls == ["signal"]  # one reload for the signals that came while starting
    hangup()
    await asyncio.sleep(0.01)
    assert calls == ["signal", "signal"]
