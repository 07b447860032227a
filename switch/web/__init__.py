"""Web pages the switch serves from package data (no Node at install).

- ``static/`` — files served as they are under ``/static``: the vendored JsSIP
  (``static/vendor/``, see its README) and the agent phone's ES modules
  (``static/phone/``);
- :func:`pages_router` — the pages themselves (``GET /phone``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

__all__ = ["STATIC_DIR", "pages_router"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
_PAGES = Path(__file__).resolve().parent / "pages"


def pages_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/phone", response_class=HTMLResponse)
    async def phone() -> HTMLResponse:
        text = (_PAGES / "phone.html").read_text(encoding="utf-8")
        return HTMLResponse(text, headers={"Cache-Control": "no-cache"})

    return router
