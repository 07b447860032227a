"""Bearer-token auth for ``/api/v1``; technician tools need a technician token."""

from __future__ import annotations

import secrets
from typing import Literal

from fastapi import Request

from base.errors import Rejected

Role = Literal["api", "technician"]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _matches(token: str, allowed: list[str]) -> bool:
    found = False
    for candidate in allowed:
        found |= secrets.compare_digest(token.encode(), candidate.encode())
    return found


def role_of(request: Request) -> Role:
    """The caller's role, or a 401 (no/invalid token)."""
    core = request.app.state.core
    token = _bearer(request)
    if token is None:
        raise Rejected("unauthorized", "missing Authorization: Bearer <token>", 401)
    if _matches(token, core.config.api.technician_tokens):
        return "technician"
    if _matches(token, core.config.api.tokens):
        return "api"
    raise Rejected("unauthorized", "invalid token", 401)


def require_token(request: Request) -> Role:
    return role_of(request)


def require_technician(request: Request) -> Role:
    role = role_of(request)
    if role != "technician":
        raise Rejected("forbidden", "this needs a technician token", 403)
    return role
