"""The agent desktop and operator console: one web app the switch serves itself.

``GET /`` is the app's page (a sign-in form when nobody is signed in: the page asks
``GET /api/v1/session`` and shows what the role allows); its ES modules, styles and
message catalogues (``static/i18n/<lang>.json``: en, km, th, fa) are package data
served under ``/desktop/``. No Node at install, no library: plain ES modules. The page
talks to ``/api/v1`` with the session cookie and to ``/api/v1/ws`` for live changes.

Every page answer carries a Content-Security-Policy that allows this origin only (no
inline script, no other site) and, for the agents' browser phones, the SIP edge's
WebSocket addresses; it is not cached: a new version of the switch is picked up at the
next load. Files go gzipped to a browser that takes it (the first load of a desk with
its browser phone stays well under 300 KB).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import Message, Receive, Scope, Send

__all__ = ["STATIC", "install_desktop", "page_headers"]

STATIC = Path(__file__).resolve().parent / "static"
PREFIX = "/desktop"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class _Static(StaticFiles):
    """The app's files, with the page's security headers and revalidation."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await super().__call__(scope, receive, with_headers)


def page_headers(sip_sockets: list[str]) -> dict[str, str]:
    """The page's headers; ``sip_sockets`` (``ws://host:port``...) may be connected to
    besides this origin: the browser phone registers there."""
    if not sip_sockets:
        return HEADERS
    extra = " ".join(s for s in sip_sockets if s.startswith(("ws://", "wss://")) and ";" not in s)
    policy = CSP.replace("connect-src 'self'", f"connect-src 'self' {extra}")
    return {**HEADERS, "Content-Security-Policy": policy}


def install_desktop(app: FastAPI, sip_sockets: Callable[[Request], list[str]]) -> None:
    """Serve the app; ``sip_sockets(request)``: the edge's WebSocket URLs as the
    browser that sent ``request`` reaches them (none without browser phones)."""
    app.mount(PREFIX, GZipMiddleware(_Static(directory=STATIC), minimum_size=1024), name="desktop")

    @app.get("/", include_in_schema=False)
    async def desktop(request: Request) -> HTMLResponse:
        text = (STATIC / "index.html").read_text(encoding="utf-8")
        return HTMLResponse(text, headers=page_headers(sip_sockets(request)))
