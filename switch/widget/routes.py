"""The widget's public routes: the script, the demo page, the visitor's session, the socket.

- ``GET /widget.js`` — the widget (an ES module: ``<script type="module"
  src="https://<switch>/widget.js"></script>`` on any page); it and ``/static/...``
  are served with ``Access-Control-Allow-Origin: *`` (module scripts from another
  site need it; they are public files);
- ``GET /widget/demo`` — a page that embeds it (``?lang=fa``...);
- ``POST /widget/session`` — the visitor's cookie (made, or kept and renewed) and the
  widget's settings (colours, language, what it offers). Asked from the embedding page
  with credentials: answered with CORS headers for allowed origins only;
- ``GET /widget/ws`` — the page's WebSocket (:mod:`switch.widget.protocol`).

Who may use them: a browser page of the switch itself or of an ``[widget]
allowed_origins`` site (its ``Origin``); a client that sends no ``Origin`` is not a
browser page and carries nobody's cookie but its own. The socket is accepted, then
closed with a code that says why: 4401 no visitor cookie (ask ``/widget/session``
first), 4403 an origin not allowed, 4409 too many open pages of one visitor, 4429 too
many connections from one address, 4408 a page too slow to read what it is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from base.errors import ChannelUnavailable, Rejected
from switch.api.errors import error_body
from switch.widget import protocol as p
from switch.widget.hub import Page
from switch.widget.visitor import COOKIE, cookie_header, new_visitor

if TYPE_CHECKING:
    from switch.core import Core
    from switch.widget.service import WidgetService

log = structlog.get_logger("widget")

WEB = Path(__file__).resolve().parent.parent / "web"
SCRIPT = WEB / "widget.js"
DEMO = WEB / "pages" / "widget-demo.html"
LANGUAGES = ("en", "km", "th", "fa")
MAX_STRIKES = 20  # invalid frames a page may send before it is cut off
CLOSE_NO_VISITOR = 4401
CLOSE_ORIGIN = 4403
CLOSE_SLOW = 4408
CLOSE_TOO_MANY = 4409
CLOSE_RATE = 4429
_PUBLIC_FILES = ("/static/", "/widget.js")


def origin_allowed(origin: str | None, host: str | None, allowed: list[str]) -> bool:
    """Whether a page of ``origin`` may use the widget on a switch reached as ``host``:
    the switch's own pages, the configured sites (``*``: any), and clients that are not
    browser pages (no ``Origin``)."""
    if origin is None:
        return True
    origin = origin.lower()
    if "*" in allowed or origin in allowed:
        return True
    return host is not None and urlsplit(origin).netloc == host.lower()


def _service(app: Any) -> WidgetService:
    core: Core = app.state.core
    return core.widget


def install_widget(app: FastAPI) -> None:
    """Mount the widget's routes and socket, and open its public files to other sites."""
    app.include_router(_router())
    app.router.add_websocket_route("/widget/ws", widget_socket)

    @app.middleware("http")
    async def public_files(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        if request.method in ("GET", "HEAD") and request.url.path.startswith(_PUBLIC_FILES):
            response.headers["Access-Control-Allow-Origin"] = "*"
            response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
        return response


def _cors(request: Request, response: Response) -> None:
    origin = request.headers.get("origin")
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Vary"] = "Origin"


def _router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/widget.js")
    async def script() -> FileResponse:
        return FileResponse(
            SCRIPT, media_type="text/javascript", headers={"Cache-Control": "no-cache"}
        )

    @router.get("/widget/demo", response_class=HTMLResponse)
    async def demo() -> HTMLResponse:
        return HTMLResponse(DEMO.read_text(encoding="utf-8"), headers={"Cache-Control": "no-cache"})

    @router.options("/widget/session")
    async def preflight(request: Request) -> Response:
        service = _service(request.app)
        origin = request.headers.get("origin")
        if not origin_allowed(origin, request.headers.get("host"), service.config.allowed_origins):
            return JSONResponse(error_body("origin", "this site may not use the widget"), 403)
        response = Response(status_code=204)
        _cors(request, response)
        response.headers["Access-Control-Allow-Methods"] = "POST"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
        return response

    @router.post("/widget/session")
    async def session(request: Request) -> Response:
        service = _service(request.app)
        origin = request.headers.get("origin")
        if not origin_allowed(origin, request.headers.get("host"), service.config.allowed_origins):
            return JSONResponse(error_body("origin", "this site may not use the widget"), 403)
        address = request.client.host if request.client is not None else "unknown"
        if not service.connections.allow(address, service.core.clock.now()):
            response: Response = JSONResponse(
                error_body("rate_limited", "too many visits from this address: wait a minute"),
                429,
            )
            _cors(request, response)
            return response
        visitor = service.keys.visitor(request.cookies.get(COOKIE)) or new_visitor()
        cfg = service.config
        body = {
            "language": cfg.language,
            "colours": cfg.colours.model_dump(),
            "features": service.features(),
            "max_message": cfg.max_message,
        }
        response = JSONResponse(body, headers={"Cache-Control": "no-store"})
        secure = request.url.scheme == "https"
        response.headers["Set-Cookie"] = cookie_header(
            service.keys.cookie(visitor), max_age=cfg.cookie_days * 86400, secure=secure
        )
        _cors(request, response)
        return response

    return router


# ------------------------------------------------------------------ the socket


async def widget_socket(ws: WebSocket) -> None:
    service = _service(ws.app)
    address = ws.client.host if ws.client is not None else "unknown"
    origin = ws.headers.get("origin")
    await ws.accept()
    if not origin_allowed(origin, ws.headers.get("host"), service.config.allowed_origins):
        await ws.close(CLOSE_ORIGIN, "this site may not use the widget")
        return
    visitor = service.keys.visitor(ws.cookies.get(COOKIE))
    if visitor is None:
        await ws.close(CLOSE_NO_VISITOR, "no visitor: POST /widget/session first")
        return
    if not service.connections.allow(address, service.core.clock.now()):
        await ws.close(CLOSE_RATE, "too many connections from this address")
        return
    language = ws.query_params.get("lang")
    page = Page(visitor, language if language in LANGUAGES else service.config.language, address)
    if not service.hub.add(page):
        await ws.close(CLOSE_TOO_MANY, "too many open pages")
        return
    bound = log.bind(visitor=visitor, address=address)
    bound.info("widget_connected", pages=service.hub.pages)
    try:
        page.push(await service.welcome(page))
        reader = asyncio.create_task(_read(ws, service, page), name="widget:read")
        try:
            await _write(ws, page, reader)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the page went away
    finally:
        service.hub.remove(page)
        bound.info("widget_disconnected", pages=service.hub.pages)


async def _write(ws: WebSocket, page: Page, reader: asyncio.Task[None]) -> None:
    while True:
        getter = asyncio.ensure_future(page.queue.get())
        done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
        if getter not in done:
            getter.cancel()
            reader.result()  # the page left (or was cut off): a disconnect ends here
            return
        if page.lost:
            await ws.close(CLOSE_SLOW, "the page did not keep up")
            return
        await ws.send_text(getter.result())


async def _read(ws: WebSocket, service: WidgetService, page: Page) -> None:
    strikes = 0
    max_message = service.config.max_message
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        raw = message.get("text") if message.get("text") is not None else message.get("bytes")
        if raw is None:
            continue
        try:
            frame = p.parse_frame(raw, max_message)
            for out in await service.handle(page, frame):
                page.push(out)
        except Rejected as exc:
            if exc.code == "invalid_frame":
                strikes += 1
            page.push(p.frame("error", code=exc.code, message=exc.message, ref=_ref(raw)))
        except ChannelUnavailable as exc:
            page.push(p.frame("error", code="unavailable", message=str(exc), ref=_ref(raw)))
        if strikes > MAX_STRIKES:
            await ws.close(1008, "too many invalid frames")
            return


def _ref(raw: str | bytes) -> str | None:
    """The page's id of the frame that failed (a message's id), when there is one."""
    with contextlib.suppress(ValueError, UnicodeDecodeError, TypeError):
        data = json.loads(raw)
        ref = data.get("id") if isinstance(data, dict) else None
        if isinstance(ref, str) and len(ref) <= 40:
            return ref
    return None
