"""API routes for calls, agents and trunk tests."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from base.errors import Rejected
from switch.api.auth import ApiCaller, require_token
from switch.api.recordings import recordings_router
from switch.api.schemas import Phone
from switch.audit import audit

if TYPE_CHECKING:
    from switch.calls import CallService
    from switch.core import Core


class CallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent: Annotated[str, Field(min_length=1, max_length=64)]
    to: Phone


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    to: Phone | None = None
    queue: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    mode: Literal["attended", "consult", "blind"] | None = None
    note: Annotated[str | None, Field(max_length=2000)] = None


class SuperviseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["listen", "whisper", "barge"]
    phone: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=32,
            pattern=r"^[A-Za-z0-9+][A-Za-z0-9_.+ -]*$",
            description="the supervisor's phone: a SIP user registered here, or a number",
        ),
    ] = None


class TrunkTestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    call: Phone | None = None


def _calls(request: Request) -> CallService:
    core: Core = request.app.state.core
    service = core.calls
    if service is None:
        raise Rejected("unavailable", "SIP is not configured ([sip] section)", 503)
    return service


def call_routers() -> list[APIRouter]:
    router = APIRouter(dependencies=[Depends(require_token)])

    @router.get("/calls", summary="Calls (active=true: not yet ended)")
    async def list_calls(
        request: Request, active: Annotated[bool | None, Query()] = None
    ) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = _calls(request).list_calls(active)
        return result

    @router.get("/calls/{call_id}", summary="One call")
    async def get_call(request: Request, call_id: str) -> dict[str, Any]:
        result: dict[str, Any] = _calls(request).call_record(call_id)
        return result

    @router.post(
        "/calls",
        status_code=202,
        summary="Click-to-call: ring the agent, then the number",
        responses={409: {}},
    )
    async def click_to_call(request: Request, body: CallIn) -> dict[str, str]:
        return {"id": await _calls(request).click_to_call(body.agent, body.to)}

    @router.post(
        "/calls/{call_id}/transfer",
        status_code=202,
        summary="Transfer an answered call to an agent, a number or a queue, with a note",
        responses={409: {}},
    )
    async def transfer(request: Request, call_id: str, body: TransferIn) -> dict[str, Any]:
        result: dict[str, Any] = await _calls(request).transfer(
            call_id, body.agent, body.to, queue=body.queue, mode=body.mode, note=body.note
        )
        return result

    @router.post(
        "/calls/{call_id}/transfer/complete",
        summary="Hand the customer to the target consulted (consult transfer)",
        responses={409: {}},
    )
    async def complete_transfer(request: Request, call_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await _calls(request).finish_transfer(call_id, True)
        return result

    @router.post(
        "/calls/{call_id}/transfer/cancel",
        summary="Take the customer back: the transfer's target is hung up",
        responses={409: {}},
    )
    async def cancel_transfer(request: Request, call_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await _calls(request).finish_transfer(call_id, False)
        return result

    @router.post(
        "/calls/{call_id}/supervise",
        status_code=202,
        summary="Listen to, whisper to or barge into a live call (operators): the switch "
        "dials the supervisor's phone",
        responses={403: {}, 404: {}, 409: {}},
    )
    async def supervise_call(
        request: Request, call_id: str, body: SuperviseIn, caller: ApiCaller
    ) -> dict[str, Any]:
        from switch.calls.supervise import supervise  # (with SIP only)

        service = _calls(request)
        outcome = "ok"
        try:
            if caller.role not in ("api", "operator"):
                raise Rejected("forbidden", "only an operator may supervise a call", 403)
            return await supervise(service, call_id, body.mode, body.phone, caller.who, caller.user)
        except Rejected as exc:
            outcome = exc.code
            raise
        finally:
            await audit(
                service.core,
                "call.supervise",
                who=caller.who,
                role=caller.role,
                source=caller.source,
                target=call_id,
                outcome=outcome,
                detail={"mode": body.mode, "phone": body.phone},
            )

    @router.get(
        "/calls/{call_id}/recording",
        summary="The call's recording (WAV)",
        response_class=FileResponse,
        responses={200: {"content": {"audio/wav": {"schema": {"type": "string"}}}}},
    )
    async def recording(request: Request, call_id: str) -> FileResponse:
        service = _calls(request)
        record = service.call_record(call_id)
        path = Path(str(record.get("recording") or ""))
        folder = service.recordings.resolve()
        if not record.get("recording") or folder not in path.parents or not path.is_file():
            raise Rejected("not_found", f"call {call_id!r} has no recording", 404)
        return FileResponse(path, media_type="audio/wav", headers={"Cache-Control": "private"})

    @router.get(
        "/trunks",
        summary="SIP trunks: where they are, the numbers they bring, their registration",
        description=(
            "`registration`: `peering` (IP peering: nothing to register), `registered`, "
            "`registering`, `unregistered`, `disabled`, or `unknown` when the SIP edge "
            "cannot say."
        ),
    )
    async def trunks(request: Request) -> list[dict[str, Any]]:
        service = _calls(request)
        registration = await service.trunk_tests.registrations()
        return [
            {
                "id": t.id,
                "host": t.host,
                "port": t.port,
                "transport": t.transport,
                "register": t.register_,
                "dids": list(t.dids),
                "registration": registration.get(t.id, "unknown"),
            }
            for t in service.core.config.trunks
        ]

    @router.post("/trunks/{trunk_id}/test", summary="Registration, OPTIONS, optional test call")
    async def trunk_test(request: Request, trunk_id: str, body: TrunkTestIn) -> dict[str, Any]:
        result: dict[str, Any] = await _calls(request).trunk_test(trunk_id, body.call)
        return result

    return [router, recordings_router()]
