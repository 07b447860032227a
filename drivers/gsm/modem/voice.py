"""Voice calls on a modem: ATD/ATA/ATH/VTS, audio switch-on, CLCC polling, call URCs.

The call's state is :class:`~drivers.gsm.modem.call_state.CallTracker` (a table); this
module turns commands and URCs into its events and hands what it announces to
``emit`` (the driver queues it, so the core hears calls in order with everything else).

When a call becomes active (ATA answered, ``^CONN``, or CLCC stat 0) the profile's
``[voice] enable_audio`` (``AT^DDSETEX=2``, ``AT+CPCMREG=1``, ``AT+QPCMV=1,0``) is sent
once for that call: the models want it after connect. A refusal is logged; the call
goes on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from base.errors import ChannelUnavailable
from drivers.gsm.engine import LONG_TIMEOUT, Command, Done, atd, vts
from drivers.gsm.modem.call_state import CallTracker, IllegalCallEvent
from drivers.gsm.modem.shell import SerialShell
from drivers.gsm.modem.status import StatusBoard
from drivers.gsm.modem.urc import CallSignal
from drivers.gsm.profiles import Profile
from drivers.gsm.types import GsmCallEvent

__all__ = ["Voice"]


class Voice:
    def __init__(
        self,
        shell: SerialShell,
        status: StatusBoard,
        profile: Profile,
        *,
        require_ready: Callable[[], None],
        emit: Callable[[GsmCallEvent], None],
        enable_audio_soon: Callable[[], None],
        log: Any,
    ) -> None:
        self.shell = shell
        self.status = status
        self.profile = profile
        self.tracker = CallTracker(status.modem_id)
        self._require_ready = require_ready
        self._emit = emit
        self._enable_audio_soon = enable_audio_soon
        self.log = log

    @property
    def in_call(self) -> bool:
        return self.tracker.call is not None

    def feed(
        self,
        event: str,
        *,
        number: str | None = None,
        cause: str | None = None,
        call_id: str | None = None,
        audio_soon: bool = False,
    ) -> None:
        """Move the call and emit what it announces. ``audio_soon``: if the call became
        active, queue the audio switch-on first (before the core hears "answered" and
        bridges the call)."""
        before = self.tracker.state
        try:
            events = self.tracker.feed(event, number=number, cause=cause, call_id=call_id)
        except IllegalCallEvent as exc:
            self.log.info("gsm_call_event_ignored", error=str(exc))
            return
        if audio_soon and before != "active" and self.tracker.state == "active":
            self._enable_audio_soon()
        for call_event in events:
            self._emit(call_event)

    def signal(self, urc: CallSignal) -> None:
        """A call URC (RING, +CLIP, ^ORIG, ^CONF, ^CONN, ^CEND, NO CARRIER...)."""
        self.feed(urc.event, number=urc.number, cause=urc.cause, audio_soon=True)

    # ------------------------------------------------------------ commands

    async def dial(self, number: str, *, call_id: str | None = None) -> str:
        command = atd(number)
        self._require_ready()
        if self.tracker.call is not None:
            raise ChannelUnavailable("a call is already in progress on this modem")
        self.feed("dial", number=number, call_id=call_id)
        call = self.tracker.call
        assert call is not None
        done = await self.shell.at(command)
        if not done.ok:
            self.feed("ended", cause=done.final.lower().replace(" ", "_"))
            raise ChannelUnavailable(f"dial failed: {done.final}")
        if self.profile.urc_dialect != "huawei":  # huawei says ^ORIG itself
            self.feed("dialed")
        return call.id

    async def answer(self) -> None:
        done = await self.shell.at(Command("ATA", LONG_TIMEOUT))
        if not done.ok:
            raise ChannelUnavailable(f"answer failed: {done.final}")
        await self.enable_audio()
        if self.tracker.call is not None:
            self.feed("connected")

    async def hangup(self) -> None:
        self.feed("hangup")
        done = await self.shell.q("ATH")
        if not done.ok:
            await self.shell.q("AT+CHUP")
        self.feed("ended", cause="local_hangup")

    async def send_dtmf(self, digits: str) -> None:
        commands = [vts(d) for d in digits]  # validate all first
        for command in commands:
            await self.shell.at(command)

    async def enable_audio(self) -> None:
        """The profile's ``[voice] enable_audio``, once per call, once it is active."""
        call, line = self.tracker.call, self.profile.enable_audio
        if call is None or call.audio_enabled or not line or not self.profile.voice:
            return
        call.audio_enabled = True
        try:
            done = await self.shell.q(line)
        except ChannelUnavailable as exc:  # the call goes on; its audio may stay silent
            self.status.error(f"{line}: {exc}")
            self.log.warning("modem_audio_not_enabled", command=line, error=str(exc))
            return
        if done.ok:
            self.log.info("modem_audio_enabled", command=line, call_id=call.id)
        else:
            self.status.error(f"{line} refused: {done.final}")
            self.log.warning("modem_audio_refused", command=line, answer=done.final)

    async def poll(self) -> None:
        """``AT+CLCC`` (the ``clcc`` dialect has no URC for answered or alerting)."""
        if self.tracker.call is None:
            return
        self.clcc(await self.shell.q("AT+CLCC"))

    def clcc(self, done: Done) -> None:
        if self.tracker.call is None or not done.ok:
            return
        stats = []
        for line in done.lines:
            m = re.match(r"\+CLCC:\s*\d+,\d+,(\d+)", line)
            if m:
                stats.append(int(m.group(1)))
        if not stats:
            self.feed("ended", cause="remote_hangup")
        elif 0 in stats:
            self.feed("connected", audio_soon=True)
        elif 3 in stats:  # alerting: the far end rings
            self.feed("alerting")
