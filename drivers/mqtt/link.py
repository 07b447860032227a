"""The box's one MQTT connection: publish what the switch hands over, run commands.

Theory of operation
-------------------
:class:`MqttLink` owns one task that connects, and reconnects with backoff
(:class:`base.backoff.Backoff`) for as long as the switch runs. The switch never waits
for the broker: :meth:`MqttLink.telemetry` and :meth:`MqttLink.event` only queue (in
bounded :class:`~drivers.mqtt.outbox.Outbox` es, newest kept, drops counted), and a
pump publishes the queues in order (replies, then events, then telemetry) whenever a
connection is up. A message leaves its queue only once the broker acknowledged it
(QoS 1), so a connection lost mid-publish sends it again on the next one.

On connect the link sets the last will (``status`` = ``offline``, retained), publishes
``status`` = ``online`` (retained) and subscribes to ``cmd/+``. A clean stop publishes
``offline`` itself (the broker does not send the will for a clean disconnect).

Commands are parsed by :mod:`drivers.mqtt.wire`, then handed to the switch's callback,
each in its own task (at most ``max_commands`` at once; more are answered ``busy``). The
callback returns the result, or raises :class:`base.errors.Rejected` for an error reply
with its code; anything else it raises becomes an ``internal`` error reply and a log
line. The link knows nothing of what a command means.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiomqtt
import structlog

from base.errors import Rejected
from drivers.mqtt.outbox import Outbox, Outgoing
from drivers.mqtt.settings import MqttSettings
from drivers.mqtt.wire import (
    BadCommand,
    Command,
    RecentCommands,
    Topics,
    encode,
    parse_command,
    reply_error,
    reply_ok,
)

CommandHandler = Callable[[Command], Awaitable[dict[str, Any]]]
BadCommandHandler = Callable[[BadCommand], None]

STOP_FLUSH_SECONDS = 2.0  # on stop: time left to publish what is queued, then "offline"


class MqttLink:
    def __init__(
        self,
        settings: MqttSettings,
        on_command: CommandHandler,
        on_bad_command: BadCommandHandler | None = None,
    ) -> None:
        self.settings = settings
        self.topics = Topics(settings.box_id)
        self._on_command = on_command
        self._on_bad_command = on_bad_command
        self._replies = Outbox(settings.queue_max)
        self._events = Outbox(settings.queue_max)
        self._telemetry = Outbox(settings.queue_max)
        self._recent = RecentCommands()
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self.connected = False
        self.attempts = 0  # connection attempts so far
        self.connects = 0  # successful connections so far
        self.log = structlog.get_logger("mqtt").bind(
            box_id=settings.box_id, broker=f"{settings.host}:{settings.port}"
        )

    # -------------------------------------------------------------- the switch's side

    def telemetry(self, data: dict[str, Any]) -> None:
        self._queue(self._telemetry, Outgoing(self.topics.telemetry, encode(data)))

    def event(self, data: dict[str, Any]) -> None:
        self._queue(self._events, Outgoing(self.topics.events, encode(data)))

    @property
    def dropped(self) -> int:
        """Messages dropped (oldest first) while the broker was away, since start."""
        return self._replies.dropped + self._events.dropped + self._telemetry.dropped

    @property
    def queued(self) -> int:
        return len(self._replies) + len(self._events) + len(self._telemetry)

    def _queue(self, outbox: Outbox, item: Outgoing) -> None:
        before = outbox.dropped
        outbox.put(item)
        if outbox.dropped != before:
            self.log.warning("mqtt_outbox_full", topic=item.topic, dropped=outbox.dropped)
        self._wake.set()

    # ------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mqtt")

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for task in list(self._running):
            task.cancel()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, STOP_FLUSH_SECONDS + 5.0)
            except TimeoutError:
                self.log.warning("mqtt_stop_timeout", queued=self.queued)
            except Exception as exc:  # the link's own bug: say so, keep stopping
                self.log.error("mqtt_task_failed", error=repr(exc))

    def _client(self) -> aiomqtt.Client:
        s = self.settings
        tls: ssl.SSLContext | None = None
        if s.tls:
            tls = ssl.create_default_context(cafile=s.tls_ca)
        return aiomqtt.Client(
            s.host,
            s.port,
            username=s.username,
            password=s.password,
            identifier=f"edge-switch-{s.box_id}",
            will=aiomqtt.Will(self.topics.status, b"offline", qos=1, retain=True),
            clean_session=True,
            keepalive=s.keepalive,
            timeout=10,
            tls_context=tls,
        )

    async def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            started = time.monotonic()
            self.attempts += 1
            try:
                await self._session()
            except (aiomqtt.MqttError, OSError, ssl.SSLError) as exc:
                self.log.warning(
                    "mqtt_disconnected", error=str(exc) or repr(exc), queued=self.queued
                )
            finally:
                self.connected = False
            if self._stop.is_set():
                break
            failures = self.settings.backoff.failures_after(failures, time.monotonic() - started)
            delay = self.settings.backoff.delay(failures)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
        self.log.info("mqtt_stopped", queued=self.queued, dropped=self.dropped)

    async def _session(self) -> None:
        async with self._client() as client:
            await client.publish(self.topics.status, b"online", qos=1, retain=True)
            await client.subscribe(self.topics.commands, qos=1)
            self.connected = True
            self.connects += 1
            self.log.info("mqtt_connected", connects=self.connects, queued=self.queued)
            tasks: list[asyncio.Task[Any]] = [
                asyncio.create_task(self._pump(client), name="mqtt:pump"),
                asyncio.create_task(self._receive(client), name="mqtt:receive"),
                asyncio.create_task(self._stop.wait(), name="mqtt:stop"),
            ]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            if tasks[2] not in done:  # the pump or the receiver ended: the connection did
                for task in done:
                    error = None if task.cancelled() else task.exception()
                    if error is not None:
                        raise error
                raise aiomqtt.MqttError("the connection ended")
            await self._goodbye(client)

    async def _goodbye(self, client: aiomqtt.Client) -> None:
        """Clean stop: publish what is queued (briefly), then ``offline``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drain(client), STOP_FLUSH_SECONDS)
        await client.publish(self.topics.status, b"offline", qos=1, retain=True, timeout=2)

    # ------------------------------------------------------------------ publishing

    def _next(self) -> tuple[Outbox, Outgoing] | None:
        for outbox in (self._replies, self._events, self._telemetry):
            item = outbox.peek()
            if item is not None:
                return outbox, item
        return None

    async def _drain(self, client: aiomqtt.Client) -> None:
        while (found := self._next()) is not None:
            outbox, item = found
            await client.publish(item.topic, item.payload, qos=item.qos, retain=item.retain)
            outbox.pop(item)

    async def _pump(self, client: aiomqtt.Client) -> None:
        while True:
            self._wake.clear()
            await self._drain(client)
            await self._wake.wait()

    # -------------------------------------------------------------------- commands

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload
            if isinstance(payload, bytes | bytearray):
                raw = bytes(payload)
            else:
                raw = b"" if payload is None else str(payload).encode()
            parsed = parse_command(
                self.topics, str(message.topic), raw, retained=bool(message.retain)
            )
            if isinstance(parsed, BadCommand):
                self._refuse(parsed)
                continue
            fresh, answer = self._recent.begin(parsed.id)
            if not fresh:
                self.log.info("mqtt_command_repeated", command=parsed.name, id=parsed.id)
                if answer is not None:
                    self._queue(self._replies, Outgoing(self.topics.reply(parsed.id), answer))
                continue
            if len(self._running) >= self.settings.max_commands:
                self._recent.forget(parsed.id)
                self._answer(
                    parsed.id,
                    reply_error(parsed.id, "busy", "too many commands running; retry later"),
                )
                continue
            task = asyncio.create_task(self._execute(parsed), name=f"mqtt:cmd:{parsed.id}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    def _refuse(self, bad: BadCommand) -> None:
        self.log.warning(
            "mqtt_command_refused", command=bad.name, id=bad.id, code=bad.code, reason=bad.message
        )
        if self._on_bad_command is not None:
            self._on_bad_command(bad)
        if bad.id is not None:
            self._answer(bad.id, reply_error(bad.id, bad.code, bad.message), remember=False)

    async def _execute(self, command: Command) -> None:
        try:
            result = await self._on_command(command)
        except Rejected as exc:
            answer = reply_error(command.id, exc.code, exc.message)
        except asyncio.CancelledError:
            self._recent.forget(command.id)
            raise
        except Exception as exc:  # the handler's bug: the fleet gets an answer anyway
            self.log.error(
                "mqtt_command_crashed", command=command.name, id=command.id, error=repr(exc)
            )
            answer = reply_error(command.id, "internal", f"the command failed: {exc!r}")
        else:
            answer = reply_ok(command.id, result)
        self._answer(command.id, answer)

    def _answer(self, command_id: str, answer: bytes, *, remember: bool = True) -> None:
        if remember:
            self._recent.finish(command_id, answer)
        self._queue(self._replies, Outgoing(self.topics.reply(command_id), answer))
