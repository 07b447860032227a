"""Desktop sign-in in-process: passwords, the session cookie, CSRF, idle expiry, sessions
that survive a restart, wrong passwords (401, audited, then 429), sign-out."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from actors.agent import GetAgent
from actors.store import Write
from base.clock import FakeClock
from switch.api.app import create_api
from switch.api.login import LoginLimiter
from switch.audit import audit_page
from switch.center.api import center_routers
from switch.cli import main
from switch.config import parse_config
from switch.core import Core
from switch.passwords import hash_password, read_new_password, verify_password
from switch.store import Store

TOKEN = "secret-token-for-tests"
PASSWORD = "alice-password-1"
HASH = hash_password(PASSWORD)
OPS_HASH = hash_password("ops-password-1")


def config(path: Path, alice_hash: str, **http: Any) -> dict[str, Any]:
    return {
        "store": {"path": str(path)},
        "api": {"tokens": [TOKEN]},
        "http": http,
        "agents": [
            {"id": "alice", "name": "Alice", "password_hash": alice_hash, "language": "km"},
            {"id": "bob", "name": "Bob"},  # no password: cannot sign in
        ],
        "users": [{"id": "ops", "role": "operator", "password_hash": OPS_HASH}],
    }


class Box:
    """A core and its API on a store file, reopened like a restart."""

    def __init__(self, path: Path, clock: FakeClock, **http: Any) -> None:
        self.path, self.clock, self.http = path, clock, http
        self.alice_hash = HASH
        self.core: Core | None = None
        self.app: Any = None

    async def open(self, base: str = "http://box") -> httpx.AsyncClient:
        cfg = parse_config(config(self.path, self.alice_hash, **self.http))
        self.core = Core(cfg, await Store.open(self.path), self.clock)
        app = self.app = create_api(self.core, center_routers())
        transport = httpx.ASGITransport(app=app, client=("10.0.0.7", 4000))
        return httpx.AsyncClient(transport=transport, base_url=base)

    async def close(self) -> None:
        assert self.core is not None
        await self.core.close()


@pytest.fixture
async def box(tmp_path: Path) -> AsyncIterator[tuple[Box, httpx.AsyncClient]]:
    b = Box(tmp_path / "s.db", FakeClock())
    client = await b.open()
    yield b, client
    await client.aclose()
    await b.close()


async def login(c: httpx.AsyncClient, user: str = "alice", pw: str = PASSWORD) -> httpx.Response:
    return await c.post("/api/v1/login", json={"user": user, "password": pw})


def audit_actions(core: Core) -> list[tuple[str, str, str]]:
    entries, _ = audit_page(core, before=None, limit=100)
    return [(e["action"], e["who"], e["outcome"]) for e in entries]


# ----------------------------------------------------------------- passwords


def test_a_hash_verifies_its_password_only() -> None:
    assert HASH.startswith("$argon2id$")
    assert verify_password(HASH, PASSWORD)
    assert not verify_password(HASH, PASSWORD + "x")
    assert not verify_password(None, PASSWORD)
    assert not verify_password("not-an-argon2-hash-at-all", PASSWORD)


def test_passwd_reads_one_line_from_a_pipe(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert main(["passwd"]) == 0
    printed = capsys.readouterr().out.strip()
    assert verify_password(printed, "a long password")
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["passwd"]) == 1
    assert "at least 8" in capsys.readouterr().err


def test_passwd_on_a_terminal_asks_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    typed = iter(["first password", "other password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(typed))
    with pytest.raises(ValueError, match="differ"):
        read_new_password(Tty())
    typed = iter(["same password", "same password"])
    assert read_new_password(Tty()) == "same password"


# ------------------------------------------------------------------- sign-in


async def test_login_sets_an_httponly_strict_cookie_and_gives_a_csrf_token(box: Any) -> None:
    b, c = box
    r = await login(c)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user"] == "alice" and body["role"] == "agent" and body["name"] == "Alice"
    assert body["language"] == "km" and body["region"] == "KH" and len(body["csrf"]) > 20
    cookie = r.headers["set-cookie"]
    assert "switch_session=" in cookie and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie and "Secure" not in cookie and "Path=/" in cookie
    me = await c.get("/api/v1/session")
    assert me.status_code == 200 and me.json()["csrf"] == body["csrf"]
    assert ("auth.login", "alice", "ok") in audit_actions(b.core)


async def test_the_cookie_is_secure_when_served_over_tls(tmp_path: Path) -> None:
    b = Box(tmp_path / "s.db", FakeClock())
    c = await b.open("https://box")
    try:
        r = await login(c)
        assert r.status_code == 200 and "Secure" in r.headers["set-cookie"]
    finally:
        await c.aclose()
        await b.close()


async def test_wrong_password_and_unknown_user_are_401_and_audited(box: Any) -> None:
    b, c = box
    for user, pw in (("alice", "wrong-password"), ("nobody", PASSWORD), ("bob", "anything-1")):
        r = await login(c, user, pw)
        assert r.status_code == 401, r.text
        assert r.json()["error"] == {"code": "unauthorized", "message": "wrong user or password"}
        assert "set-cookie" not in r.headers
    failures = [a for a in audit_actions(b.core) if a[0] == "auth.login_failed"]
    assert failures == [
        ("auth.login_failed", "alice", "wrong user or password"),
        ("auth.login_failed", "nobody", "wrong user or password"),
        ("auth.login_failed", "bob", "wrong user or password"),
    ]


async def test_too_many_wrong_passwords_for_a_user_are_429_even_with_the_right_one(
    box: Any,
) -> None:
    b, c = box
    for _ in range(5):
        assert (await login(c, pw="wrong-password")).status_code == 401
    r = await login(c)  # the right password, too late
    assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_logins"
    assert 1 <= int(r.headers["retry-after"]) <= 900
    assert ("auth.login_failed", "alice", "rate limited") in audit_actions(b.core)
    assert (await login(c, "ops", "ops-password-1")).status_code == 200  # other users may
    b.clock.advance(901)
    assert (await login(c)).status_code == 200


async def test_too_many_wrong_passwords_from_an_address_are_429_for_every_user(
    tmp_path: Path,
) -> None:
    b = Box(tmp_path / "s.db", FakeClock(), login_failures_per_address=3)
    c = await b.open()
    try:
        for user in ("u1", "u2", "u3"):
            assert (await login(c, user, "wrong-password")).status_code == 401
        assert (await login(c, "ops", "ops-password-1")).status_code == 429
    finally:
        await c.aclose()
        await b.close()


def test_the_limiter_forgets_failures_older_than_its_window() -> None:
    limiter = LoginLimiter(per_user=2, per_address=10, window=100)
    limiter.failed("alice", "a1", 0)
    limiter.failed("alice", "a2", 50)
    assert limiter.retry_after("alice", "a3", 60) == pytest.approx(40)
    assert limiter.retry_after("alice", "a3", 100) is None  # the first aged out
    limiter.succeeded("alice")
    limiter.failed("alice", "a1", 110)
    assert limiter.retry_after("alice", "a1", 111) is None


# ------------------------------------------------------------ using the cookie


async def test_with_the_cookie_a_change_needs_the_csrf_token(box: Any) -> None:
    b, c = box
    csrf = (await login(c)).json()["csrf"]
    body = {"state": "break", "reason": "lunch"}
    r = await c.post("/api/v1/agents/alice/state", json=body)
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    r = await c.post("/api/v1/agents/alice/state", json=body, headers={"X-CSRF-Token": "nope"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    r = await c.post("/api/v1/agents/alice/state", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["id"] == "alice"
    state = await b.core.registry.ask("agent:alice", GetAgent())
    assert (state.intent, state.reason) == ("break", "lunch")


async def test_bearer_tokens_keep_working_and_need_no_csrf(box: Any) -> None:
    _, c = box
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = await c.post("/api/v1/agents/bob/state", json={"state": "offline"}, headers=auth)
    assert r.status_code == 200
    me = (await c.get("/api/v1/session", headers=auth)).json()
    assert me["user"] is None and me["role"] == "api" and me["csrf"] is None


async def test_logout_ends_the_session_and_clears_the_cookie(box: Any) -> None:
    b, c = box
    r = await login(c)
    cookie = c.cookies["switch_session"]
    csrf = r.json()["csrf"]
    out = await c.post("/api/v1/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 200 and out.json() == {"signed_out": True}
    assert (
        'switch_session=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers["set-cookie"]
    )
    c.cookies.set("switch_session", cookie)  # an old copy of the cookie
    r = await c.get("/api/v1/session")
    assert r.status_code == 401 and "sign in again" in r.json()["error"]["message"]
    assert ("auth.logout", "alice", "ok") in audit_actions(b.core)


async def test_a_session_ends_after_the_idle_time_and_not_while_used(tmp_path: Path) -> None:
    b = Box(tmp_path / "s.db", FakeClock(), session_idle=600)
    c = await b.open()
    try:
        await login(c)
        for _ in range(3):
            b.clock.advance(500)  # used every 500 s: stays
            assert (await c.get("/api/v1/session")).status_code == 200
        b.clock.advance(601)
        assert (await c.get("/api/v1/session")).status_code == 401
    finally:
        await c.aclose()
        await b.close()


async def test_a_session_survives_a_restart_of_the_switch(tmp_path: Path) -> None:
    b = Box(tmp_path / "s.db", FakeClock())
    c = await b.open()
    csrf = (await login(c)).json()["csrf"]
    cookie = c.cookies["switch_session"]
    await c.aclose()
    await b.close()
    c = await b.open()
    try:
        c.cookies.set("switch_session", cookie)
        me = await c.get("/api/v1/session")
        assert me.status_code == 200 and me.json()["user"] == "alice"
        assert me.json()["csrf"] == csrf
    finally:
        await c.aclose()
        await b.close()


async def test_a_new_password_ends_the_old_sessions(tmp_path: Path) -> None:
    b = Box(tmp_path / "s.db", FakeClock())
    c = await b.open()
    await login(c)
    cookie = c.cookies["switch_session"]
    await c.aclose()
    await b.close()
    b.alice_hash = hash_password("a brand new password")
    c = await b.open()
    try:
        c.cookies.set("switch_session", cookie)
        assert (await c.get("/api/v1/session")).status_code == 401
    finally:
        await c.aclose()
        await b.close()


async def test_the_store_keeps_a_hash_of_the_token_never_the_token(box: Any) -> None:
    b, c = box
    await login(c)
    token = c.cookies["switch_session"]
    records = b.core.store.scan("session")
    assert len(records) == 1
    assert token not in repr(records) and PASSWORD not in repr(records)


async def test_the_language_is_kept_per_person(box: Any) -> None:
    _, c = box
    csrf = (await login(c)).json()["csrf"]
    r = await c.post(
        "/api/v1/session/language", json={"language": "fa"}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code == 200 and r.json()["language"] == "fa"
    assert (await c.get("/api/v1/session")).json()["language"] == "fa"
    r = await c.post(
        "/api/v1/session/language", json={"language": "de"}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code == 422


async def test_numbers_read_as_people_of_the_region_write_them(box: Any) -> None:
    _, c = box
    await login(c)
    r = await c.get("/api/v1/numbers?n=%2B85512345678&n=%2B6621234567&n=hello")
    assert r.status_code == 200, r.text
    home, abroad, junk = r.json()
    assert (home["e164"], home["display"]) == ("+85512345678", "012 345 678")
    assert abroad["display"] == "+66 2 123 4567" and abroad["national"] == "02 123 4567"
    assert junk == {
        "input": "hello",
        "e164": None,
        "national": None,
        "display": "hello",
        "valid": False,
    }
    assert (await c.get("/api/v1/numbers?limit=%2B85512345678")).status_code == 422


async def test_the_sessions_that_ended_are_swept_from_the_store(tmp_path: Path) -> None:
    b = Box(tmp_path / "s.db", FakeClock(), session_idle=600)
    c = await b.open()
    try:
        await login(c)
        await login(c, "ops", "ops-password-1")
        assert b.core is not None
        sessions = b.app.state.sessions
        assert sessions.sweep() == 0
        b.clock.advance(601)
        assert sessions.sweep() == 2
        await asyncio.sleep(0.05)  # the deletions are written without waiting
        await b.core.store.write(Write())
        assert b.core.store.scan("session") == []
    finally:
        await c.aclose()
        await b.close()
