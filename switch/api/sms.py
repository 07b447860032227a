"""API routes for messages, modems and the simulated modem."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel, ConfigDict, Field

from base.errors import Rejected
from switch.api.auth import require_technician, require_token

if TYPE_CHECKING:
    from switch.core import Core
    from switch.sms import SmsService


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MessageIn(_Body):
    to: Annotated[str, Field(min_length=1, max_length=32)]
    text: Annotated[str, Field(min_length=1, max_length=1530)]
    channel: Literal["sms"] = "sms"
    modem: str | None = None


class AtIn(_Body):
    command: Annotated[str, Field(min_length=2, max_length=200)]


class UssdIn(_Body):
    code: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9*#+]+$")]


class SimulatedSmsIn(_Body):
    from_: Annotated[str, Field(alias="from", min_length=1, max_length=32)]
    text: Annotated[str, Field(min_length=1, max_length=2000)]
    modem: str | None = None


def _sms(request: Request) -> SmsService:
    core: Core = request.app.state.core
    service = core.sms
    if service is None:
        raise Rejected("unavailable", "no modems are configured", 503)
    return service


def sms_routers() -> list[APIRouter]:
    router = APIRouter(dependencies=[Depends(require_token)])

    @router.post("/messages", status_code=202, summary="Send a message (SMS)")
    async def send_message(
        request: Request,
        body: MessageIn,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> dict[str, str]:
        message_id = await _sms(request).submit(
            body.to, body.text, modem=body.modem, idem=idempotency_key
        )
        return {"id": message_id}

    @router.get("/messages/{message_id}", summary="A message and its status")
    async def get_message(request: Request, message_id: str) -> dict[str, Any]:
        result: dict[str, Any] = _sms(request).message(message_id)
        return result

    @router.get("/modems", summary="Modems, SIMs, signal and registration")
    async def modems(request: Request) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await _sms(request).modems_json()
        return result

    @router.post("/modems/{modem_id}/diagnose", summary="Plain-language checks of a modem")
    async def diagnose(request: Request, modem_id: str) -> dict[str, Any]:
        slot = _sms(request).modem_slot(modem_id)
        checks = await slot.modem.diagnose()
        return {
            "modem": modem_id,
            "checks": [{"name": c.name, "status": c.status, "detail": c.detail} for c in checks],
        }

    @router.post("/modems/{modem_id}/ussd", summary="Send a USSD code, return the answer")
    async def ussd(request: Request, modem_id: str, body: UssdIn) -> dict[str, str]:
        slot = _sms(request).modem_slot(modem_id)
        return {"modem": modem_id, "text": await slot.modem.ussd(body.code)}

    @router.post(
        "/modems/{modem_id}/at",
        summary="Raw AT command (technician token)",
        dependencies=[Depends(require_technician)],
    )
    async def raw_at(request: Request, modem_id: str, body: AtIn) -> dict[str, Any]:
        slot = _sms(request).modem_slot(modem_id)
        try:
            lines = await slot.modem.raw_at(body.command)
        except ValueError as exc:
            raise Rejected("invalid_command", str(exc), 422) from None
        return {"modem": modem_id, "lines": lines}

    @router.post("/simulator/sms", summary="Make a simulated modem receive an SMS")
    async def simulate_sms(request: Request, body: SimulatedSmsIn) -> dict[str, Any]:
        service = _sms(request)
        sims = {mid: s.simulator for mid, s in service.slots.items() if s.simulator is not None}
        if not sims:
            raise Rejected("no_simulator", "no simulated modem is configured", 409)
        modem_id = body.modem or next(iter(sims))
        if modem_id not in sims:
            raise Rejected("not_found", f"no simulated modem {modem_id!r}", 404)
        sender = service.core.normalize(body.from_)
        parts = await sims[modem_id].deliver_sms(sender, body.text)
        return {"modem": modem_id, "parts": parts if isinstance(parts, int) else 1}

    return [router]
