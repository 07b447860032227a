"""/api/v1/ws over a real socket (the app in-process under uvicorn): who may connect,
what the first message holds, what each role is sent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from websockets.exceptions import ConnectionClosed

from actors.agent import AgentEvent
from base.clock import FakeClock
from switch.api.app import create_api
from switch.center.api import center_routers
from switch.config import parse_config
from switch.core import Core
from switch.passwords import hash_password
from switch.store import Store
from tests.conftest import free_port

pytestmark = pytest.mark.integration

PW = "password-for-tests"
HASH = hash_password(PW)
TOKEN = "secret-token-for-tests"


class Box:
    def __init__(self, core: Core, port: int) -> None:
        self.core, self.port = core, port
        self.http = f"http://127.0.0.1:{port}"
        self.ws = f"ws://127.0.0.1:{port}/api/v1/ws"

    async def cookie(self, user: str) -> str:
        async with httpx.AsyncClient(base_url=self.http) as c:
            r = await c.post("/api/v1/login", json={"user": user, "password": PW})
            assert r.status_code == 200, r.text
            return f"switch_session={c.cookies['switch_session']}"


@pytest.fixture
async def box(tmp_path: Path) -> AsyncIterator[Box]:
    cfg = parse_config(
        {
            "store": {"path": str(tmp_path / "s.db")},
            "api": {"tokens": [TOKEN]},
            "agents": [
                {"id": "alice", "password_hash": HASH},
                {"id": "bob", "password_hash": HASH},
            ],
            "users": [{"id": "ops", "role": "operator", "password_hash": HASH}],
        }
    )
    core = Core(cfg, await Store.open(cfg.store.path), FakeClock())
    await core.start_contact_center()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_api(core, center_routers()),
            host="127.0.0.1",
            port=port,
            log_config=None,
            lifespan="off",
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield Box(core, port)
    server.should_exit = True
    await task
    await core.close()


async def receive(ws: Any, kind: str) -> Any:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if message["type"] == kind:
            return message["data"]


async def closed_with(ws: Any) -> int:
    with pytest.raises(ConnectionClosed) as info:
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None
    return info.value.rcvd.code


async def test_nobody_signed_in_is_closed_with_4401(box: Box) -> None:
    async with websockets.connect(box.ws) as ws:
        assert await closed_with(ws) == 4401
    headers = {"Cookie": "switch_session=made-up"}
    async with websockets.connect(box.ws, additional_headers=headers) as ws:
        assert await closed_with(ws) == 4401


async def test_a_cookie_from_another_origin_is_closed_with_4403(box: Box) -> None:
    headers = {"Cookie": await box.cookie("alice")}
    async with websockets.connect(
        box.ws,
        additional_headers=headers,
        origin="http://evil.example",  # type: ignore[arg-type]
    ) as ws:
        assert await closed_with(ws) == 4403


async def test_an_agent_hears_of_their_own_state_only(box: Box) -> None:
    headers = {"Cookie": await box.cookie("alice")}
    async with websockets.connect(
        box.ws,
        additional_headers=headers,
        origin=box.http,  # type: ignore[arg-type]
    ) as ws:
        hello = await receive(ws, "hello")
        assert hello["user"] == "alice" and hello["role"] == "agent"
        assert [a["id"] for a in hello["agents"]] == ["alice"]
        now = box.core.clock.now()
        await box.core.registry.ask("agent:bob", AgentEvent("registered", now))
        await box.core.registry.ask("agent:alice", AgentEvent("registered", now))
        agent = await receive(ws, "agent")
        assert agent["id"] == "alice" and agent["state"] == "available"


async def test_an_operator_and_a_token_hear_of_every_agent(box: Box) -> None:
    for headers in ({"Cookie": await box.cookie("ops")}, {"Authorization": f"Bearer {TOKEN}"}):
        async with websockets.connect(box.ws, additional_headers=headers) as ws:
            hello = await receive(ws, "hello")
            assert sorted(a["id"] for a in hello["agents"]) == ["alice", "bob"]
            assert any(q["id"] == "default" for q in hello["queues"])
            await box.core.registry.ask("agent:bob", AgentEvent("registered", box.core.clock.now()))
            assert (await receive(ws, "agent"))["id"] == "bob"
            await box.core.registry.ask(
                "agent:bob", AgentEvent("unregistered", box.core.clock.now())
            )


async def test_a_signed_out_cookie_cannot_open_a_socket(box: Box) -> None:
    cookie = await box.cookie("alice")
    async with websockets.connect(box.ws, additional_headers={"Cookie": cookie}) as ws:
        await receive(ws, "hello")
        async with httpx.AsyncClient(base_url=box.http, headers={"Cookie": cookie}) as c:
            csrf = (await c.get("/api/v1/session")).json()["csrf"]
            r = await c.post("/api/v1/logout", headers={"X-CSRF-Token": csrf})
            assert r.status_code == 200
        # an open socket notices at its next check (every PING_EVERY s); a new one with
        # that cookie is refused at once
    async with websockets.connect(box.ws, additional_headers={"Cookie": cookie}) as ws:
        assert await closed_with(ws) == 4401
