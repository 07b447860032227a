"""The MQTT driver alone against a real mosquitto: no switch, a callback for commands."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from base.backoff import Backoff
from base.errors import Rejected
from drivers.mqtt import Command, MqttLink, MqttSettings
from tests.integration.mosquitto import Broker, Watcher, password

pytestmark = pytest.mark.integration

ROOT = "edge/shop-12"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path).start()
    yield b
    b.stop()


def settings(broker: Broker, **kw: Any) -> MqttSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": broker.port,
        "box_id": "shop-12",
        "username": "box",
        "password": password("box"),
        "keepalive": 5,
        "backoff": Backoff(initial=0.2, maximum=1.0),
    }
    values.update(kw)
    return MqttSettings(**values)


def payload_is(topic: str, value: bytes) -> Any:
    return lambda t, p, r: t == topic and p == value


async def wait(watcher: Watcher, check: Any, what: str) -> tuple[str, bytes, bool]:
    return await asyncio.to_thread(watcher.wait_for, check, 20.0, what)


class Handler:
    def __init__(self) -> None:
        self.calls: list[Command] = []

    async def __call__(self, command: Command) -> dict[str, Any]:
        self.calls.append(command)
        if command.name == "refuse":
            raise Rejected("forbidden", "not here")
        if command.name == "crash":
            raise RuntimeError("boom")
        return {"echo": command.args}


def reply_of(command_id: str) -> Any:
    return lambda t, p, r: t == f"{ROOT}/reply/{command_id}"


async def test_status_telemetry_and_command_replies(broker: Broker) -> None:
    watcher = await asyncio.to_thread(Watcher, broker)
    handler = Handler()
    link = MqttLink(settings(broker), handler)
    await link.start()
    try:
        await wait(watcher, payload_is(f"{ROOT}/status", b"online"), "online")
        link.telemetry({"modems": [], "n": 1})
        _, body, _ = await wait(watcher, lambda t, p, r: t == f"{ROOT}/telemetry", "telemetry")
        assert json.loads(body) == {"modems": [], "n": 1}

        cmd = f"{ROOT}/cmd"
        await asyncio.to_thread(watcher.publish, f"{cmd}/echo", b'{"id":"c1","args":{"a":1}}')
        _, body, _ = await wait(watcher, reply_of("c1"), "reply c1")
        assert json.loads(body) == {"id": "c1", "ok": True, "result": {"echo": {"a": 1}}}

        await asyncio.to_thread(watcher.publish, f"{cmd}/refuse", b'{"id":"c2"}')
        _, body, _ = await wait(watcher, reply_of("c2"), "reply c2")
        assert json.loads(body)["error"] == {"code": "forbidden", "message": "not here"}

        await asyncio.to_thread(watcher.publish, f"{cmd}/crash", b'{"id":"c3"}')
        _, body, _ = await wait(watcher, reply_of("c3"), "reply c3")
        assert json.loads(body)["ok"] is False
        assert json.loads(body)["error"]["code"] == "internal"

        await asyncio.to_thread(watcher.publish, f"{cmd}/echo", b'{"id":"c4","args":7}')
        _, body, _ = await wait(watcher, reply_of("c4"), "reply c4")
        assert json.loads(body)["error"]["code"] == "malformed"

        # the same id again: the first answer, and the handler does not run twice
        await asyncio.to_thread(watcher.publish, f"{cmd}/echo", b'{"id":"c1","args":{"a":2}}')
        _, body, _ = await wait(watcher, reply_of("c1"), "repeated reply c1")
        assert json.loads(body)["result"] == {"echo": {"a": 1}}
        assert [c.id for c in handler.calls] == ["c1", "c2", "c3"]
    finally:
        await link.stop()
    await wait(watcher, payload_is(f"{ROOT}/status", b"offline"), "offline on a clean stop")
    watcher.close()


async def test_tls_with_a_ca_file(broker: Broker) -> None:
    watcher = await asyncio.to_thread(Watcher, broker)
    link = MqttLink(
        settings(broker, port=broker.tls_port, tls=True, tls_ca=str(broker.ca)), Handler()
    )
    await link.start()
    try:
        await wait(watcher, payload_is(f"{ROOT}/status", b"online"), "online over TLS")
        link.event({"kind": "hello"})
        _, body, _ = await wait(watcher, lambda t, p, r: t == f"{ROOT}/events", "event")
        assert json.loads(body) == {"kind": "hello"}
    finally:
        await link.stop()
    watcher.close()


async def test_a_broker_restart_is_survived_and_what_waited_is_published(broker: Broker) -> None:
    watcher = await asyncio.to_thread(Watcher, broker)
    link = MqttLink(settings(broker, queue_max=3), Handler())
    await link.start()
    try:
        await wait(watcher, payload_is(f"{ROOT}/status", b"online"), "online")
        await asyncio.to_thread(broker.stop)
        while link.connected:
            await asyncio.sleep(0.05)
        for i in range(5):  # the box keeps going; the outbox keeps the newest 3
            link.event({"n": i})
        assert link.dropped == 2
        await asyncio.to_thread(broker.start)
        got = []
        for _ in range(3):
            _, body, _ = await wait(watcher, lambda t, p, r: t == f"{ROOT}/events", "event")
            got.append(json.loads(body)["n"])
        assert got == [2, 3, 4]
        assert link.connects == 2
        link.telemetry({"after": "restart"})
        _, body, _ = await wait(watcher, lambda t, p, r: t == f"{ROOT}/telemetry", "telemetry")
        assert json.loads(body) == {"after": "restart"}
    finally:
        await link.stop()
    watcher.close()


async def test_wrong_credentials_keep_retrying_without_crashing(broker: Broker) -> None:
    link = MqttLink(settings(broker, password="wrong"), Handler())
    await link.start()
    try:
        link.event({"kind": "queued"})
        while link.attempts < 3:  # several refused attempts, the link still runs
            await asyncio.sleep(0.05)
        assert link._task is not None and not link._task.done()
        assert not link.connected and link.connects == 0 and link.queued == 1
    finally:
        await link.stop()
