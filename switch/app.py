"""``switch run``: wire the core, the channels and the HTTP server; stop cleanly on signals.

Start order: the store's lock (before anything is created or opened: a second switch on
the same store stops there, see :mod:`switch.store.lock`), store and actors, channel
services, then HTTP (so nothing is accepted before it can be stored). Stop order is the
reverse: stop HTTP intake, stop channel services (modems finish the command in flight),
drain actor mailboxes, flush the store, release the lock. Operations services (the daily
backup, the fleet link) start after the channels they report on. Under systemd
(``Type=notify``) the switch says READY once HTTP listens, pings the watchdog from the
event loop, and says STOPPING when it begins to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import structlog
import uvicorn
from fastapi import APIRouter

from switch.api.app import create_api
from switch.center.api import center_routers
from switch.config import Config, config_warnings, store_path
from switch.core import Core
from switch.reload.service import Reloader
from switch.store.lock import StoreLock
from switch.systemd import Notifier

log = structlog.get_logger("app")


class Service(Protocol):
    """A channel service (modems, SMS, SIP) the app starts and stops."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def routers(self) -> list[APIRouter]: ...


def build_services(core: Core, config_source: Path | None = None) -> list[Service]:
    """The services this config asks for (imported lazily: heavy extras)."""
    services: list[Service] = []
    config = core.config
    if config.webhooks:  # first: it follows the log from before the channels start
        from switch.webhooks import WebhookService

        services.append(WebhookService(core))
    csat = None
    if any(q.csat is not None for q in config.queues):
        from switch.center.csat import CsatService

        csat = CsatService(core)
    if config.modems:
        from switch.sms import SmsService

        sms = SmsService(core)
        if csat is not None:  # a survey's answer is no new conversation
            sms.add_inbound_listener(csat.on_sms, first=True)
        sms.add_inbound_listener(core.conversations.on_sms)  # before any SMS can arrive
        services.append(sms)
    if config.sip is not None:
        from switch.calls import CallService

        services.append(CallService(core))
        if config.sip.record_calls:
            from switch.calls.storage import RecordingGuard

            services.append(RecordingGuard(core))
    if csat is not None:
        services.append(csat)
    if config.backup is not None:
        from switch.backup.schedule import BackupService

        services.append(BackupService(config, config_source))
    if config.mqtt is not None:
        from switch.fleet.service import FleetService

        services.append(FleetService(core, config_source))
    return services


def _attach(core: Core, service: Service) -> None:
    """Make a started service reachable from the core (and so from the API and the
    other services) under its typed field."""
    from switch.calls import CallService
    from switch.calls.storage import RecordingGuard
    from switch.center.csat import CsatService
    from switch.sms import SmsService

    if isinstance(service, RecordingGuard):
        core.recordings = service
    elif isinstance(service, CsatService):
        core.csat = service
    elif isinstance(service, SmsService):
        core.sms = service
    elif isinstance(service, CallService):
        core.calls = service


class _Hangup:
    """SIGHUP: reload the config file. One that comes while the switch is still
    starting is kept and carried out once it serves."""

    def __init__(self, reloader: Reloader) -> None:
        self.reloader = reloader
        self.ready = False
        self.pending = False
        self.tasks: set[asyncio.Task[Any]] = set()

    def __call__(self) -> None:
        if not self.ready:
            self.pending = True
            log.info("config_reload_deferred", reason="the switch is still starting")
            return
        task = asyncio.create_task(self.reloader.reload(who="SIGHUP", role="system", via="signal"))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def serving(self) -> None:
        self.ready = True
        if self.pending:
            self.pending = False
            self()


def _follow_reloads(reloader: Reloader, api: Any, services: list[Service]) -> None:
    """Who must hear of a reload: the sign-in (people and their passwords), the
    recordings' limits and the fleet link (its ``config_reloaded`` event)."""
    from switch.sessions import people

    sessions = api.state.sessions
    reloader.add_config_listener(lambda config: setattr(sessions, "people", people(config)))
    for service in services:
        if service.name == "fleet":
            reloader.add_listener(service.config_reloaded)  # type: ignore[attr-defined]
        elif service.name == "recordings":
            reloader.add_config_listener(service.reconfigure)  # type: ignore[attr-defined]


class _Server(uvicorn.Server):
    """Uvicorn without its own signal handling: the app owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(
    config: Config, *, ready: asyncio.Event | None = None, config_path: str | None = None
) -> None:
    """Run the switch until SIGTERM/SIGINT. :class:`~switch.store.lock.StoreLocked` when
    another switch holds the store (raised before anything was created or opened)."""
    lock = StoreLock.acquire(store_path(config).parent)
    try:
        await _serve_locked(config, ready, config_path)
    finally:
        lock.release()


async def _serve_locked(
    config: Config, ready: asyncio.Event | None, config_path: str | None
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    systemd = Notifier.from_env()
    for key, problem in config_warnings(config):
        log.warning("config_warning", key=key, problem=problem)

    core = await Core.open(config)
    reloader = core.reloader = Reloader(core, Path(config_path) if config_path else None)
    hangup = _Hangup(reloader)  # from here a SIGHUP never kills the switch
    loop.add_signal_handler(signal.SIGHUP, hangup)
    services = build_services(core, Path(config_path) if config_path else None)
    started: list[Service] = []
    server: _Server | None = None
    server_task: asyncio.Task[Any] | None = None
    try:
        for service in services:
            await service.start()
            started.append(service)
            _attach(core, service)
        routers = [*center_routers(), *(r for s in services for r in s.routers())]
        api = create_api(core, routers)
        _follow_reloads(reloader, api, started)
        swept = api.state.sessions.sweep()  # sessions that ended while the switch was off
        if swept:
            log.info("sessions_swept", ended=swept)
        server = _Server(
            uvicorn.Config(
                api,
                host=config.http.host,
                port=config.http.port,
                log_config=None,
                access_log=False,
                lifespan="off",
            )
        )
        server_task = asyncio.create_task(server.serve(), name="http")
        while not server.started:
            if server_task.done():
                server_task.result()
                raise SystemExit(f"HTTP server could not listen on {config.http.listen}")
            await asyncio.sleep(0.01)
        log.info("switch_started", http=config.http.listen, services=[s.name for s in started])
        systemd.ready(f"HTTP on {config.http.listen}; " + ", ".join(s.name for s in started))
        systemd.start_watchdog()
        hangup.serving()
        if ready is not None:
            ready.set()
        stop_task = asyncio.create_task(stop.wait())
        await asyncio.wait({stop_task, server_task}, return_when=asyncio.FIRST_COMPLETED)
        log.info("switch_stopping")
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        systemd.stopping()
        if server is not None and server_task is not None:
            server.should_exit = True
            with contextlib.suppress(Exception):
                await server_task
        for service in reversed(started):
            try:
                await service.stop()
            except Exception as exc:  # keep stopping the rest; say what failed
                log.error("service_stop_failed", service=service.name, error=repr(exc))
        await core.close()
        await systemd.stop_watchdog()
        log.info("switch_stopped")
