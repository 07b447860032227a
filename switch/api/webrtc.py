"""API routes for browser phones: short-lived SIP credentials (``switch.calls.web``).

- ``POST /api/v1/webrtc/credentials`` ``{"agent"}`` (Bearer token): the agent's browser
  phone credential. 201 with ``uri``, ``authorization_user``, ``password``, ``realm``,
  ``expires_at``, ``ttl`` and ``ws_servers``; 404 for an agent without a SIP phone.
- ``POST /webrtc/guest`` (public: the customer's widget on any site): a guest
  credential that may only call the widget number (``call``), rate-limited per client
  address (429). 404 when the switch takes no widget calls.

Without ``[webrtc]`` neither path exists (404).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from base.errors import Rejected
from switch.api.auth import require_token
from switch.api.ratelimit import RateLimit

if TYPE_CHECKING:
    from switch.calls.web import BrowserPhones
    from switch.core import Core


class CredentialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent: Annotated[str, Field(min_length=1, max_length=64)]


def _phones(request: Request) -> BrowserPhones:
    core: Core = request.app.state.core
    web = core.calls.web if core.calls is not None else None
    if web is None:
        raise Rejected("unavailable", "browser phones are not configured ([webrtc])", 503)
    return web


def credential_routers() -> list[APIRouter]:
    router = APIRouter(dependencies=[Depends(require_token)])

    @router.post(
        "/webrtc/credentials",
        status_code=201,
        summary="A short-lived SIP credential for an agent's browser phone",
    )
    async def agent_credential(request: Request, body: CredentialIn) -> dict[str, Any]:
        core: Core = request.app.state.core
        return _phones(request).agent_credential(body.agent, core.clock.now(), request.url.hostname)

    return [router]


def guest_router(per_minute: int) -> APIRouter:
    """The public route (no token), mounted at the top level by the app; at most
    ``per_minute`` guest credentials a minute per client address."""
    router = APIRouter()
    limit = RateLimit(per_minute, burst=per_minute)

    @router.post(
        "/webrtc/guest",
        status_code=201,
        summary="A guest's SIP credential for a widget call (the widget number only)",
        responses={
            429: {"description": "too many guest credentials from this address"},
            503: {"description": "browser phones are not configured ([webrtc])"},
        },
    )
    async def guest_credential(request: Request, response: Response) -> dict[str, Any]:
        core: Core = request.app.state.core
        web = _phones(request)
        client = request.client.host if request.client is not None else "unknown"
        if not limit.allow(client, core.clock.now()):
            raise Rejected("rate_limited", "too many guest credentials: try again in a minute", 429)
        response.headers["Cache-Control"] = "no-store"
        return web.guest_credential(core.clock.now(), request.url.hostname)

    return router
