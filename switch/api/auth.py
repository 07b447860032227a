"""Who is calling ``/api/v1``: a bearer token or a signed-in person, the caller's role,
and its audit identity.

The guard (:mod:`switch.api.guard`) authenticates every ``/api/v1`` request before its
body is read and leaves a :class:`Caller` in the request's state; the routes' dependencies
read it (and declare the two schemes, bearer and session cookie, so the OpenAPI document
and ``/docs`` know them). With a token, technician tools need a technician token (403
otherwise); what a signed-in person may do is decided by :mod:`switch.api.access`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from base.errors import Rejected
from switch.config import ApiConfig
from switch.sessions import COOKIE, Session

Role = Literal["api", "technician", "operator", "agent"]

BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A token from the config's `api.tokens` (or `api.technician_tokens`).",
)
SESSION_COOKIE = APIKeyCookie(
    name=COOKIE,
    auto_error=False,
    scheme_name="session",
    description=(
        "The session cookie `POST /api/v1/login` sets (HttpOnly, SameSite=Strict). "
        "Requests that change something also need the session's CSRF token in the "
        "`X-CSRF-Token` header. What a person may do depends on their role."
    ),
)


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller: what it may do, and how the audit trail names it."""

    role: Role
    token: str  # the token's key path in the config, e.g. "api.tokens[0]"; "session"
    fingerprint: str  # stable id of the token (a hash prefix; never the token)
    source: str  # the client's address
    user: str | None = None  # a signed-in person (agent or user id); None for a token
    session: Session | None = None

    @property
    def who(self) -> str:
        if self.user is not None:
            return self.user
        return f"{self.token} ({self.fingerprint})"


def session_caller(session: Session, source: str) -> Caller:
    return Caller(session.role, "session", session.key[:12], source, session.user, session)


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def bearer_token(authorization: str) -> str | None:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _find(token: str, allowed: list[str]) -> int | None:
    """Index of ``token`` in ``allowed``, comparing every entry in constant time."""
    found: int | None = None
    for i, candidate in enumerate(allowed):
        if secrets.compare_digest(token.encode(), candidate.encode()) and found is None:
            found = i
    return found


def authenticate(api: ApiConfig, token: str, source: str) -> Caller | None:
    """The caller ``token`` belongs to, or None."""
    tech = _find(token, api.technician_tokens)
    plain = _find(token, api.tokens)
    if tech is not None:
        return Caller("technician", f"api.technician_tokens[{tech}]", fingerprint(token), source)
    if plain is not None:
        return Caller("api", f"api.tokens[{plain}]", fingerprint(token), source)
    return None


def caller_of(request: Request) -> Caller:
    """The authenticated caller (the guard put it there), or a 401."""
    caller = getattr(request.state, "caller", None)
    if isinstance(caller, Caller):
        return caller
    token = bearer_token(request.headers.get("authorization", ""))
    if token is None:
        raise Rejected("unauthorized", "missing Authorization: Bearer <token>", 401)
    client = request.client.host if request.client else "unknown"
    found = authenticate(request.app.state.core.config.api, token, client)
    if found is None:
        raise Rejected("unauthorized", "invalid token", 401)
    return found


def require_token(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)] = None,
    __: Annotated[str | None, Depends(SESSION_COOKIE)] = None,
) -> Caller:
    return caller_of(request)


def require_technician(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)] = None,
    __: Annotated[str | None, Depends(SESSION_COOKIE)] = None,
) -> Caller:
    """A technician token; a signed-in person was already let through (or not) by the
    role table (:mod:`switch.api.access`)."""
    caller = caller_of(request)
    if caller.user is None and caller.role != "technician":
        raise Rejected("forbidden", "this needs a technician token", 403)
    return caller


def role_of(request: Request) -> Role:
    return caller_of(request).role


ApiCaller = Annotated[Caller, Depends(require_token)]
TechnicianCaller = Annotated[Caller, Depends(require_technician)]
