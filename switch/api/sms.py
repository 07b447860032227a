"""API routes for messages, modems and the simulated modem.

``Idempotency-Key`` on ``POST /messages`` is per token: the same key with the same body
gets the first answer again (nothing is sent twice); the same key with another body is
refused with 422 ``idempotency_key_reused`` (nothing is dropped silently). Raw AT
commands and USSD codes go into the audit trail, whatever their outcome.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Header, Request

from base.errors import Rejected, SwitchError
from base.timestamps import iso_utc_or_none
from switch.api.auth import ApiCaller, Caller, TechnicianCaller, require_token
from switch.api.schemas import (
    Accepted,
    AtIn,
    AtOut,
    Diagnosis,
    Message,
    MessageIn,
    Modem,
    SimulatedSmsIn,
    SimulatedSmsOut,
    UssdIn,
    UssdOut,
)
from switch.audit import audit

if TYPE_CHECKING:
    from switch.core import Core
    from switch.sms import SmsService

T = TypeVar("T")
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {}}


def _sms(request: Request) -> SmsService:
    core: Core = request.app.state.core
    service = core.sms
    if service is None:
        raise Rejected("unavailable", "no modems are configured", 503)
    return service


def request_fingerprint(body: MessageIn) -> str:
    """What makes two POSTs "the same request" for an idempotency key."""
    canonical = json.dumps(body.model_dump(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _audited(
    request: Request, caller: Caller, action: str, target: str, detail: dict[str, Any],
    work: Awaitable[T],
) -> T:  # fmt: skip
    outcome = "ok"
    try:
        return await work
    except SwitchError as exc:
        outcome = getattr(exc, "code", None) or str(exc) or type(exc).__name__
        raise
    finally:
        await audit(
            request.app.state.core,
            action,
            who=caller.who,
            role=caller.role,
            source=caller.source,
            target=target,
            outcome=outcome,
            detail=detail,
        )


def sms_routers() -> list[APIRouter]:
    router = APIRouter(dependencies=[Depends(require_token)])

    @router.post(
        "/messages",
        status_code=202,
        summary="Send a message (SMS)",
        description=(
            "`Idempotency-Key` (per token): the same key and body answer with the first "
            "message's id; the same key with another body is 422 `idempotency_key_reused`."
        ),
        tags=["messages"],
    )
    async def send_message(
        request: Request,
        body: MessageIn,
        caller: ApiCaller,
        idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
    ) -> Accepted:
        idem = f"{caller.fingerprint}:{idempotency_key}" if idempotency_key else None
        message_id = await _sms(request).submit(
            body.to,
            body.text,
            modem=body.modem,
            idem=idem,
            fingerprint=request_fingerprint(body) if idem else None,
        )
        return Accepted(id=message_id)

    @router.get(
        "/messages/{message_id}",
        summary="A message and its status",
        tags=["messages"],
    )
    async def get_message(request: Request, message_id: str) -> Message:
        return Message.model_validate(_sms(request).message(message_id))

    @router.get(
        "/outbox",
        summary="Outgoing SMS not sent yet (the queue), oldest first",
        description="Each: `id`, `to`, `text`, `modem`, `parts`, `attempts`, `error` (the "
        "last attempt's), `created_at`, `next_attempt_at` (ISO 8601).",
        tags=["messages"],
    )
    async def outbox(request: Request) -> list[dict[str, Any]]:
        waiting = sorted(_sms(request).outbox.values(), key=lambda m: m.created_at)
        keys = ("id", "to", "text", "modem", "parts", "attempts", "error", "contact_id")
        return [
            {
                **{k: getattr(m, k) for k in keys},
                "created_at": iso_utc_or_none(m.created_at),
                "next_attempt_at": iso_utc_or_none(m.next_attempt_at or None),
            }
            for m in waiting
        ]

    @router.get("/modems", summary="Modems, SIMs, signal and registration", tags=["modems"])
    async def modems(request: Request) -> list[Modem]:
        found: list[dict[str, Any]] = await _sms(request).modems_json()
        return [
            Modem.model_validate({**m, "state_since": iso_utc_or_none(m.get("state_since"))})
            for m in found
        ]

    @router.post(
        "/modems/{modem_id}/diagnose",
        summary="Plain-language checks of a modem",
        tags=["modems"],
        responses=_NOT_FOUND,
    )
    async def diagnose(request: Request, modem_id: str) -> Diagnosis:
        slot = _sms(request).modem_slot(modem_id)
        checks = await slot.modem.diagnose()
        return Diagnosis.model_validate(
            {
                "modem": modem_id,
                "checks": [
                    {"name": c.name, "status": c.status, "detail": c.detail} for c in checks
                ],
            }
        )

    @router.post(
        "/modems/{modem_id}/ussd",
        summary="Send a USSD code, return the answer (audited)",
        tags=["modems"],
    )
    async def ussd(request: Request, modem_id: str, body: UssdIn, caller: ApiCaller) -> UssdOut:
        slot = _sms(request).modem_slot(modem_id)
        text = await _audited(
            request, caller, "modem.ussd", modem_id, {"code": body.code}, slot.modem.ussd(body.code)
        )
        return UssdOut(modem=modem_id, text=text)

    @router.post(
        "/modems/{modem_id}/at",
        summary="Raw AT command (technician token; audited)",
        tags=["modems"],
        responses={403: {}},
    )
    async def raw_at(
        request: Request,
        modem_id: str,
        body: AtIn,
        caller: TechnicianCaller,
    ) -> AtOut:
        slot = _sms(request).modem_slot(modem_id)
        detail = {"command": body.command}
        lines = await _audited(request, caller, "modem.at", modem_id, detail, _at(slot, body))
        return AtOut(modem=modem_id, lines=lines)

    @router.post(
        "/simulator/sms",
        summary="Make a simulated modem receive an SMS (demo, tests)",
        description="409 `no_simulator` when no modem is simulated.",
        tags=["modems"],
        responses={404: {}, 409: {}},
    )
    async def simulate_sms(request: Request, body: SimulatedSmsIn) -> SimulatedSmsOut:
        service = _sms(request)
        sims = {mid: s.simulator for mid, s in service.slots.items() if s.simulator is not None}
        if not sims:
            raise Rejected("no_simulator", "no simulated modem is configured", 409)
        modem_id = body.modem or next(iter(sims))
        if modem_id not in sims:
            raise Rejected("not_found", f"no simulated modem {modem_id!r}", 404)
        sender = service.core.normalize(body.from_)
        parts = await sims[modem_id].deliver_sms(sender, body.text)
        return SimulatedSmsOut(modem=modem_id, parts=parts if isinstance(parts, int) else 1)

    return [router]


async def _at(slot: Any, body: AtIn) -> list[str]:
    try:
        lines: list[str] = await slot.modem.raw_at(body.command)
    except ValueError as exc:
        raise Rejected("invalid_command", str(exc), 422) from None
    return lines
