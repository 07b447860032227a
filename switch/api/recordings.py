"""``GET /api/v1/recordings``: the recorded calls, found by contact, agent and date, with
how long recordings are kept (``[sip] recordings_keep_days``).

- ``contact``: a contact id, or a phone number (the call's caller or callee);
- ``agent``: the agent who took the call;
- ``since`` / ``until``: as for ``/stats`` (ISO 8601 dates or times, the box's time
  zone); without either, every date;
- ``limit``: the newest ``limit`` (default 50, at most 500).

Each is the call's record (``GET /calls/{id}``) with ``available``: whether the file is
still there (retention may have deleted it); the audio is ``GET
/calls/{id}/recording``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from base.errors import Rejected
from switch.api.auth import require_token
from switch.calls.records import CALL_NS
from switch.center.stats import parse_range

if TYPE_CHECKING:
    from switch.calls import CallService
    from switch.core import Core


def _started(record: dict[str, Any]) -> float:
    started = record.get("started_at")
    return datetime.fromisoformat(str(started)).timestamp() if started else 0.0


def find_recordings(
    service: CallService,
    *,
    contact: str | None,
    agent: str | None,
    since: str | None,
    until: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    core: Core = service.core
    number = None
    if contact is not None and contact.lstrip("+").replace(" ", "").isdigit():
        try:
            number = core.normalize(contact)
        except Rejected:
            raise Rejected(
                "invalid_request", f"contact: {contact!r} is not a number", 422
            ) from None
    window = None
    if since is not None or until is not None:
        window = parse_range(since, until, core.clock.now())
    folder = service.recordings.resolve()
    found = []
    for _, record in core.store.scan(CALL_NS):
        if not record.get("recording"):
            continue
        if agent is not None and record.get("agent") != agent:
            continue
        if number is not None and number not in (record.get("from"), record.get("to")):
            continue
        if contact is not None and number is None and record.get("contact_id") != contact:
            continue
        if window is not None and not window[0] <= _started(record) < window[1]:
            continue
        path = Path(str(record["recording"]))
        found.append({**record, "available": folder in path.parents and path.is_file()})
    found.sort(key=_started, reverse=True)
    return found[:limit]


def recordings_router() -> APIRouter:
    router = APIRouter(dependencies=[Depends(require_token)], tags=["calls"])

    @router.get("/recordings", summary="Recorded calls by contact, agent, date; the retention")
    async def recordings(
        request: Request,
        contact: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
        agent: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
        since: Annotated[str | None, Query(max_length=64)] = None,
        until: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> dict[str, Any]:
        core: Core = request.app.state.core
        service = core.calls
        if service is None:
            raise Rejected("unavailable", "SIP is not configured ([sip] section)", 503)
        found = find_recordings(
            service, contact=contact, agent=agent, since=since, until=until, limit=limit
        )
        return {
            "record_calls": service.sip.record_calls,
            "retention_days": service.sip.recordings_keep_days,
            "recordings": found,
        }

    return router
