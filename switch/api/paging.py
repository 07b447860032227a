"""Paging of the API's lists that grow (a journey, the audit trail).

A page is a JSON list, oldest first. Without ``before`` it holds the newest ``limit``
entries; when older ones remain, the answer carries ``Link: <...?before=N&limit=L>;
rel="next"`` (RFC 8288) for the page before it. ``before`` is a cursor the server hands
out (the id of the oldest entry of the page): a number that is not one gets 422.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query, Request, Response

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

Limit = Annotated[
    int,
    Query(ge=1, le=MAX_LIMIT, description=f"page size (default {DEFAULT_LIMIT})"),
]
Before = Annotated[
    int | None,
    Query(
        ge=1,
        le=2**63 - 1,
        description='cursor from the `Link: rel="next"` header: entries older than it',
    ),
]

LINK_HEADER: dict[str, Any] = {
    "Link": {
        "description": 'the next (older) page, `<url>; rel="next"`, when there is one',
        "schema": {"type": "string"},
    }
}


def link_next(request: Request, response: Response, cursor: int | None, limit: int) -> None:
    """Point to the page before ``cursor`` (nothing when ``cursor`` is None)."""
    if cursor is None:
        return
    query = urlencode({"before": cursor, "limit": limit})
    response.headers["Link"] = f'<{request.url.path}?{query}>; rel="next"'
