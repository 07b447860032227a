"""HTTP API of the contact center: agents and their state, queues and who waits in them.

``GET /api/v1/agents``, ``POST /api/v1/agents/{id}/state``, ``GET /api/v1/queues``,
``GET /api/v1/queues/{id}`` (contract part 2, DESIGN.md). Times are ISO 8601 (UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from actors.agent import GetAgent, SetIntent, intent_for
from actors.agent_state import AgentState
from actors.router import ROUTER, GetQueue, GetQueues
from base.errors import Rejected
from switch.api.auth import ApiCaller, require_token

if TYPE_CHECKING:
    from switch.core import Core

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or invalid token"},
    404: {"description": "unknown id"},
    422: {"description": "invalid request"},
}


class CallbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: Annotated[str, Field(min_length=1, max_length=32)]
    queue: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    language: Literal["en", "km", "th", "fa"] | None = None


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Annotated[str, Field(min_length=1, max_length=1530)]
    channel: Literal["sms", "chat"] | None = None
    agent: Annotated[str | None, Field(min_length=1, max_length=64)] = None


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: Literal["sms", "chat"] = "sms"


class AgentStateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: Literal["available", "break", "offline"]
    reason: Annotated[str | None, Field(max_length=64)] = None


def _iso(ts: float) -> str | None:
    if not ts:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def agent_json(core: Core, state: AgentState) -> dict[str, Any]:
    config = next(a for a in core.config.agents if a.id == state.agent_id)
    pending = None
    if state.pending is not None:
        intent, reason = state.pending
        pending = {"state": {"ready": "available"}.get(intent, intent), "reason": reason}
    return {
        "id": state.agent_id,
        "name": config.name,
        "state": state.status,
        "status": state.status,  # (the name this field had before the contact center)
        "reason": state.reason if state.status == "break" else None,
        "since": _iso(state.since),
        "pending": pending,
        "skills": config.skills,
        "phone_registered": state.phone,
        "chats": len(state.chats),
        "max_chats": config.max_chats,
        "calls_handled": state.calls_handled,
    }


def _core(request: Request) -> Core:
    core: Core = request.app.state.core
    return core


async def _agent(core: Core, agent_id: str) -> AgentState:
    if agent_id not in {a.id for a in core.config.agents}:
        raise Rejected("not_found", f"agent {agent_id!r} not found", 404)
    state: AgentState = await core.registry.ask(f"agent:{agent_id}", GetAgent())
    return state


def queue_visible(queue_id: str) -> bool:
    return not queue_id.startswith("agent:")


def center_routers() -> list[APIRouter]:
    router = APIRouter(dependencies=[Depends(require_token)], responses=_ERRORS)

    @router.get("/agents", summary="Agents and their state")
    async def agents(request: Request) -> list[dict[str, Any]]:
        core = _core(request)
        return [agent_json(core, await _agent(core, a.id)) for a in core.config.agents]

    @router.get("/agents/{agent_id}", summary="One agent")
    async def agent(request: Request, agent_id: str) -> dict[str, Any]:
        core = _core(request)
        return agent_json(core, await _agent(core, agent_id))

    @router.post(
        "/agents/{agent_id}/state",
        summary="Set an agent available, on break (with a reason) or offline",
    )
    async def set_state(request: Request, agent_id: str, body: AgentStateIn) -> dict[str, Any]:
        core = _core(request)
        await _agent(core, agent_id)
        intent = intent_for(body.state)
        reason = body.reason if body.state == "break" else None
        state: AgentState = await core.registry.ask(
            f"agent:{agent_id}", SetIntent(intent, core.clock.now(), reason)
        )
        return agent_json(core, state)

    @router.get("/queues", summary="Queues: who waits, how long, agents available")
    async def queues(request: Request) -> list[dict[str, Any]]:
        core = _core(request)
        rows: list[dict[str, Any]] = await core.registry.ask(ROUTER, GetQueues())
        return [queue_summary(r) for r in rows if queue_visible(r["id"])]

    @router.get("/queues/{queue_id}", summary="One queue and its entries, next first")
    async def queue(request: Request, queue_id: str) -> dict[str, Any]:
        core = _core(request)
        detail: dict[str, Any] | None = None
        if queue_visible(queue_id) and len(queue_id) <= 64:
            detail = await core.registry.ask(ROUTER, GetQueue(queue_id))
        if detail is None:
            raise Rejected("not_found", f"queue {queue_id!r} not found", 404)
        out = queue_summary(detail)
        out["entries"] = [
            {k: e[k] for k in ("contact_id", "channel", "position", "waited", "callback", "state")}
            for e in detail["entries"]
        ]
        return out

    @router.post(
        "/callbacks",
        status_code=202,
        summary="Ask for a callback: the number keeps a place in the queue",
    )
    async def request_callback(request: Request, body: CallbackIn) -> dict[str, Any]:
        core = _core(request)
        state = await core.callbacks.request(body.phone, body.queue, language=body.language)
        view = await core.callbacks.view(state.id)
        return {"id": state.id, "position": view["position"], "state": view["state"]}

    @router.get("/callbacks/{callback_id}", summary="A callback: its state and position")
    async def get_callback(request: Request, callback_id: str) -> dict[str, Any]:
        return await _core(request).callbacks.view(callback_id)

    @router.post(
        "/contacts/{contact_id}/messages",
        status_code=202,
        summary="Answer a contact: on the channel given, else where they are reachable now",
    )
    async def message_contact(
        request: Request, contact_id: str, body: MessageIn, caller: ApiCaller
    ) -> dict[str, Any]:
        core = _core(request)
        agent = body.agent or (caller.user if caller.role == "agent" else None)
        if agent is not None:
            await _agent(core, agent)
        message_id = await core.conversations.reply(contact_id, body.text, body.channel, agent)
        return {"id": message_id}

    @router.post(
        "/contacts/{contact_id}/conversation/close",
        summary="Close the contact's open conversation on a channel",
    )
    async def close_conversation(
        request: Request, contact_id: str, body: CloseIn
    ) -> dict[str, Any]:
        core = _core(request)
        state = await core.conversations.close(contact_id, body.channel, "api")
        return {"contact_id": contact_id, "channel": body.channel, "state": state.state}

    @router.get("/conversations", summary="Open conversations (SMS, chat), by agent")
    async def conversations(
        request: Request,
        agent: Annotated[
            str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
        ] = None,
    ) -> list[dict[str, Any]]:
        return _core(request).conversations.listing(agent)

    return [router]


def queue_summary(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "waiting": row["waiting"],
        "longest_wait": row["longest_wait"],
        "agents_available": row["agents_available"],
        "agents_signed_in": row["agents_signed_in"],
    }
