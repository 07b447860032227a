"""Webhooks: journey events delivered to a CRM as signed JSON (docs/webhooks.md).

Each ``[[webhooks]]`` entry follows the event log with its own :class:`LogFollower`
(the log is the outbox: see :mod:`switch.follower`), so deliveries survive a kill -9
and never hold up routing or the journey: they run in their own task, one event at a
time per webhook, in the order the events were recorded.

A delivery is a POST of the event as JSON with ``X-Switch-Timestamp`` (Unix seconds)
and ``X-Switch-Signature: sha256=<hex>``, the HMAC-SHA256 with the webhook's secret of
``<timestamp>.<body>``; ``X-Switch-Delivery`` is the same on every attempt of one event
(receivers drop repeats: delivery is at least once). A 2xx is delivered. A timeout, a
network error, 408, 429 or a 5xx is retried after ``retry_initial`` seconds, doubling up
to ``retry_max``; every failed attempt is logged. After ``max_attempts``, or at once on
another 4xx (the receiver refuses this event for good), the event goes to the webhook's
failure log in the store (``GET /api/v1/webhooks``) and the webhook moves on.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import structlog
from fastapi import APIRouter

from actors.store import StoredEvent
from switch.follower import LogFollower
from switch.hooks_config import WebhookConfig
from switch.metrics import WEBHOOK_BEHIND, WEBHOOK_DELIVERIES

if TYPE_CHECKING:
    from switch.core import Core

log = structlog.get_logger("webhooks")

FAILED_NS = "webhook_failed"
_RETRIED_STATUSES = frozenset({408, 425, 429})
Sleep = Callable[[float], Awaitable[None]]


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``<timestamp>.<body>`` with the secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def payload(hook_id: str, event: StoredEvent) -> bytes:
    data = dict(event.data)
    body = {
        "delivery": f"{hook_id}-{event.seq}",
        "seq": event.seq,
        "kind": event.kind,
        "contact_id": event.actor.partition(":")[2],
        "channel": data.pop("channel", None),
        "at": datetime.fromtimestamp(event.at, UTC).isoformat().replace("+00:00", "Z"),
        "data": data,
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def is_journey(event: StoredEvent) -> bool:
    return event.actor.startswith("contact:") and "channel" in event.data


class Webhook:
    """One webhook: its follower, its deliveries and its failure log."""

    def __init__(
        self,
        config: WebhookConfig,
        core: Core,
        client: httpx.AsyncClient,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.config = config
        self.id = config.hook_id
        self.core = core
        self.client = client
        self.sleep = sleep
        self.follower = LogFollower(
            core.store, f"webhook:{self.id}", config.kinds, self.deliver, accept=is_journey
        )
        self.log = log.bind(hook=self.id, url=config.url)

    async def deliver(self, event: StoredEvent) -> None:
        body = payload(self.id, event)
        delay = self.config.retry_initial
        for attempt in range(1, self.config.max_attempts + 1):
            error, retry = await self._attempt(event, body)
            if error is None:
                WEBHOOK_DELIVERIES.labels(self.id, "delivered").inc()
                self.log.info("webhook_delivered", seq=event.seq, kind=event.kind, attempt=attempt)
                # (the cursor moves past this event when we return)
                WEBHOOK_BEHIND.labels(self.id).set(max(0, self.follower.behind() - 1))
                return
            if not retry or attempt == self.config.max_attempts:
                await self._failed(event, attempt, error)
                return
            WEBHOOK_DELIVERIES.labels(self.id, "retried").inc()
            self.log.warning(
                "webhook_attempt_failed",
                seq=event.seq,
                kind=event.kind,
                attempt=attempt,
                error=error,
                retry_in=delay,
            )
            await self.sleep(delay)
            delay = min(delay * 2, self.config.retry_max)

    async def _attempt(self, event: StoredEvent, body: bytes) -> tuple[str | None, bool]:
        """(None, _) when delivered; else (what went wrong, whether to try again)."""
        timestamp = int(self.core.clock.now())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "edge-switch-webhooks",
            "X-Switch-Delivery": f"{self.id}-{event.seq}",
            "X-Switch-Event": event.kind,
            "X-Switch-Timestamp": str(timestamp),
            "X-Switch-Signature": sign(self.config.secret, timestamp, body),
        }
        try:
            response = await self.client.post(
                self.config.url, content=body, headers=headers, timeout=self.config.timeout
            )
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}".rstrip(": "), True
        status = response.status_code
        if 200 <= status < 300:
            return None, False
        retry = status >= 500 or status in _RETRIED_STATUSES
        return f"HTTP {status}", retry

    async def _failed(self, event: StoredEvent, attempts: int, error: str) -> None:
        WEBHOOK_DELIVERIES.labels(self.id, "failed").inc()
        self.log.error(
            "webhook_failed", seq=event.seq, kind=event.kind, attempts=attempts, error=error
        )
        record = {
            "seq": event.seq,
            "kind": event.kind,
            "contact_id": event.actor.partition(":")[2],
            "attempts": attempts,
            "error": error,
            "at": self.core.clock.now(),
        }
        await self.core.store.put(FAILED_NS, f"{self.id}:{event.seq:012d}", record)

    def status(self) -> dict[str, Any]:
        failures = [v for _, v in self.core.store.scan(FAILED_NS, f"{self.id}:")]
        return {
            "id": self.id,
            "url": self.config.url,
            "events": self.config.events,
            "cursor": self.follower.cursor,
            "behind": self.follower.behind(),
            "failures": failures[-100:],
            "failed": len(failures),
        }


class WebhookService:
    """The switch's webhooks, started before the channels (nothing recorded is missed)."""

    name = "webhooks"

    def __init__(self, core: Core, sleep: Sleep = asyncio.sleep) -> None:
        self.core = core
        self.client = httpx.AsyncClient(follow_redirects=False)
        self.hooks = [Webhook(h, core, self.client, sleep) for h in core.config.webhooks]

    async def start(self) -> None:
        for hook in self.hooks:
            await hook.follower.start()
            WEBHOOK_BEHIND.labels(hook.id).set(hook.follower.behind())

    async def stop(self) -> None:
        for hook in self.hooks:
            await hook.follower.stop()
        await self.client.aclose()

    def routers(self) -> list[APIRouter]:
        from fastapi import Depends

        from switch.api.auth import require_token

        router = APIRouter(dependencies=[Depends(require_token)])

        @router.get("/webhooks", summary="Webhooks: place in the log, backlog, failure log")
        async def webhooks() -> list[dict[str, Any]]:
            return [hook.status() for hook in self.hooks]

        return [router]
