"""API routes for contacts: lookup by phone, search by any text, one contact and its
details (name, attributes: audited), its journey (paged), notes, merges (audited)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from actors.contact import ContactState
from actors.messages import AddNote, JourneyEntry, SetDetails
from base.errors import Rejected
from base.timestamps import iso_utc_or_none
from switch.api.auth import ApiCaller, Caller, require_token
from switch.api.paging import DEFAULT_LIMIT, LINK_HEADER, Before, Limit, link_next
from switch.api.schemas import (
    Contact,
    ContactDetailsIn,
    Created,
    JourneyEvent,
    MergeIn,
    NoteIn,
    Phone,
    WrapUpIn,
)
from switch.audit import audit
from switch.contact_search import search_contacts
from switch.core import Core

_CONFLICT: dict[int | str, dict[str, Any]] = {409: {}}


def contact_view(state: ContactState) -> Contact:
    return Contact(
        id=state.contact_id,
        identities=list(state.identities),
        name=state.name,
        created_at=iso_utc_or_none(state.created_at),
        last_channel=state.last_channel,
        last_at=iso_utc_or_none(state.last_at),
        journey_events=state.journey_len,
        merged_from=list(state.merged_from),
        merged_into=state.merged_into,
        attributes=dict(state.attributes),
    )


def contacts_router() -> APIRouter:
    router = APIRouter(dependencies=[Depends(require_token)], tags=["contacts"])

    @router.get(
        "/contacts",
        summary="The contact that owns a phone number, or contacts a text finds",
        description=(
            "`phone`: the contact that owns the number (empty: nobody). `q`: up to 20 "
            "contacts whose number, name, attributes, messages or notes contain the text "
            "(a piece of a number works), the most recently mentioned first. One of the two."
        ),
    )
    async def find_contacts(
        request: Request,
        phone: Annotated[Phone | None, Query()] = None,
        q: Annotated[str | None, Query(min_length=2, max_length=100)] = None,
    ) -> list[Contact]:
        core: Core = request.app.state.core
        if (phone is None) == (q is None):
            raise Rejected("invalid_request", "give either phone or q", 422)
        if phone is not None:
            return [contact_view(state) for state in await core.contacts_by_phone(phone)]
        return [contact_view(state) for state in await search_contacts(core, q or "")]

    @router.get("/contacts/{contact_id}", summary="One contact")
    async def get_contact(request: Request, contact_id: str) -> Contact:
        core: Core = request.app.state.core
        return contact_view(await core.contact_state(contact_id))

    @router.patch(
        "/contacts/{contact_id}",
        summary="Change the contact's name and attributes (audited)",
        description="`attributes` replaces them all. 409 for a contact merged away.",
        responses=_CONFLICT,
    )
    async def edit_contact(
        request: Request, contact_id: str, body: ContactDetailsIn, caller: ApiCaller
    ) -> Contact:
        core: Core = request.app.state.core
        state = await core.contact_state(contact_id)
        if state.merged_into is not None:
            raise Rejected(
                "merged", f"contact {contact_id!r} was merged into {state.merged_into!r}", 409
            )
        name = (body.name or "").strip() or None
        attributes = tuple((k.strip(), v.strip()) for k, v in body.attributes.items())
        message = SetDetails(name, attributes, caller.who, core.clock.now())
        await core.registry.ask(f"contact:{contact_id}", message)
        await audit(
            core,
            "contact.edit",
            who=caller.who,
            role=caller.role,
            source=caller.source,
            target=contact_id,
            outcome="ok",
            detail={"name": name, "attributes": dict(attributes)},
        )
        return contact_view(await core.contact_state(contact_id))

    @router.get(
        "/contacts/{contact_id}/journey",
        summary="The contact's events across every channel, oldest first (paged)",
        description=(
            f"The newest `limit` events (default {DEFAULT_LIMIT}), oldest first. When older "
            'events remain, the `Link` header points to them (`rel="next"`, with `before`).'
        ),
        responses={200: {"headers": LINK_HEADER}},
    )
    async def journey(
        request: Request,
        response: Response,
        contact_id: str,
        limit: Limit = DEFAULT_LIMIT,
        before: Before = None,
    ) -> list[JourneyEvent]:
        core: Core = request.app.state.core
        events, cursor = await core.journey_page(contact_id, before=before, limit=limit)
        link_next(request, response, cursor, limit)
        return [JourneyEvent.model_validate(e) for e in events]

    @router.post(
        "/contacts/{contact_id}/notes",
        status_code=201,
        summary="Add a note",
        description="A signed-in person's note is theirs: `author` is their id, whatever is sent.",
    )
    async def add_note(
        request: Request, contact_id: str, body: NoteIn, caller: ApiCaller
    ) -> Created:
        core: Core = request.app.state.core
        await core.contact_state(contact_id)
        author = caller.user or body.author
        await core.registry.ask(
            f"contact:{contact_id}", AddNote(body.text, author, core.clock.now())
        )
        return Created(ok=True)

    @router.post(
        "/contacts/{contact_id}/wrapup",
        status_code=201,
        summary="The wrap-up of a piece of work: disposition and notes, in the journey",
        description=(
            "A `wrap_up` journey event (channel `note`) with `disposition`, `text`, "
            "`agent` (a signed-in person: their id) and `call_id` when given."
        ),
    )
    async def wrap_up(
        request: Request, contact_id: str, body: WrapUpIn, caller: ApiCaller
    ) -> Created:
        core: Core = request.app.state.core
        await core.contact_state(contact_id)
        data: dict[str, object] = {
            "disposition": body.disposition,
            "text": body.text.strip() or None,
            "agent": caller.user or "api",
            "call_id": body.call_id,
        }
        entry = JourneyEntry("note", "wrap_up", core.clock.now(), data)
        await core.registry.ask(f"contact:{contact_id}", entry)
        return Created(ok=True)

    @router.post(
        "/contacts/{contact_id}/merge",
        summary="Merge another contact into this one",
        description="409 when either contact was merged away (merge into the live one).",
        responses=_CONFLICT,
    )
    async def merge(request: Request, contact_id: str, body: MergeIn, caller: ApiCaller) -> Contact:
        core: Core = request.app.state.core
        return await _audited(core, caller, "contact.merge", contact_id, body.other, core.merge)

    @router.post(
        "/contacts/{contact_id}/unmerge",
        summary="Undo a merge",
        responses=_CONFLICT,
    )
    async def unmerge(
        request: Request, contact_id: str, body: MergeIn, caller: ApiCaller
    ) -> Contact:
        core: Core = request.app.state.core
        return await _audited(core, caller, "contact.unmerge", contact_id, body.other, core.unmerge)

    return router


async def _audited(
    core: Core, caller: Caller, action: str, contact_id: str, other: str, run: Any
) -> Contact:
    """Run a merge/unmerge and record who asked, whatever the outcome."""
    outcome = "ok"
    try:
        state: ContactState = await run(contact_id, other)
        return contact_view(state)
    except Rejected as exc:
        outcome = exc.code
        raise
    finally:
        await audit(
            core,
            action,
            who=caller.who,
            role=caller.role,
            source=caller.source,
            target=contact_id,
            outcome=outcome,
            detail={"other": other},
        )
