"""Webhooks against a real local HTTP server: signed JSON, retries with backoff, the
failure log, order, and nothing held up."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from actors.messages import AddNote, InboundMessage
from base.clock import RealClock
from switch.config import parse_config
from switch.core import Core
from switch.phone import phone_identity
from switch.store import Store
from switch.webhooks import WebhookService
from tests.integration.hook_receiver import HookReceiver

SECRET = "a-shared-secret-for-tests"


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


@pytest.fixture
async def receiver() -> AsyncIterator[HookReceiver]:
    with HookReceiver() as r:
        yield r


async def start(
    tmp_path: Path, receiver: HookReceiver, **hook: Any
) -> tuple[Core, WebhookService, list[float]]:
    cfg = parse_config(
        {
            "store": {"path": str(tmp_path / "s.db")},
            "api": {"tokens": ["secret-token-for-tests"]},
            "webhooks": [
                {
                    "id": "crm",
                    "url": receiver.url,
                    "secret": SECRET,
                    "events": ["note", "csat"],
                    "retry_initial": 0.01,
                    "retry_max": 0.04,
                    **hook,
                }
            ],
        }
    )
    core = Core(cfg, await Store.open(cfg.store.path), RealClock())
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(seconds)

    service = WebhookService(core, sleep=sleep)
    await service.start()
    return core, service, slept


async def note(core: Core, contact: str, text: str) -> None:
    await core.registry.ask(f"contact:{contact}", AddNote(text, "test", core.clock.now()))


def signature_ok(headers: dict[str, str], body: bytes) -> bool:
    mac = hmac.new(
        SECRET.encode(), f"{headers['x-switch-timestamp']}.".encode() + body, hashlib.sha256
    )
    return hmac.compare_digest(headers["x-switch-signature"], "sha256=" + mac.hexdigest())


async def test_a_failing_receiver_gets_every_event_in_order_after_backoff(
    tmp_path: Path, receiver: HookReceiver
) -> None:
    core, service, slept = await start(tmp_path, receiver)
    try:
        contact = await core.directory.contact_for(phone_identity("+85512345678"))
        receiver.answer(500, 503, 502)
        for n in range(3):
            await note(core, contact, f"note {n}")
        # a kind the webhook did not ask for is not sent
        await core.registry.ask(
            f"contact:{contact}",
            InboundMessage("sms", "gsm1", "+85512345678", "hello", core.clock.now(), "m1"),
        )
        await eventually(lambda: len(receiver.delivered()) == 3)
        got = receiver.requests()
        assert [r.status for r in got] == [500, 503, 502, 200, 200, 200]
        assert slept == [0.01, 0.02, 0.04]  # doubling, up to retry_max
        # every attempt of one event carries the same delivery id
        assert len({r.headers["x-switch-delivery"] for r in got[:4]}) == 1
        bodies = [r.json for r in receiver.delivered()]
        assert [b["data"]["text"] for b in bodies] == ["note 0", "note 1", "note 2"]
        assert all(b["kind"] == "note" and b["contact_id"] == contact for b in bodies)
        assert all(signature_ok(r.headers, r.body) for r in got)
        await eventually(lambda: service.hooks[0].status()["behind"] == 0)
    finally:
        await service.stop()
        await core.close()


async def test_a_refused_event_and_one_past_max_attempts_go_to_the_failure_log(
    tmp_path: Path, receiver: HookReceiver
) -> None:
    core, service, _ = await start(tmp_path, receiver, max_attempts=3)
    try:
        contact = await core.directory.contact_for(phone_identity("+85512345678"))
        receiver.answer(400, 500, 500, 500)  # first refused for good; second fails 3 times
        for n in range(3):
            await note(core, contact, f"note {n}")
        await eventually(lambda: len(receiver.delivered()) == 1)
        assert [r.status for r in receiver.requests()] == [400, 500, 500, 500, 200]
        assert receiver.delivered()[0].json["data"]["text"] == "note 2"
        status = service.hooks[0].status()
        assert status["failed"] == 2
        assert [f["error"] for f in status["failures"]] == ["HTTP 400", "HTTP 500"]
        assert [f["attempts"] for f in status["failures"]] == [1, 3]
    finally:
        await service.stop()
        await core.close()


async def test_a_receiver_that_hangs_never_holds_up_the_journey(
    tmp_path: Path, receiver: HookReceiver
) -> None:
    core, service, _ = await start(tmp_path, receiver, timeout=0.2)
    receiver.server.shutdown()  # nobody answers: connections are refused or time out
    try:
        contact = await core.directory.contact_for(phone_identity("+85512345678"))
        for n in range(20):
            await note(core, contact, f"note {n}")  # each returns once recorded
        journey = await core.journey(contact)
        assert len([e for e in journey if e["kind"] == "note"]) == 20
        assert service.hooks[0].status()["behind"] == 20
    finally:
        await service.stop()
        await core.close()
