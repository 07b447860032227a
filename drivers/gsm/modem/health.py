"""A modem's health: signal, registration, operator, SIM storage, and the SMS settings.

Every ``poll_interval`` :meth:`Health.check` asks ``AT+CSQ`` (→ dBm), ``AT+CREG?`` /
``AT+CEREG?`` (registered = stat 1 or 5), ``AT+COPS?``, then reads back the SMS settings
(:mod:`~drivers.gsm.modem.sms_settings`). Settings that moved since set-up (a modem
reset behind our back) are sent again (``restore``), the repair is logged, counted and
kept for ``diagnose``, and the caller sweeps the SIM: an SMS that arrived while the
modem was not telling us is found without any URC. ``^RSSI`` and ``+CREG`` URCs update
the status between polls (:meth:`Health.registration`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from drivers.gsm.modem.responses import first_quoted, registration_line, signal_dbm
from drivers.gsm.modem.shell import SerialShell
from drivers.gsm.modem.sms_settings import QUERIES, Drift, SmsSettings, drift, read, storage
from drivers.gsm.modem.status import StatusBoard
from drivers.gsm.profiles import Profile

__all__ = ["Health", "Repair", "registration_event"]


@dataclass(frozen=True, slots=True)
class Repair:
    at: float  # wall clock
    drifts: tuple[Drift, ...]
    restored: bool  # read back as set up after the restore

    def __str__(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.at))
        what = "; ".join(str(d) for d in self.drifts)
        return f"{when}: {what}" + ("" if self.restored else " (restore did not hold)")


def registration_event(stats: set[int]) -> tuple[str, bool]:
    """(lifecycle event, registered) from the CREG/CEREG stats last seen."""
    registered = bool(stats & {1, 5})
    if registered:
        return "registered", True
    if stats and stats <= {3}:
        return "denied", False
    return "searching", False


class Health:
    def __init__(
        self,
        shell: SerialShell,
        status: StatusBoard,
        profile: Profile,
        *,
        restore: Callable[[int | None], Awaitable[None]],
        log: Any,
    ) -> None:
        self.shell = shell
        self.status = status
        self.profile = profile
        self._restore = restore
        self.log = log
        self.reg: dict[str, int] = {}
        self.storage: tuple[int, int] | None = None
        self.baseline: SmsSettings | None = None
        self.repairs: deque[Repair] = deque(maxlen=5)  # the latest, for diagnose
        self.repaired = 0  # settings restored since start
        self._verifying = asyncio.Lock()  # the poll and a diagnose may ask at once

    @property
    def storage_full(self) -> bool:
        return bool(self.storage and self.storage[1] and self.storage[0] >= self.storage[1])

    async def check(self) -> None:
        """One health round (the caller sweeps the SIM after it)."""
        signal = signal_dbm(await self.shell.q("AT+CSQ"))
        for query in self.profile.registration or ("AT+CREG?",):
            done = await self.shell.q(query)
            for line in done.lines:
                kind, stat = registration_line(line, solicited=True)
                if kind is not None and stat is not None:
                    self.reg[kind] = stat
        operator = first_quoted(await self.shell.q("AT+COPS?"))
        await self.verify_settings()
        await self.registration(signal_dbm=signal, operator=operator)
        if self.storage_full:
            assert self.storage is not None
            self.log.warning("sim_storage_full", used=self.storage[0], total=self.storage[1])

    async def read_settings(self) -> SmsSettings:
        cnmi, cmgf, csms, cpms = [await self.shell.q(query) for query in QUERIES]
        self.storage = storage(cpms)
        return read(cnmi, cmgf, csms, cpms)

    async def set_baseline(self) -> None:
        """Right after set-up: what the settings are meant to stay."""
        self.baseline = await self.read_settings()
        self.log.info("modem_sms_settings", **_fields(self.baseline))

    async def verify_settings(self) -> bool:
        """Read the SMS settings back; restore any that moved. True when it restored."""
        async with self._verifying:
            current = await self.read_settings()
            if self.baseline is None:
                return False
            drifts = drift(self.baseline, current)
            if not drifts:
                return False
            self.log.warning("modem_settings_drifted", drift=[str(d) for d in drifts])
            csms = self.baseline.csms if any(d.setting == "CSMS" for d in drifts) else None
            await self._restore(csms)
            after = await self.read_settings()
            repair = Repair(time.time(), drifts, restored=not drift(self.baseline, after))
            self.repairs.append(repair)
            self.repaired += 1
            self.status.error(f"SMS settings restored: {'; '.join(str(d) for d in drifts)}")
            self.log.warning("modem_settings_restored", repair=str(repair), held=repair.restored)
            return True

    async def registration(self, **changes: Any) -> None:
        event, registered = registration_event(set(self.reg.values()))
        if self.status.state in ("no_sim", "pin_required", "disconnected", "failed"):
            await self.status.set(None, **changes)
            return
        await self.status.set(event, registered=registered, **changes)


def _fields(settings: SmsSettings) -> dict[str, Any]:
    return {
        "cnmi": settings.cnmi,
        "cmgf": settings.cmgf,
        "csms": settings.csms,
        "cpms": settings.cpms,
    }
