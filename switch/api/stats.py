"""``/api/v1/stats``: contact-center statistics of a time range (docs/kpis.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from switch.api.auth import require_token
from switch.center.stats import stats


def stats_router() -> APIRouter:
    router = APIRouter(
        dependencies=[Depends(require_token)],
        responses={
            401: {"description": "missing or invalid token"},
            422: {"description": "bad range or queue"},
        },
    )

    @router.get(
        "/stats",
        summary="Offered, answered, abandoned, service level, ASA, AHT, FCR, CSAT",
        description="`by=hour` adds `hours`: the main figures of each hour begun (48 h at most).",
    )
    async def get_stats(
        request: Request,
        since: Annotated[str | None, Query(max_length=64)] = None,
        until: Annotated[str | None, Query(max_length=64)] = None,
        queue: Annotated[str | None, Query(max_length=100)] = None,
        by: Annotated[Literal["hour"] | None, Query()] = None,
    ) -> dict[str, Any]:
        return await stats(request.app.state.core, since, until, queue, by)

    return router
