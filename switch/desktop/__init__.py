"""The agent desktop and operator console: one web app the switch serves itself.

``GET /`` is the app's page (a sign-in form when nobody is signed in: the page asks
``GET /api/v1/session`` and shows what the role allows); its ES modules, styles and
message catalogues (``static/i18n/<lang>.json``: en, km, th, fa) are package data
served under ``/desktop/``. No Node at install, no library: plain ES modules. The page
talks to ``/api/v1`` with the session cookie and to ``/api/v1/ws`` for live changes.

Every page answer carries a Content-Security-Policy that allows this origin only (no
inline script, no other site), and is not cached: a new version of the switch is
picked up at the next load.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

__all__ = ["STATIC", "install_desktop"]

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


def install_desktop(app: FastAPI) -> None:
    app.mount(PREFIX, _Static(directory=STATIC), name="desktop")

    @app.get("/", include_in_schema=False)
    async def desktop() -> HTMLResponse:
        text = (STATIC / "index.html").read_text(encoding="utf-8")
        return HTMLResponse(text, headers=HEADERS)
