"""Signing in and out of the desktop: ``POST /api/v1/login``, ``POST /api/v1/logout``,
``GET /api/v1/session``, ``POST /api/v1/session/language``.

Login checks the password of an ``[[agents]]`` or ``[[users]]`` entry (argon2, off the
event loop, at most :data:`VERIFYING` at once), then opens a session
(:mod:`switch.sessions`): an HttpOnly, SameSite=Strict cookie (Secure when the request
came over TLS) and a CSRF token in the answer. A wrong password is 401 and an audit
entry; after ``http.login_failures_per_user`` wrong passwords for one user, or
``http.login_failures_per_address`` from one address, within :data:`WINDOW` seconds,
logins are refused with 429 (``Retry-After``) before any password is checked, until the
oldest failure ages out. Those refusals are audited too (the first few a minute per
address: :class:`switch.audit.FailedLogins`).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Literal

import structlog
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from base.errors import Rejected
from switch.api.auth import Caller, require_token, session_caller
from switch.audit import FailedLogins, audit
from switch.passwords import verify_password
from switch.sessions import COOKIE, Sessions

if TYPE_CHECKING:
    from switch.core import Core

log = structlog.get_logger("login")

WINDOW = 900.0  # seconds a failure counts against a user and an address
VERIFYING = 2  # argon2 checks at once (each takes 64 MiB and a core for a moment)
_KEYS_TRACKED = 10_000


@dataclass
class LoginLimiter:
    """Failed logins per user and per address within :data:`WINDOW` (sans-IO: the
    caller passes the time). At most ``max_keys`` keys are remembered, the least
    recently failed forgotten first."""

    per_user: int
    per_address: int
    window: float = WINDOW
    max_keys: int = _KEYS_TRACKED
    _fails: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._fails.get(key)
        if times is None:
            return deque()
        while times and now - times[0] >= self.window:
            times.popleft()
        return times

    def retry_after(self, user: str, address: str, now: float) -> float | None:
        """Seconds until a login may be tried again, or None when it may now."""
        waits = []
        for key, limit in ((f"u:{user}", self.per_user), (f"a:{address}", self.per_address)):
            times = self._recent(key, now)
            if len(times) >= limit:
                waits.append(times[len(times) - limit] + self.window - now)
        return max(waits) if waits else None

    def failed(self, user: str, address: str, now: float) -> None:
        for key in (f"u:{user}", f"a:{address}"):
            times = self._recent(key, now)
            times.append(now)
            self._fails.pop(key, None)
            self._fails[key] = times
        while len(self._fails) > self.max_keys:
            self._fails.popitem(last=False)

    def succeeded(self, user: str) -> None:
        self._fails.pop(f"u:{user}", None)


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class LanguageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    language: Literal["en", "km", "th", "fa"]


class SessionOut(BaseModel):
    user: str | None = Field(description="the signed-in person's id; null for a bearer token")
    name: str | None = None
    role: Literal["agent", "operator", "technician", "api"]
    csrf: str | None = Field(
        default=None, description="send it as X-CSRF-Token on requests that change something"
    )
    language: Literal["en", "km", "th", "fa"] = "en"
    region: str = Field(description="the box's region for national phone numbers (ISO code)")
    idle_timeout: float = Field(description="seconds without a request before the session ends")


class SignedOut(BaseModel):
    signed_out: bool


def _view(request: Request, caller: Caller) -> SessionOut:
    sessions: Sessions = request.app.state.sessions
    core: Core = request.app.state.core
    region = core.config.numbers.default_region
    session = caller.session
    if caller.user is None or session is None:
        machine: Literal["technician", "api"] = (
            "technician" if caller.role == "technician" else "api"
        )
        return SessionOut(user=None, role=machine, region=region, idle_timeout=sessions.idle)
    person = sessions.person(caller.user)
    return SessionOut(
        user=caller.user,
        name=person.name if person is not None else caller.user,
        role=session.role,
        csrf=session.csrf,
        language=sessions.language(caller.user),  # type: ignore[arg-type]
        region=region,
        idle_timeout=sessions.idle,
    )


def login_routers() -> list[APIRouter]:
    open_router = APIRouter(tags=["session"])
    router = APIRouter(tags=["session"])
    checking = asyncio.Semaphore(VERIFYING)
    refusals = FailedLogins()

    @open_router.post(
        "/login",
        summary="Sign in to the desktop (sets the session cookie)",
        description=(
            "The id and password of an agent or a user. 200 sets an HttpOnly session "
            "cookie and answers the session, with the CSRF token that requests made with "
            "the cookie must send as `X-CSRF-Token` when they change something. 401 for "
            "a wrong user or password; 429 after too many of those (per user and per "
            "address; `Retry-After`)."
        ),
        responses={429: {"description": "too many failed logins"}},
        openapi_extra={"security": []},
    )
    async def login(request: Request, response: Response, body: LoginIn) -> SessionOut:
        core: Core = request.app.state.core
        sessions: Sessions = request.app.state.sessions
        limiter: LoginLimiter = request.app.state.login_limiter
        source = request.client.host if request.client else "unknown"
        person = sessions.person(body.user)
        role = person.role if person is not None else "unknown"
        now = core.clock.now()
        wait = limiter.retry_after(body.user, source, now)
        if wait is not None:
            if refusals.admit(source):
                await _audit_failure(core, body.user, role, source, "rate limited")
            raise TooMany(wait)
        async with checking:
            ok = await asyncio.to_thread(
                verify_password, person.password_hash if person else None, body.password
            )
        if not ok or person is None:
            limiter.failed(body.user, source, core.clock.now())
            await _audit_failure(core, body.user, role, source, "wrong user or password")
            raise Rejected("unauthorized", "wrong user or password", 401)
        limiter.succeeded(body.user)
        token, session = await sessions.open(person)
        await audit(core, "auth.login", who=person.id, role=person.role, source=source)
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        response.headers["Cache-Control"] = "no-store"
        return _view(request, session_caller(session, source))

    @router.post("/logout", summary="Sign out: the session ends, its cookie is cleared")
    async def logout(
        request: Request, response: Response, caller: Annotated[Caller, Depends(require_token)]
    ) -> SignedOut:
        core: Core = request.app.state.core
        sessions: Sessions = request.app.state.sessions
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        if caller.session is None:
            return SignedOut(signed_out=False)
        await sessions.close(caller.session)
        await audit(core, "auth.logout", who=caller.who, role=caller.role, source=caller.source)
        return SignedOut(signed_out=True)

    @router.get("/session", summary="Who is signed in: role, CSRF token, language, region")
    async def session(
        request: Request, response: Response, caller: Annotated[Caller, Depends(require_token)]
    ) -> SessionOut:
        response.headers["Cache-Control"] = "no-store"
        return _view(request, caller)

    @router.post(
        "/session/language",
        summary="Set the signed-in person's desktop language",
        responses={409: {"description": "a bearer token has no language (`no_session`)"}},
    )
    async def language(
        request: Request, body: LanguageIn, caller: Annotated[Caller, Depends(require_token)]
    ) -> SessionOut:
        if caller.user is None:
            raise Rejected("no_session", "a bearer token has no desktop language", 409)
        sessions: Sessions = request.app.state.sessions
        await sessions.set_language(caller.user, body.language)
        return _view(request, caller)

    return [open_router, router]


class TooMany(Rejected):
    def __init__(self, wait: float) -> None:
        super().__init__("too_many_logins", "too many failed logins: try again later", 429)
        self.retry_after = max(1, round(wait))


async def _audit_failure(core: Core, user: str, role: str, source: str, why: str) -> None:
    try:
        await audit(
            core,
            "auth.login_failed",
            who=user[:64],
            role=role,
            source=source,
            target="POST /api/v1/login",
            outcome=why,
        )
    except Exception as exc:  # the store is closing: the refusal still goes out, logged
        log.warning("audit_login_failure_not_stored", source=source, error=repr(exc))
