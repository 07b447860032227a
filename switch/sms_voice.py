"""GSM voice calls on the modems, as the SMS service (which owns the modems) hands them
to the call service: an incoming call on a modem with a voice port rings the agents
(``gsm_incoming``), its later events follow (``gsm_event``); a call no agent takes is
only recorded in the caller's journey. Outgoing: the modem a number can go out through,
and the dial (the call service's ``GsmDialer``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import structlog

from actors.messages import CallEvent
from base.errors import ChannelUnavailable, Rejected
from drivers.gsm import GsmCallEvent, Modem
from switch.sms_inbound import sender_identity

if TYPE_CHECKING:
    from switch.sms import SmsService

log = structlog.get_logger("sms")

CALL_NS = "call"


class GsmCallRouter(Protocol):
    """The call service as the modems see it (``switch.calls.CallService``)."""

    async def gsm_incoming(
        self, modem_id: str, gsm_call: str, number: str | None, line: Modem, audio_port: str
    ) -> bool: ...

    async def gsm_event(self, gsm_call: str, kind: str, cause: str | None) -> None: ...


class ModemVoice:
    def __init__(self, sms: SmsService) -> None:
        self.sms = sms
        self.core = sms.core
        self._routed: set[str] = set()  # driver call ids the call service owns
        self._end_cause: dict[str, str] = {}  # calls the switch ended itself, and why

    async def call_event(self, event: GsmCallEvent) -> None:
        calls: GsmCallRouter | None = self.core.calls
        if event.call_id in self._routed and calls is not None:
            if event.kind == "ended":
                self._routed.discard(event.call_id)
            await calls.gsm_event(event.call_id, event.kind, event.cause)
            return
        if event.kind == "incoming" and await self._route_call(event, calls):
            return
        if event.kind == "ended" and event.call_id in self._end_cause:
            cause = self._end_cause.pop(event.call_id)
            event = GsmCallEvent(event.modem_id, event.call_id, event.kind, event.number, cause)
        await self._journal_call(event)

    async def _route_call(self, event: GsmCallEvent, calls: GsmCallRouter | None) -> bool:
        """An incoming call on a modem with a voice port goes to the agents (True)."""
        slot = self.sms.slots.get(event.modem_id)
        if slot is None or slot.audio_port is None or calls is None:
            return False
        if not slot.modem.profile.voice:
            log.warning("gsm_call_not_routed", modem_id=event.modem_id, reason="no voice")
            return False
        modem = slot.modem
        if await calls.gsm_incoming(
            event.modem_id, event.call_id, event.number, modem, slot.audio_port
        ):
            self._routed.add(event.call_id)
            return True
        # Nobody could take it (no free media worker): journal it and hang up.
        self._end_cause[event.call_id] = "no_free_worker"
        await self._journal_call(event)
        try:
            await modem.hangup()
        except ChannelUnavailable as exc:
            log.warning("gsm_call_hangup_failed", modem_id=event.modem_id, error=str(exc))
        return True

    async def _journal_call(self, event: GsmCallEvent) -> None:
        """A GSM call no agent takes: its phases in the caller's journey."""
        phase = {"incoming": "started", "dialing": "started", "answered": "answered"}.get(
            event.kind, "ended" if event.kind == "ended" else None
        )
        if phase is None or not event.number:
            return
        _, identity = sender_identity(self.core, event.number)
        contact_id = await self.core.directory.contact_for(identity)
        call_id = f"gsm-{event.modem_id}-{event.call_id}"
        direction = "out" if event.kind == "dialing" else "in"
        existing = self.core.store.get(CALL_NS, call_id) or {
            "id": call_id,
            "contact_id": contact_id,
            "direction": direction,
            "from": event.number if direction == "in" else event.modem_id,
            "to": event.modem_id if direction == "in" else event.number,
            "state": "ringing",
            "agent": None,
            "via": event.modem_id,
            "channel": "gsm",
        }
        existing["state"] = {"started": "ringing", "answered": "answered", "ended": "ended"}[phase]
        await self.core.registry.ask(
            f"contact:{contact_id}",
            CallEvent(
                call_id,
                phase,  # type: ignore[arg-type]
                self.core.clock.now(),
                via=event.modem_id,
                direction=existing["direction"],
                number=event.number,
                cause=event.cause,
            ),
        )
        await self.core.store.put(CALL_NS, call_id, existing)

    # --------------------------------------------------------- outgoing calls

    def voice_modem(self, number: str) -> tuple[bool, str] | None:
        """The modem a call to ``number`` can go out through (voice, and a PCM port):
        ``(True, id)`` when an ``[sms] routes`` prefix picks it, ``(False, id)`` for the
        fallback (``[sms] default_modem`` when it has voice, else the first such modem);
        None when no modem can carry a call."""
        voice = [
            mid
            for mid, slot in self.sms.slots.items()
            if slot.audio_port is not None and slot.modem.profile.voice
        ]
        if not voice:
            return None
        best: tuple[int, str] | None = None
        for route in self.sms.config.sms.routes:
            if route.modem not in voice or not number.startswith(route.prefix):
                continue
            if best is None or len(route.prefix) > best[0]:
                best = (len(route.prefix), route.modem)
        if best is not None:
            return True, best[1]
        default = self.sms.config.sms.default_modem
        return False, default if default in voice else voice[0]

    def modem_in_call(self, modem_id: str) -> bool:
        """The modem's voice channel is taken (one call per modem)."""
        return self.sms.modem_slot(modem_id).modem.in_call

    def voice_line(self, modem_id: str) -> tuple[Modem, str]:
        """A voice modem and its PCM port (ChannelUnavailable when it has neither)."""
        slot = self.sms.modem_slot(modem_id)
        if slot.audio_port is None or not slot.modem.profile.voice:
            raise ChannelUnavailable(f"modem {modem_id} has no voice port")
        return slot.modem, slot.audio_port

    async def dial_call(self, modem_id: str, gsm_call: str, number: str) -> None:
        """Dial ``number`` (ATD) for the call service, which gets the call's events
        (``gsm_event``) under the id it chose, ``gsm_call``. Rejected ``modem_busy`` (409)
        when the modem already has a call; ChannelUnavailable when it is not ready or the
        dial fails (the driver then reports the call's end, which the call service owns)."""
        modem, _ = self.voice_line(modem_id)
        if modem.in_call:
            raise Rejected("modem_busy", f"modem {modem_id} is busy with another call", 409)
        state = modem.status().state
        if state != "ready":
            raise ChannelUnavailable(f"modem {modem_id} is {state}")
        self._routed.add(gsm_call)  # before ATD: the first event may beat dial's return
        try:
            await modem.dial(number, call_id=gsm_call)
        except ValueError as exc:  # refused before anything reached the modem
            self._routed.discard(gsm_call)
            raise Rejected("bad_number", str(exc), 400) from exc
