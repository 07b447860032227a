"""Calls coming in: where a new call's first leg came from, and its call actor started.

A media worker's ``incoming`` event is a SIP leg: Kamailio marks where it came from
(``X-Switch-Origin``: a trunk, an agent's phone, a browser guest of the widget); the
modem driver hands over a GSM caller. Each becomes a call (:meth:`CallService.new_call`)
whose actor then runs the flow (:mod:`actors.call`). Holds no state of its own: the
service's tables are the calls' state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from base.errors import Rejected
from drivers.sip import TrunkSettings, from_provider, is_guest_user, uri_user
from drivers.sip.media import ops
from switch.calls.gsm import GsmLine
from switch.calls.records import WIDGET
from switch.calls.web import guest_identity

if TYPE_CHECKING:
    from switch.calls.service import CallService

log = structlog.get_logger("calls")


class InboundCalls:
    def __init__(self, calls: CallService) -> None:
        self.calls = calls

    async def sip(self, worker: int, event: ops.Incoming) -> None:
        calls = self.calls
        origin = header(event.headers, "X-Switch-Origin") or ""
        kind, _, params = origin.partition(";")
        attrs = dict(p.split("=", 1) for p in params.split(";") if "=" in p)
        if kind == "trunk" and attrs.get("id") in calls.trunks:
            await self._trunk(worker, event, calls.trunks[attrs["id"]])
        elif kind == "agent" and attrs.get("user") in calls.agent_by_user:
            await self._agent(worker, event, calls.agent_by_user[attrs["user"]])
        elif kind == "web" and calls.web is not None and is_guest_user(attrs.get("guest", "")):
            await self._web(worker, event, attrs["guest"])
        else:
            log.warning("incoming_unknown_origin", worker=worker, origin=origin)
            await calls.pool.command(worker, "reject", call=event.leg, code=403)

    async def _trunk(self, worker: int, event: ops.Incoming, trunk: TrunkSettings) -> None:
        calls = self.calls
        region = calls.core.config.numbers.default_region
        caller_user = uri_user(event.from_uri)
        caller = from_provider(caller_user, trunk, region)
        dialled = uri_user(event.ruri) or uri_user(event.to_uri)
        did = from_provider(dialled, trunk, region) if dialled else None
        target, entry = calls.entrances.of_number(did, calls.clock.now())
        state = await calls.new_call(
            "inbound",
            caller or caller_user,
            trunk.id,
            worker,
            did=did or dialled or None,
            customer_leg=event.leg,
            legs=frozenset({event.leg}),
            **entry,
        )
        log.info(
            "call_incoming",
            call_id=state.id,
            contact_id=state.contact_id,
            trunk=trunk.id,
            did=state.did,
            route=target,
        )
        calls.begin(state)

    async def _web(self, worker: int, event: ops.Incoming, guest: str) -> None:
        """A customer's widget call (a guest's browser, through rtpengine): like a trunk
        call to the widget number, from the guest's web identity."""
        calls = self.calls
        assert calls.web is not None
        state = await calls.new_call(
            "inbound",
            guest,
            WIDGET,
            worker,
            identity=guest_identity(guest),
            did=calls.web.config.widget_number,
            customer_leg=event.leg,
            legs=frozenset({event.leg}),
        )
        log.info("call_incoming", call_id=state.id, contact_id=state.contact_id, via=WIDGET)
        calls.begin(state)

    async def _agent(self, worker: int, event: ops.Incoming, agent_id: str) -> None:
        calls = self.calls
        dialled = uri_user(event.ruri) or uri_user(event.to_uri)
        try:
            number = calls.core.normalize(dialled)
            route, via = calls.choose_route(number)
        except Rejected as exc:
            log.warning("agent_dial_rejected", agent=agent_id, dialled=dialled, error=exc.message)
            await calls.pool.command(worker, "reject", call=event.leg, code=404)
            return
        busy = route == "modem" and calls.modem_taken(via)
        if route == "modem" and not busy:
            calls.modem_calls[via] = ""  # claimed now: the next dial-out finds it taken
        try:
            state = await calls.new_call(
                "agent_out",
                number,
                via,
                worker,
                route=route,
                agent=agent_id,
                agent_leg=event.leg,
                legs=frozenset({event.leg}),
            )
        except BaseException:
            if route == "modem" and not busy:
                calls.modem_calls.pop(via, None)
            raise
        if route == "modem" and not busy:
            calls.modem_calls[via] = state.id
        if busy:
            log.info("gsm_dial_refused", call_id=state.id, modem_id=via, reason="modem busy")
        calls.begin(state, refuse=("modem_busy", 600) if busy else None)

    async def gsm(
        self, modem_id: str, gsm_call: str, number: str | None, line: GsmLine, audio_port: str
    ) -> bool:
        """An incoming GSM call on a modem with a voice port: ring the agents from a
        reserved worker. False (logged) when no worker is free: the caller hangs it up.
        Returns at once (the ringing goes on in the call's actor)."""
        calls = self.calls
        worker = await calls.pool.reserve()
        if worker is None:
            log.warning(
                "gsm_call_refused",
                modem_id=modem_id,
                gsm_call=gsm_call,
                reason="no free media worker",
            )
            return False
        own = calls.entrances.modem_numbers.get(modem_id)
        target, entry = calls.entrances.of_number(own, calls.clock.now())
        try:
            state = await calls.new_call(
                "gsm_in",
                number or "",
                modem_id,
                worker,
                worker_reserved=True,
                modem_call=True,
                did=own,
                **entry,
            )
        except BaseException:
            await calls.pool.release(worker)
            raise
        calls.gsm[state.id] = calls.gsm_side(modem_id, gsm_call, line, audio_port, state.id)
        log.info(
            "gsm_call_incoming",
            call_id=state.id,
            contact_id=state.contact_id,
            modem_id=modem_id,
            worker=worker,
            route=target,
        )
        calls.begin(state)
        return True


def header(headers: dict[str, str], name: str) -> str | None:
    """A SIP header's value, its name matched without regard to case."""
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None
