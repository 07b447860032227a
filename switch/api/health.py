"""API route for the box's health: what is wrong now (:mod:`switch.health`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from switch.api.auth import require_token
from switch.api.schemas import Health
from switch.core import Core
from switch.health import collect


def health_router() -> APIRouter:
    router = APIRouter(dependencies=[Depends(require_token)], tags=["box"])

    @router.get(
        "/health",
        summary="What is wrong with the box now",
        description=(
            "The store, the SIP edge, the media workers and the modems: `status` is `ok`, "
            "or `degraded` with one plain line per fault in `problems`."
        ),
    )
    async def health(request: Request) -> Health:
        core: Core = request.app.state.core
        return Health.model_validate(collect(core))

    return router
