"""The HTTP API (FastAPI): health, metrics, docs, the desktop, and ``/api/v1`` behind
bearer tokens or a signed-in session.

Layers of a request: the guard (:mod:`switch.api.guard`: token or session first, CSRF,
bounded body), the role table for signed-in people (:mod:`switch.api.access`), then the
routes. An unknown path is 404 and a known path with another method is 405 (with
``Allow``), both with the API's error body.
"""

from __future__ import annotations

from typing import Any, get_origin

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.middleware.gzip import GZipMiddleware

from base.errors import Rejected
from switch.api.access import authorize
from switch.api.audit import audit_router
from switch.api.contacts import contacts_router
from switch.api.errors import install_error_handlers
from switch.api.guard import Guard
from switch.api.health import health_router
from switch.api.live import install_live
from switch.api.login import LoginLimiter, login_routers
from switch.api.numbers import numbers_router
from switch.api.openapi import install_docs, install_openapi
from switch.api.reload import reload_router
from switch.api.stats import stats_router
from switch.api.webrtc import guest_router
from switch.core import Core
from switch.desktop import install_desktop
from switch.metrics import HTTP_REQUESTS
from switch.sessions import Sessions
from switch.web import STATIC_DIR, pages_router
from switch.widget.api import widget_api_router
from switch.widget.routes import install_widget


def no_unknown_query(request: Request) -> None:
    """A query parameter the route does not take is an error (``?limt=5`` would
    otherwise be ignored without a word), like an unknown key in a body."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or not request.url.path.startswith("/api/v1"):
        return
    known: set[str] = set()
    lists: set[str] = set()  # parameters that take several values (?n=1&n=2)
    todo = [dependant]
    while todo:
        current = todo.pop()
        known.update(p.alias for p in current.query_params)
        lists.update(
            p.alias
            for p in current.query_params
            if get_origin(p.field_info.annotation) in (list, tuple, set)
        )
        todo.extend(current.dependencies)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise Rejected("invalid_request", f"unknown query parameter(s): {', '.join(unknown)}", 422)
    keys = [key for key, _ in request.query_params.multi_items()]
    repeated = sorted({key for key in keys if keys.count(key) > 1 and key not in lists})
    if repeated:  # every parameter takes one value: a second would be silently dropped
        raise Rejected(
            "invalid_request",
            f"query parameter(s) given more than once: {', '.join(repeated)}",
            422,
        )


def create_api(core: Core, extra_routers: list[APIRouter] | None = None) -> FastAPI:
    app = FastAPI(
        title="Edge switch API",
        version="1",
        description=(
            "Contacts, messages, modems, calls and the audit trail of the edge switch. "
            "Every `/api/v1` request needs `Authorization: Bearer <token>` (machines) or "
            "the session cookie of a signed-in person (`POST /api/v1/login`; with the "
            "cookie, requests that change something also send `X-CSRF-Token`, and the "
            "person's role limits what they may do: 403 otherwise). Errors have "
            'one body, `{"error": {"code", "message"}}`: 400 for a body that is not JSON, '
            "422 for anything invalid in it (phone numbers included). Times are ISO 8601 "
            "in UTC. Growing lists are paged with `limit` and `before` (`Link` header)."
        ),
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(no_unknown_query), Depends(authorize)],
    )
    sessions = Sessions(core.store, core.config, core.clock)
    app.state.core = core
    app.state.sessions = sessions
    http = core.config.http
    app.state.login_limiter = LoginLimiter(
        http.login_failures_per_user, http.login_failures_per_address
    )
    install_error_handlers(app)
    app.add_middleware(Guard, core=core, sessions=sessions)

    @app.middleware("http")
    async def count_requests(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        HTTP_REQUESTS.labels(request.method, path, str(response.status_code)).inc()
        return response

    @app.get("/healthz", summary="Liveness", tags=["box"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        tags=["box"],
        responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    )
    async def metrics() -> Response:
        await core.meter.refresh(core.registry, core.clock.now())
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    static = GZipMiddleware(StaticFiles(directory=STATIC_DIR), minimum_size=1024)
    app.mount("/static", static, name="static")
    app.include_router(pages_router())
    install_widget(app)
    webrtc = core.config.webrtc
    if webrtc is not None:  # (without [webrtc] the path does not exist: 404)
        app.include_router(guest_router(webrtc.guests_per_minute))
    for router in login_routers():
        app.include_router(router, prefix="/api/v1")
    app.include_router(numbers_router(), prefix="/api/v1")
    app.include_router(contacts_router(), prefix="/api/v1")
    app.include_router(audit_router(), prefix="/api/v1")
    app.include_router(widget_api_router(), prefix="/api/v1")
    app.include_router(stats_router(), prefix="/api/v1")
    app.include_router(health_router(), prefix="/api/v1")
    app.include_router(reload_router(), prefix="/api/v1")
    for router in extra_routers or []:
        app.include_router(router, prefix="/api/v1")
    install_live(app)
    install_desktop(app, _sip_sockets)
    install_openapi(app)
    install_docs(app)
    return app


def _sip_sockets(request: Request) -> list[str]:
    """The edge's WebSocket URLs as this browser reaches them (none without browser
    phones): the desk's page may connect there."""
    core: Core = request.app.state.core
    web = core.calls.web if core.calls is not None else None
    return web.ws_servers(request.url.hostname) if web is not None else []
