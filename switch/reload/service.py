"""The config reload of a running switch: SIGHUP, ``switch config reload`` (through the
API) and the fleet's ``config.reload`` command all come here.

A reload reads the file ``switch run`` was started with and validates it like
``switch check-config``. An invalid file is refused with every error by key path, and
the running config stays. A valid one is planned (:mod:`switch.reload.plan`): the
contact center's parts are applied at once (:meth:`switch.core.Core.reconfigure`),
calls and waiting customers go on, and the keys that need a restart are named and left
as they run. Each reload, applied or refused, is one ``config_reloaded`` (or
``config_reload_refused``) log line, an entry of the audit trail, and an event for the
listeners (the fleet link publishes it).

A check (:meth:`Reloader.check`, ``GET /api/v1/config/check``, the console's
"Configuration" card) reads and plans the file the same way and applies nothing: what a
reload would change now, or every error by key path. The last reload's result (applied
or refused, by whom, how) is kept for it to show.

One reload at a time: a second waits for the first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from base.errors import ConfigError
from switch.audit import audit
from switch.config import Config, load_config
from switch.reload.plan import ReloadPlan, plan_reload

if TYPE_CHECKING:
    from switch.core import Core

log = structlog.get_logger("reload")


@dataclass(frozen=True, slots=True)
class ReloadResult:
    reloaded: bool
    source: str  # the config file
    errors: tuple[tuple[str, str], ...] = ()  # (key path, problem) when refused
    applied: tuple[str, ...] = ()  # "queues[sales] (added)"
    restart: tuple[str, ...] = ()  # changed in the file, running as before until a restart
    at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reloaded": self.reloaded, "config": self.source}
        if self.reloaded:
            out["applied"] = list(self.applied)
            out["needs_restart"] = list(self.restart)
        else:
            out["errors"] = [{"key": key, "message": message} for key, message in self.errors]
        return out

    def summary(self) -> str:
        """One plain line: what happened."""
        if not self.reloaded:
            problems = "; ".join(f"{key}: {message}" for key, message in self.errors)
            return (
                f"config refused ({len(self.errors)} error(s)); the running config is kept: "
                f"{problems}"
            )
        if not self.applied and not self.restart:
            return "config reloaded: nothing changed"
        text = f"config reloaded: {len(self.applied)} change(s) applied"
        if self.restart:
            text += f"; needs a restart (not applied): {', '.join(self.restart)}"
        return text


@dataclass(frozen=True, slots=True)
class LastReload:
    """The last reload since the switch started: its result, who asked and how."""

    result: ReloadResult
    who: str
    via: str  # signal, api, mqtt


Listener = Callable[[ReloadResult], None]


class Reloader:
    def __init__(self, core: Core, source: Path | None) -> None:
        self.core = core
        self.source = source
        self._lock = asyncio.Lock()
        self._listeners: list[Listener] = []
        self._config_listeners: list[Callable[[Config], None]] = []
        self.last: LastReload | None = None

    def add_listener(self, listener: Listener) -> None:
        """Told of every reload, applied or refused (the fleet's events)."""
        self._listeners.append(listener)

    def add_config_listener(self, listener: Callable[[Config], None]) -> None:
        """Given the config the switch runs from after each applied reload."""
        self._config_listeners.append(listener)

    async def reload(self, *, who: str, role: str, via: str) -> ReloadResult:
        """Reload the config file; ``who``/``role``/``via`` go to the audit trail
        (``via``: ``signal``, ``api`` or ``mqtt``)."""
        async with self._lock:
            result = await self._reload()
        self.last = LastReload(result, who, via)
        if result.reloaded:
            log.info(
                "config_reloaded",
                config=result.source,
                via=via,
                applied=list(result.applied),
                needs_restart=list(result.restart),
            )
        else:
            log.warning(
                "config_reload_refused",
                config=result.source,
                via=via,
                errors=[f"{key}: {message}" for key, message in result.errors],
            )
        await audit(
            self.core,
            "config.reload",
            who=who,
            role=role,
            source=via,
            target=result.source,
            outcome="ok" if result.reloaded else "invalid_config",
            detail=result.to_json(),
        )
        for listener in self._listeners:
            try:
                listener(result)
            except Exception as exc:  # a listener's fault is not the reload's
                log.error("reload_listener_failed", error=repr(exc))
        return result

    async def check(self) -> ReloadResult:
        """What a reload would do now, without doing it: the file read and validated,
        its changes planned against the running config. Nothing applied, nothing
        audited (``reloaded`` here means "valid")."""
        result, _ = await self._plan()
        return result

    async def _reload(self) -> ReloadResult:
        result, plan = await self._plan()
        if plan is not None and plan.applied:
            await self.core.reconfigure(plan.effective)
            for listener in self._config_listeners:
                listener(plan.effective)
        return result

    async def _plan(self) -> tuple[ReloadResult, ReloadPlan | None]:
        now = self.core.clock.now()
        if self.source is None:
            problem = ("(file)", "the switch runs the built-in demo config: no file to reload")
            return ReloadResult(False, "demo", (problem,), at=now), None
        source = str(self.source)
        try:
            loaded = await asyncio.to_thread(load_config, self.source)
        except ConfigError as exc:
            return ReloadResult(False, source, tuple(exc.errors), at=now), None
        plan = plan_reload(self.core.config, loaded)
        result = ReloadResult(
            True,
            source,
            applied=tuple(str(c) for c in plan.applied),
            restart=tuple(str(c) for c in plan.restart),
            at=now,
        )
        return result, plan
