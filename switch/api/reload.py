"""API route for a config reload (technician token): ``switch config reload`` calls it."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from base.errors import Rejected
from switch.api.auth import TechnicianCaller, require_technician
from switch.core import Core


class Reloaded(BaseModel):
    reloaded: bool
    config: str
    applied: list[str]
    needs_restart: list[str]


def reload_router() -> APIRouter:
    router = APIRouter(dependencies=[Depends(require_technician)], tags=["box"])

    @router.post(
        "/config/reload",
        summary="Reload the config file (technician token)",
        description=(
            "Reads and validates the file the switch was started with. Agents, queues, IVR "
            "menus, routes, schedules, routing settings and people change at once; calls "
            "go on. `needs_restart` names the changed keys that are read only at start "
            "(listen addresses, store, SIP, modems, trunks, MQTT...): they are not applied. "
            "An invalid file is 422 `invalid_config` with every error by key path, and the "
            "running config stays; 503 when the switch runs the built-in demo config."
        ),
        responses={403: {}},
    )
    async def reload(request: Request, caller: TechnicianCaller) -> Reloaded:
        core: Core = request.app.state.core
        if core.reloader is None or core.reloader.source is None:
            raise Rejected(
                "unavailable", "the switch runs the built-in demo config: no file to reload", 503
            )
        result = await core.reloader.reload(who=caller.who, role=caller.role, via="api")
        if not result.reloaded:
            raise Rejected("invalid_config", result.summary(), 422)
        return Reloaded.model_validate(result.to_json())

    return router
