"""The API's front door (ASGI middleware): authenticate first, then read a bounded body.

Before anything reads a request body:

- ``/api/v1/*`` needs a valid bearer token or a signed-in session's cookie: without
  one the answer is 401 at once, the body unread (a 100 MB POST without a token costs
  nothing). A token that matches none is a failed login for the audit trail
  (:class:`switch.audit.FailedLogins` keeps a guessing client from filling the store).
  ``POST /api/v1/login`` is the one route open to everyone (it has its own limits).
- With the cookie (and no bearer token), a request that changes something (any method
  but GET, HEAD, OPTIONS) also needs the session's CSRF token in ``X-CSRF-Token``:
  403 ``csrf_failed`` otherwise. A page of another site cannot read the token, so it
  cannot make a signed-in browser act.
- A body larger than :data:`MAX_BODY` is refused with 413: by its ``Content-Length``
  before a byte is read, or, sent without a length (chunked), as soon as it passes the
  limit. A body within the limit is read here and handed to the app as it came.

The caller found goes into the request's state (``request.state.caller``) for the
routes. Refusals close the connection, so an unread body is never parsed as the next
request.
"""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING, Any

import structlog

from switch.api.auth import Caller, authenticate, bearer_token, session_caller
from switch.api.errors import error_body
from switch.audit import FailedLogins, audit
from switch.sessions import COOKIE, CSRF_HEADER, cookie_value

if TYPE_CHECKING:
    from switch.core import Core
    from switch.sessions import Sessions

log = structlog.get_logger("api")

MAX_BODY = 64 * 1024  # JSON bodies of this API are small; a note is at most 10,000 chars
PROTECTED = "/api/v1"
OPEN = frozenset({"/api/v1/login"})  # routes that need no caller (they limit themselves)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Scope = dict[str, Any]
Message = dict[str, Any]


class Guard:
    def __init__(
        self, app: Any, core: Core, sessions: Sessions | None = None, max_body: int = MAX_BODY
    ) -> None:
        self.app = app
        self.core = core
        self.sessions = sessions
        self.max_body = max_body
        self.failed_logins = FailedLogins()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        path: str = scope.get("path", "")
        protected = path == PROTECTED or path.startswith(PROTECTED + "/")
        if protected and path not in OPEN:
            source = _client(scope)
            token = bearer_token(headers.get("authorization", ""))
            caller = None if token is None else authenticate(self.core.config.api, token, source)
            if caller is None and token is None:
                caller = self._session(headers, source)
            if caller is None:
                message = "invalid token" if token else "missing Authorization: Bearer <token>"
                if token is not None:
                    await self._failed_login(scope, source)
                elif _cookie(headers, COOKIE):
                    message = "the session ended (signed out, or idle too long): sign in again"
                await _refuse(send, 401, "unauthorized", message, {"WWW-Authenticate": "Bearer"})
                return
            session = caller.session
            if session is not None and scope.get("method", "GET") not in SAFE_METHODS:
                sent = headers.get(CSRF_HEADER, "")
                if not secrets.compare_digest(sent.encode(), session.csrf.encode()):
                    await _refuse(
                        send, 403, "csrf_failed", "missing or wrong X-CSRF-Token for this session"
                    )
                    return
            scope.setdefault("state", {})["caller"] = caller
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _refuse(send, 413, "too_large", f"the body is over {self.max_body} bytes")
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay(bytes(body), message, receive), send)
                return
            body += message.get("body", b"")
            more = bool(message.get("more_body", False))
            if len(body) > self.max_body:
                await _refuse(send, 413, "too_large", f"the body is over {self.max_body} bytes")
                return
        await self.app(scope, _replay(bytes(body), None, receive), send)

    def _session(self, headers: dict[str, str], source: str) -> Caller | None:
        token = _cookie(headers, COOKIE)
        if self.sessions is None or token is None:
            return None
        session = self.sessions.find(token)
        return None if session is None else session_caller(session, source)

    async def _failed_login(self, scope: Scope, source: str) -> None:
        if not self.failed_logins.admit(source):
            return
        try:
            await audit(
                self.core,
                "auth.failed",
                who="unknown",
                role="none",
                source=source,
                target=f"{scope.get('method', '?')} {scope.get('path', '')}",
                outcome="invalid token",
            )
        except Exception as exc:  # store closing: the refusal still goes out, and is logged
            log.warning("audit_failed_login_not_stored", source=source, error=repr(exc))


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _cookie(headers: dict[str, str], name: str) -> str | None:
    return cookie_value(headers.get("cookie", ""), name)


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _replay(body: bytes, first: Message | None, receive: Any) -> Any:
    """A ``receive`` that gives the app the body already read, then the real one."""
    pending: list[Message] = [first or {"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        result: Message = await receive()
        return result

    return replay


async def _refuse(
    send: Any, status: int, code: str, message: str, extra: dict[str, str] | None = None
) -> None:
    payload = json.dumps(error_body(code, message)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close"),
        *((k.lower().encode(), v.encode()) for k, v in (extra or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
