"""``switch trunk test``: is a trunk usable? Registration, an OPTIONS round trip, and an
optional test call, each a check row with a plain-language detail.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from actors.call.causes import sip_cause
from base.errors import ChannelUnavailable, Rejected
from drivers.sip import KamailioSupervisor, TrunkSettings, WorkerPool, sip_options, to_provider

log = structlog.get_logger("trunk_test")

OPTIONS_TIMEOUT = 3.0  # the provider's answer to one SIP OPTIONS
TEST_CALL_TIMEOUT = 30.0  # the test call's answer


def check_row(name: str, ok: bool, detail: str) -> dict[str, str]:
    return {"name": name, "status": "ok" if ok else "fail", "detail": detail}


class TrunkTester:
    def __init__(
        self,
        trunks: Mapping[str, TrunkSettings],
        pool: WorkerPool,
        kamailio: KamailioSupervisor,
        normalize: Callable[[str], str],
    ) -> None:
        self.trunks = trunks
        self.pool = pool
        self.kamailio = kamailio
        self.normalize = normalize
        # test legs waiting for their answer: the call plane hands their events here
        self.waiters: dict[str, asyncio.Future[tuple[str, dict[str, Any]]]] = {}

    def event(self, leg: str, name: str, data: dict[str, Any]) -> bool:
        """A worker event for a test leg (True: it was one, consumed)."""
        waiter = self.waiters.get(leg)
        if waiter is None:
            return False
        if name in ("answered", "ended") and not waiter.done():
            waiter.set_result((name, data))
        return True

    async def run(self, trunk_id: str, number: str | None) -> dict[str, Any]:
        trunk = self.trunks.get(trunk_id)
        if trunk is None:
            raise Rejected("not_found", f"trunk {trunk_id!r} not found", 404)
        checks = [await self._registration(trunk), await self._options(trunk)]
        if number:
            checks.append(await self._test_call(trunk, number))
        return {"trunk": trunk_id, "checks": checks}

    async def registrations(self) -> dict[str, str]:
        """Each trunk's registration in one word: ``peering`` (IP peering, nothing to
        register), else Kamailio's state (``registered``, ``registering``,
        ``unregistered``, ``disabled``), ``unknown`` when the edge cannot say."""
        out = {t.id: "peering" for t in self.trunks.values() if not t.register_}
        if len(out) == len(self.trunks):
            return out
        states: dict[str, str] = {}
        try:
            for reg in await self.kamailio.trunk_registrations():
                states[str(reg.get("trunk"))] = str(reg.get("state"))
        except Exception as exc:  # Kamailio restarting: unknown, not a failure
            log.warning("trunk_registrations_unavailable", error=repr(exc))
        for trunk in self.trunks.values():
            if trunk.register_:
                out[trunk.id] = states.get(trunk.id, "unknown")
        return out

    async def _registration(self, trunk: TrunkSettings) -> dict[str, str]:
        if not trunk.register_:
            return {
                "name": "registration",
                "status": "ok",
                "detail": "IP peering (no registration needed)",
            }
        regs = await self.kamailio.trunk_registrations()
        mine = [r for r in regs if r.get("trunk") == trunk.id]
        ok = bool(mine) and all(bool(r.get("registered")) for r in mine)
        state = mine[0].get("state") if mine else "no registration record"
        detail = "registered with the provider" if ok else f"not registered ({state})"
        return check_row("registration", ok, detail)

    async def _options(self, trunk: TrunkSettings) -> dict[str, str]:
        where = f"{trunk.host}:{trunk.port}"
        started = time.monotonic()
        code = await sip_options(trunk.host, trunk.port, timeout=OPTIONS_TIMEOUT)
        ms = (time.monotonic() - started) * 1000
        if code is None:
            return check_row(
                "options",
                False,
                f"nothing answered at {where} within {OPTIONS_TIMEOUT:g} s (SIP OPTIONS over "
                "UDP): check the trunk's host and port, that the provider expects traffic "
                "from this switch's address, and any firewall in between",
            )
        if 200 <= code < 300:
            return check_row("options", True, f"the provider at {where} answered in {ms:.0f} ms")
        return {
            "name": "options",
            "status": "warn",
            "detail": f"the provider at {where} is reachable ({ms:.0f} ms) but answered "
            f"OPTIONS with {code}; many providers do, calls may still work",
        }

    async def _test_call(self, trunk: TrunkSettings, raw: str) -> dict[str, str]:
        number = self.normalize(raw)
        worker = await self.pool.reserve()
        if worker is None:
            return check_row("test_call", False, "no media worker is free for a test call")
        leg = "test-" + secrets.token_hex(4)
        waiter: asyncio.Future[tuple[str, dict[str, Any]]] = (
            asyncio.get_running_loop().create_future()
        )
        self.waiters[leg] = waiter
        started = time.monotonic()
        try:
            await self.pool.command(
                worker,
                "dial",
                call=leg,
                uri=f"sip:{to_provider(number, trunk)}@{trunk.host}:{trunk.port}",
                from_user=trunk.dids[0].lstrip("+") if trunk.dids else None,
            )
            name, data = await asyncio.wait_for(waiter, TEST_CALL_TIMEOUT)
            if name == "answered":
                await self.pool.command(worker, "hangup", call=leg)
                return check_row(
                    "test_call",
                    True,
                    f"{number} answered in {time.monotonic() - started:.1f} s; hung up",
                )
            code, reason = data.get("code"), str(data.get("reason") or "")
            cause = sip_cause(code if isinstance(code, int) else None, reason)
            return check_row(
                "test_call",
                False,
                f"the call to {number} failed: {code} {reason} ({cause.replace('_', ' ')})",
            )
        except TimeoutError:
            with contextlib.suppress(Exception):
                await self.pool.command(worker, "hangup", call=leg)
            return check_row(
                "test_call", False, f"{number} did not answer within {TEST_CALL_TIMEOUT:g} s"
            )
        except (Rejected, ChannelUnavailable) as exc:
            await self.pool.release(worker)
            return check_row("test_call", False, f"the test call could not be placed: {exc}")
        finally:
            self.waiters.pop(leg, None)
