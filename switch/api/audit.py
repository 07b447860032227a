"""API route for the audit trail (technician token): who did what, when, from where."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from base.errors import Rejected
from switch.api.auth import require_technician
from switch.api.paging import DEFAULT_LIMIT, LINK_HEADER, Before, Limit, link_next
from switch.api.schemas import AuditEntry
from switch.audit import audit_page
from switch.core import Core


def audit_router() -> APIRouter:
    router = APIRouter(dependencies=[Depends(require_technician)], tags=["audit"])

    @router.get(
        "/audit",
        summary="The audit trail, oldest first (paged; technician token)",
        description=(
            "Raw AT commands, USSD, merges, transfers and failed logins. The newest "
            f"`limit` entries (default {DEFAULT_LIMIT}); older ones through the `Link` header."
        ),
        responses={200: {"headers": LINK_HEADER}, 403: {}},
    )
    async def trail(
        request: Request, response: Response, limit: Limit = DEFAULT_LIMIT, before: Before = None
    ) -> list[AuditEntry]:
        core: Core = request.app.state.core
        try:
            entries, cursor = audit_page(core, before=before, limit=limit)
        except ValueError:
            raise Rejected(
                "invalid_cursor", f"before={before} is not an entry of the audit trail", 422
            ) from None
        link_next(request, response, cursor, limit)
        return [AuditEntry.model_validate(e) for e in entries]

    return router
