"""The HTTP API (FastAPI): health, metrics, and ``/api/v1`` behind Bearer tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from actors.messages import AddNote, MergeFrom, UndoMerge
from switch.api.auth import require_token
from switch.api.errors import error_body, install_error_handlers
from switch.api.stats import stats_router
from switch.core import Core
from switch.metrics import HTTP_REQUESTS

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or invalid token"},
    404: {"description": "unknown id"},
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoteIn(_Body):
    text: Annotated[str, Field(min_length=1, max_length=10_000)]
    author: Annotated[str, Field(min_length=1, max_length=100)] = "api"


class MergeIn(_Body):
    other: Annotated[str, Field(min_length=1, max_length=64)]


def contacts_router() -> APIRouter:
    router = APIRouter(dependencies=[Depends(require_token)], responses=_ERRORS)

    @router.get("/contacts", summary="Contacts that own a phone number (E.164)")
    async def find_contacts(
        request: Request, phone: Annotated[str, Query(min_length=1, max_length=32)]
    ) -> list[dict[str, Any]]:
        core: Core = request.app.state.core
        out = []
        for contact_id in core.contacts_by_phone(phone):
            state = await core.contact_state(contact_id)
            out.append(state.to_json())
        return out

    @router.get("/contacts/{contact_id}", summary="One contact")
    async def get_contact(request: Request, contact_id: str) -> dict[str, Any]:
        core: Core = request.app.state.core
        return (await core.contact_state(contact_id)).to_json()

    @router.get("/contacts/{contact_id}/journey", summary="The contact's events, oldest first")
    async def journey(request: Request, contact_id: str) -> list[dict[str, Any]]:
        core: Core = request.app.state.core
        return await core.journey(contact_id)

    @router.post("/contacts/{contact_id}/notes", status_code=201, summary="Add a note")
    async def add_note(request: Request, contact_id: str, body: NoteIn) -> dict[str, Any]:
        core: Core = request.app.state.core
        await core.contact_state(contact_id)
        await core.registry.ask(
            f"contact:{contact_id}", AddNote(body.text, body.author, core.clock.now())
        )
        return {"ok": True}

    @router.post("/contacts/{contact_id}/merge", summary="Merge another contact into this one")
    async def merge(request: Request, contact_id: str, body: MergeIn) -> dict[str, Any]:
        core: Core = request.app.state.core
        await core.contact_state(contact_id)
        await core.registry.ask(f"contact:{contact_id}", MergeFrom(body.other, core.clock.now()))
        return (await core.contact_state(contact_id)).to_json()

    @router.post("/contacts/{contact_id}/unmerge", summary="Undo a merge")
    async def unmerge(request: Request, contact_id: str, body: MergeIn) -> dict[str, Any]:
        core: Core = request.app.state.core
        await core.contact_state(contact_id)
        await core.registry.ask(f"contact:{contact_id}", UndoMerge(body.other, core.clock.now()))
        return (await core.contact_state(contact_id)).to_json()

    return router


def create_api(core: Core, extra_routers: list[APIRouter] | None = None) -> FastAPI:
    app = FastAPI(
        title="Edge switch API",
        version="1",
        description="Contacts, messages, modems and calls of the edge switch.",
    )
    app.state.core = core
    install_error_handlers(app)

    @app.middleware("http")
    async def count_requests(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        HTTP_REQUESTS.labels(request.method, path, str(response.status_code)).inc()
        return response

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        await core.meter.refresh(core.registry, core.clock.now())
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(contacts_router(), prefix="/api/v1")
    app.include_router(stats_router(), prefix="/api/v1")
    for router in extra_routers or []:
        app.include_router(router, prefix="/api/v1")

    @app.api_route(
        "/api/v1/{rest:path}",
        methods=["GET", "POST", "PUT", "DELETE", "PATCH"],
        include_in_schema=False,
        dependencies=[Depends(require_token)],
    )
    async def unknown(rest: str) -> Response:
        from fastapi.responses import JSONResponse

        return JSONResponse(error_body("not_found", f"no such resource: /api/v1/{rest}"), 404)

    return app
