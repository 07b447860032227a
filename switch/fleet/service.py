"""The box as its fleet sees it: telemetry, operational events and remote commands.

Theory of operation
-------------------
:class:`FleetService` owns the :class:`drivers.mqtt.MqttLink` and one loop. Every
``CHECK_EVERY`` seconds (and at once when a modem reports a new state) the loop builds
a report (:mod:`switch.fleet.telemetry`), looks for operational events
(:mod:`switch.fleet.watch`: modem lost/recovered, media worker crashed, disk low/ok)
and publishes the report when ``[mqtt] telemetry_interval`` has passed or when
something that matters changed (:func:`~switch.fleet.telemetry.change_key`), but never
more than once per ``MIN_GAP``. Nothing here waits for the broker: the link queues.

Commands go through :func:`switch.fleet.commands.run`; each one, allowed or not, is
written to the audit log (``event = "audit"``) with who sent it (the MQTT command id),
what it asked (arguments redacted) and how it ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import Any

import structlog
from fastapi import APIRouter

from base.errors import ConfigError, Rejected
from drivers.gsm import ModemStatus
from drivers.mqtt import BadCommand, Command, MqttLink
from switch.core import Core
from switch.fleet import commands, telemetry
from switch.fleet.watch import DiskWatch, ModemWatch, worker_crashes
from switch.reload.service import ReloadResult
from switch.settings import mqtt_settings
from switch.version import switch_version

log = structlog.get_logger("fleet")
audit_log = structlog.get_logger("audit")

CHECK_EVERY = 5.0  # seconds between looks at the box
MIN_GAP = 1.0  # seconds between two reports, however often things change
MB = 1024 * 1024


class FleetService:
    name = "fleet"

    def __init__(self, core: Core, config_source: Path | None = None) -> None:
        assert core.config.mqtt is not None
        self.core = core
        self.mqtt = core.config.mqtt
        self.allowed = frozenset(self.mqtt.commands)
        self.context = commands.Context(core, config_source)
        self.link = MqttLink(mqtt_settings(self.mqtt), self._command, self._bad_command)
        self._disk = DiskWatch(self.mqtt.disk_low_mb * MB)
        self._modems = ModemWatch()
        self._modem_states: dict[str, str] = {}
        self._restarts: dict[int, int] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.reports = 0

    async def start(self) -> None:
        ca = self.mqtt.tls_ca
        if ca is not None and not os.access(ca, os.R_OK):
            raise ConfigError([("mqtt.tls_ca", f"cannot read the CA file {ca}")])
        await self.link.start()
        if self.core.recordings is not None:
            self.core.recordings.add_listener(self._recording_flip)
        sms = self.core.sms
        if sms is not None:
            for modem_id, status in sms.statuses.items():
                self._modem_states[modem_id] = status.state
            sms.add_status_listener(self._modem_status)
        self._restarts = self._worker_restarts()
        self._event("switch_started", version=switch_version())
        self._task = asyncio.create_task(self._loop(), name="fleet")
        log.info("fleet_started", box_id=self.mqtt.box_id, commands=sorted(self.allowed))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._event("switch_stopping")
        await self.link.stop()

    def routers(self) -> list[APIRouter]:
        return []

    # --------------------------------------------------------------- telemetry

    async def _loop(self) -> None:
        last_key: tuple[Any, ...] | None = None
        last_sent = -float("inf")
        while True:
            self._wake.clear()
            try:
                report = await self._report()
            except Exception as exc:  # a service mid-restart: try again next round
                log.warning("telemetry_failed", error=repr(exc))
            else:
                key = telemetry.change_key(report)
                now = time.monotonic()
                if key != last_key or now - last_sent >= self.mqtt.telemetry_interval:
                    self.link.telemetry(report)
                    self.reports += 1
                    last_key, last_sent = key, now
            await asyncio.sleep(MIN_GAP)
            timeout = min(CHECK_EVERY, max(0.0, self.mqtt.telemetry_interval - MIN_GAP))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _report(self) -> dict[str, Any]:
        self._check_workers()
        extra = {
            "disk_low": self._disk.low,
            "recording": (
                self.core.recordings.view() if self.core.recordings is not None else None
            ),
            "mqtt": {"dropped": self.link.dropped, "connects": self.link.connects},
        }
        report = await telemetry.collect(self.core, self.mqtt.box_id, extra)
        change = self._disk.check(report["disk"]["free_bytes"])
        if change is not None:
            report["disk_low"] = self._disk.low
            self._event(change, **report["disk"], threshold_bytes=self._disk.threshold)
        return report

    # ------------------------------------------------------------------ events

    def _event(self, kind: str, **fields: Any) -> None:
        self.link.event(
            {"at": telemetry.now_iso(), "box_id": self.mqtt.box_id, "kind": kind, **fields}
        )
        log.info("fleet_event", kind=kind, **fields)

    def _recording_flip(self, kind: str, fields: dict[str, Any]) -> None:
        self._event(kind, **fields)  # recording_paused / recording_resumed
        self._wake.set()

    def config_reloaded(self, result: ReloadResult) -> None:
        """A reload, applied or refused (listener of :class:`switch.reload.service.Reloader`)."""
        kind = "config_reloaded" if result.reloaded else "config_reload_refused"
        fields = result.to_json()
        fields.pop("reloaded")
        self._event(kind, **fields)

    def _modem_status(self, status: ModemStatus) -> None:
        previous = self._modem_states.get(status.modem_id)
        self._modem_states[status.modem_id] = status.state
        if previous == status.state:
            return
        kind = self._modems.update(status.modem_id, status.state)
        if kind is not None:
            self._event(
                kind,
                modem=status.modem_id,
                state=status.state,
                previous=previous,
                error=status.last_error,
            )
        self._wake.set()

    def _worker_restarts(self) -> dict[int, int]:
        calls = self.core.calls
        if calls is None:
            return {}
        return {int(w["worker"]): int(w["restarts"]) for w in calls.pool.health()}

    def _check_workers(self) -> None:
        now = self._worker_restarts()
        for worker, restarts in worker_crashes(self._restarts, now):
            self._event("worker_crashed", worker=worker, restarts=restarts)
        self._restarts = now

    # ---------------------------------------------------------------- commands

    async def _command(self, command: Command) -> dict[str, Any]:
        try:
            result = await commands.run(self.context, command, self.allowed)
        except Rejected as exc:
            self._audit(command.name, command.id, command.args, exc.code)
            raise
        except Exception as exc:
            self._audit(command.name, command.id, command.args, "internal", error=repr(exc))
            raise
        self._audit(command.name, command.id, command.args, "ok")
        return result

    def _bad_command(self, bad: BadCommand) -> None:
        self._audit(bad.name, bad.id, {}, bad.code, error=bad.message)
        if bad.id is None:  # nobody to answer: the fleet hears of it as an event
            self._event("command_refused", command=bad.name, code=bad.code, reason=bad.message)

    def _audit(
        self, name: str, command_id: str | None, args: dict[str, Any], outcome: str, **extra: Any
    ) -> None:
        audit_log.info(
            "audit",
            source="mqtt",
            box_id=self.mqtt.box_id,
            action=name,
            command_id=command_id,
            args=commands.redact(args),
            outcome=outcome,
            **extra,
        )
