"""``/api/v1/ws``: one WebSocket per open desktop, pushing what changed (:mod:`switch.live`).

Who: a signed-in person by their session cookie (a browser cannot set headers on a
WebSocket), or a machine with ``Authorization: Bearer``. A cookie from a page of
another origin is refused (``Origin`` must be this host). The socket is accepted, then
closed with code 4401 when nobody is signed in (or the session ends: signed out, idle
too long) and 4403 for another origin, so the page knows why.

Server to client, JSON text frames ``{"type", "data"}``: first ``hello`` (who you are,
the agents, queues and conversations you may see), then the bus's topics (``agent``,
``queues``, ``call``, ``conversation``, ``journey``, ``offer``, ``audit``) as they
happen, ``resync`` when this socket fell behind and missed some (reload the views), and
``ping`` every :data:`PING_EVERY` seconds. Client to server: ``{"watch": [contact
ids]}``, the contacts on screen whose journeys should be pushed (an agent's list is
cut to the contacts they serve, at most :data:`MAX_WATCH`).

An open desktop counts as activity: its session does not end for idleness while the
socket is open (it is checked every :data:`PING_EVERY` seconds: a sign-out ends it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import structlog
from fastapi import FastAPI
from starlette.websockets import WebSocket, WebSocketDisconnect

from actors.router import ROUTER, GetQueues
from switch.api.access import serves_contact
from switch.api.auth import Caller, authenticate, bearer_token, session_caller
from switch.live import Subscription, Viewer, visible
from switch.live.bus import LiveEvent
from switch.sessions import COOKIE, cookie_value

if TYPE_CHECKING:
    from switch.core import Core
    from switch.sessions import Sessions

log = structlog.get_logger("live")

PATH = "/api/v1/ws"
PING_EVERY = 25.0
MAX_WATCH = 20
CLOSE_SIGNED_OUT = 4401
CLOSE_ORIGIN = 4403


def install_live(app: FastAPI) -> None:
    app.router.add_websocket_route(PATH, live_socket)


def _same_origin(ws: WebSocket) -> bool:
    origin = ws.headers.get("origin")
    if origin is None:
        return True  # not a browser page (a browser always sends it)
    return urlsplit(origin).netloc.lower() == ws.headers.get("host", "").lower()


def _caller(ws: WebSocket, core: Core, sessions: Sessions) -> tuple[Caller | None, str | None]:
    source = ws.client.host if ws.client else "unknown"
    token = bearer_token(ws.headers.get("authorization", ""))
    if token is not None:
        return authenticate(core.config.api, token, source), None
    cookie = cookie_value(ws.headers.get("cookie", ""), COOKIE)
    session = sessions.find(cookie) if cookie else None
    if session is None:
        return None, None
    return session_caller(session, source), cookie


async def live_socket(ws: WebSocket) -> None:
    core: Core = ws.app.state.core
    sessions: Sessions = ws.app.state.sessions
    caller, cookie = _caller(ws, core, sessions)
    await ws.accept()
    if caller is None:
        await ws.close(CLOSE_SIGNED_OUT, "sign in first")
        return
    if cookie is not None and not _same_origin(ws):
        await ws.close(CLOSE_ORIGIN, "another origin")
        return
    viewer = Viewer(caller.role, caller.user)
    feed = core.live
    sub = feed.bus.subscribe(viewer)
    feed.ensure_running()
    bound = log.bind(user=caller.who, role=caller.role)
    bound.info("live_connected", listeners=feed.bus.listeners)
    try:
        await _send(ws, "hello", await _hello(core, caller, viewer))
        await _serve(ws, core, sessions, sub, cookie)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the page went away
    finally:
        feed.bus.unsubscribe(sub)
        bound.info("live_disconnected", listeners=feed.bus.listeners)


async def _serve(
    ws: WebSocket, core: Core, sessions: Sessions, sub: Subscription, cookie: str | None
) -> None:
    reader = asyncio.create_task(_read(ws, core, sub))
    try:
        while True:
            getter = asyncio.ensure_future(sub.queue.get())
            done, _ = await asyncio.wait(
                {getter, reader}, timeout=PING_EVERY, return_when=asyncio.FIRST_COMPLETED
            )
            if reader in done:
                getter.cancel()
                reader.result()  # a disconnect ends here
                return
            if getter in done:
                event = getter.result()
                await _send(ws, event.topic, event.data)
                if sub.lost and sub.queue.empty():
                    sub = _resubscribe(core, sub)
                    await _send(ws, "resync", None)
                continue
            getter.cancel()
            if cookie is not None and sessions.find(cookie) is None:
                await ws.close(CLOSE_SIGNED_OUT, "the session ended")
                return
            await _send(ws, "ping", None)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader


def _resubscribe(core: Core, old: Subscription) -> Subscription:
    core.live.bus.unsubscribe(old)
    return core.live.bus.subscribe(old.viewer)


async def _read(ws: WebSocket, core: Core, sub: Subscription) -> None:
    """The client's messages: which contacts are on its screen."""
    while True:
        text = await ws.receive_text()
        try:
            message = json.loads(text)
        except ValueError:
            continue
        watch = message.get("watch") if isinstance(message, dict) else None
        if not isinstance(watch, list):
            continue
        wanted = [c for c in watch if isinstance(c, str) and 0 < len(c) <= 64][:MAX_WATCH]
        viewer = sub.viewer
        if viewer.role == "agent" and viewer.user is not None:
            wanted = [c for c in wanted if await serves_contact(core, viewer.user, c)]
        elif viewer.role == "technician" and viewer.user is not None:
            wanted = []
        viewer.watching = frozenset(wanted)


async def _send(ws: WebSocket, kind: str, data: Any) -> None:
    await ws.send_text(json.dumps({"type": kind, "data": data}, ensure_ascii=False))


async def _hello(core: Core, caller: Caller, viewer: Viewer) -> dict[str, Any]:
    from actors.agent import GetAgent
    from switch.center.api import agent_json, queue_summary, queue_visible

    agents = []
    for agent in core.config.agents:
        state = await core.registry.ask(f"agent:{agent.id}", GetAgent())
        view = agent_json(core, state)
        if visible(LiveEvent("agent", view, agent=agent.id), viewer):
            agents.append(view)
    queues: list[dict[str, Any]] = []
    if visible(LiveEvent("queues", None), viewer):
        rows = await core.registry.ask(ROUTER, GetQueues())
        queues = [queue_summary(r) for r in rows if queue_visible(r["id"])]
    conversations = [
        c
        for c in core.conversations.listing()
        if visible(LiveEvent("conversation", c, agent=c.get("agent")), viewer)
    ]
    return {
        "user": caller.user,
        "role": caller.role,
        "agents": agents,
        "queues": queues,
        "conversations": conversations,
    }
