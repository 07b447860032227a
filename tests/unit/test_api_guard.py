"""The API's front door: the token is checked before a body is read, bodies are capped,
failed logins are audited without letting a guessing client fill the store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from base.clock import FakeClock
from switch.api.app import create_api
from switch.api.guard import MAX_BODY
from switch.audit import FAILED_LOGINS_PER_MINUTE, FailedLogins, audit_page
from switch.config import parse_config
from switch.core import Core
from switch.store import Store

TOKEN = "secret-token-for-tests"
TECH = "tech-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[Core, httpx.AsyncClient]]:
    cfg = parse_config(
        {
            "store": {"path": str(tmp_path / "s.db")},
            "api": {"tokens": [TOKEN], "technician_tokens": [TECH]},
        }
    )
    core = Core(cfg, await Store.open(cfg.store.path), FakeClock())
    transport = httpx.ASGITransport(app=create_api(core))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield core, client
    await core.close()


class Body:
    """A streamed request body that counts how much of it the server pulled."""

    def __init__(self, chunks: int, size: int = 64 * 1024) -> None:
        self.chunks = chunks
        self.size = size
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.pulled += 1
            yield b"x" * self.size


async def test_without_a_token_the_body_is_never_read(env: Any) -> None:
    _, c = env
    body = Body(chunks=1600)  # 100 MB, if anyone read it
    r = await c.post(
        "/api/v1/messages",
        content=body,  # type: ignore[arg-type]
        headers={"Content-Type": "application/json", "Content-Length": str(1600 * 65536)},
    )
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert r.headers["connection"] == "close" and r.headers["www-authenticate"] == "Bearer"
    assert body.pulled == 0


async def test_a_body_over_the_limit_is_413_by_length_before_reading(env: Any) -> None:
    _, c = env
    body = Body(chunks=2)
    r = await c.post(
        "/api/v1/messages",
        content=body,  # type: ignore[arg-type]
        headers={**AUTH, "Content-Type": "application/json", "Content-Length": str(2 * 65536)},
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    assert body.pulled == 0


async def test_a_streamed_body_is_cut_off_once_past_the_limit(env: Any) -> None:
    _, c = env
    body = Body(chunks=1000, size=16 * 1024)  # no Content-Length: chunked
    r = await c.post(
        "/api/v1/messages",
        content=body,  # type: ignore[arg-type]
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    assert body.pulled <= MAX_BODY // (16 * 1024) + 1


async def test_a_body_within_the_limit_reaches_the_route(env: Any) -> None:
    core, c = env
    cid = await core.directory.contact_for("phone:+85512345678")
    text = "ជំរាបសួរ " * 1000  # ~27 KB of UTF-8
    r = await c.post(f"/api/v1/contacts/{cid}/notes", json={"text": text}, headers=AUTH)
    assert r.status_code == 201
    journey = (await c.get(f"/api/v1/contacts/{cid}/journey", headers=AUTH)).json()
    assert journey[-1]["text"] == text


async def test_failed_logins_are_audited_and_a_guesser_cannot_fill_the_store(env: Any) -> None:
    core, c = env
    for i in range(FAILED_LOGINS_PER_MINUTE + 15):
        r = await c.get("/api/v1/modems", headers={"Authorization": f"Bearer guess-{i:012d}"})
        assert r.status_code == 401
    assert (await c.get("/api/v1/modems")).status_code == 401  # no token: not a login
    entries, _ = audit_page(core, before=None, limit=100)
    assert len(entries) == FAILED_LOGINS_PER_MINUTE
    first = entries[0]
    assert first["action"] == "auth.failed" and first["outcome"] == "invalid token"
    assert first["source"] == "127.0.0.1" and first["target"] == "GET /api/v1/modems"
    assert first["at"].endswith("Z")


def test_failed_logins_window_reopens_after_a_minute() -> None:
    limiter = FailedLogins(per_minute=2)
    assert [limiter.admit("10.0.0.1", now=t) for t in (0, 1, 2, 3)] == [True, True, False, False]
    assert limiter.admit("10.0.0.2", now=4)  # per address
    assert limiter.admit("10.0.0.1", now=61) and limiter.admit("10.0.0.1", now=62)
    assert not limiter.admit("10.0.0.1", now=63)
