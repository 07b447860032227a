"""The widget as agents use it, in the API (``/api/v1``, bearer token or session):

- ``GET /api/v1/contacts/{id}/chat`` — the contact's web chat: the last messages with
  their delivery state (``sent``, ``delivered``, ``read``), the conversation (state,
  agent, queue), whether the customer is typing and whether a page of theirs is open;
- ``POST /api/v1/contacts/{id}/typing`` ``{"on", "agent"?}`` — the agent is typing an
  answer: the customer's pages show it (200 with how many pages were told).

Answers go through ``POST /api/v1/contacts/{id}/messages`` (``channel: "chat"``, or
none while a chat is open), like SMS answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from base.errors import Rejected
from switch.api.auth import require_token

if TYPE_CHECKING:
    from switch.core import Core


class TypingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on: bool = True
    agent: Annotated[str | None, Field(min_length=1, max_length=64)] = None


def widget_api_router() -> APIRouter:
    router = APIRouter(dependencies=[Depends(require_token)], tags=["chat"])

    @router.get("/contacts/{contact_id}/chat", summary="The contact's web chat, live")
    async def chat(
        request: Request,
        contact_id: str,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> dict[str, Any]:
        core: Core = request.app.state.core
        contact = await core.conversations.live_contact(contact_id)
        return await core.widget.chat_view(contact.contact_id, limit)

    @router.post("/contacts/{contact_id}/typing", summary="Show the customer an agent typing")
    async def typing(request: Request, contact_id: str, body: TypingIn) -> dict[str, Any]:
        core: Core = request.app.state.core
        if body.agent is not None and body.agent not in {a.id for a in core.config.agents}:
            raise Rejected("not_found", f"agent {body.agent!r} not found", 404)
        contact = await core.conversations.live_contact(contact_id)
        pages = await core.widget.agent_typing(contact.contact_id, body.agent, body.on)
        return {"contact_id": contact.contact_id, "pages": pages}

    return router
