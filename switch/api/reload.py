"""API routes for the config file: a reload (technician token; ``switch config reload``
calls it) and a check that applies nothing (the console's "Configuration" card)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from base.errors import Rejected
from base.timestamps import iso_utc
from switch.api.auth import TechnicianCaller, require_technician, require_token
from switch.core import Core
from switch.reload.service import ReloadResult


class Reloaded(BaseModel):
    reloaded: bool
    config: str
    applied: list[str]
    needs_restart: list[str]


class KeyProblem(BaseModel):
    key: str  # the key path: "queues[0].max_wait", "(syntax)", "(file)"
    message: str


class LastReload(BaseModel):
    at: str
    reloaded: bool
    who: str
    via: str  # signal, api, mqtt
    errors: list[KeyProblem]
    applied: list[str]
    needs_restart: list[str]


class ConfigCheck(BaseModel):
    config: str
    valid: bool
    errors: list[KeyProblem]
    changes: list[str]
    needs_restart: list[str]
    checked_at: str
    last_reload: LastReload | None


def _problems(result: ReloadResult) -> list[KeyProblem]:
    return [KeyProblem(key=key, message=message) for key, message in result.errors]


def reload_router() -> APIRouter:
    router = APIRouter(tags=["box"])

    @router.get(
        "/config/check",
        dependencies=[Depends(require_token)],
        summary="Check the config file without applying it",
        description=(
            "Reads and validates the file the switch was started with, as a reload would, "
            "and applies nothing. `valid` false: `errors` names every problem by key path. "
            "Valid: `changes` would apply at a reload, `needs_restart` would wait for a "
            "restart. `last_reload` is the last reload since the switch started (applied "
            "or refused, who asked and how), null when there was none. 503 when the "
            "switch runs the built-in demo config."
        ),
    )
    async def check(request: Request) -> ConfigCheck:
        core: Core = request.app.state.core
        reloader = core.reloader
        if reloader is None or reloader.source is None:
            raise Rejected(
                "unavailable", "the switch runs the built-in demo config: no file to check", 503
            )
        result = await reloader.check()
        last = None
        if reloader.last is not None:
            done = reloader.last.result
            last = LastReload(
                at=iso_utc(done.at),
                reloaded=done.reloaded,
                who=reloader.last.who,
                via=reloader.last.via,
                errors=_problems(done),
                applied=list(done.applied),
                needs_restart=list(done.restart),
            )
        return ConfigCheck(
            config=result.source,
            valid=result.reloaded,
            errors=_problems(result),
            changes=list(result.applied),
            needs_restart=list(result.restart),
            checked_at=iso_utc(result.at),
            last_reload=last,
        )

    @router.post(
        "/config/reload",
        dependencies=[Depends(require_technician)],
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
