"""A media worker's user agent: the pjsua2 endpoint, its accounts, what its callbacks do
to the legs, and the lifetime of every pjsua2 object it holds.

Theory of operation
-------------------
:class:`MediaAgent` turns SIP/RTP happenings into events (``emit``): an incoming
INVITE is announced (``incoming``) or refused busy (486, see
:class:`~drivers.sip.media.worker.legs.Legs`); a leg's EARLY/CONFIRMED/DISCONNECTED
states become ``ringing``/``answered``/``ended``; DTMF and transfer progress are passed
on; a modem leg's keys are found in band in its PCM stream (:mod:`base.dtmf`), after
each pump. Its audio wiring is :class:`~drivers.sip.media.worker.conference.Conference`'s.

Lifetimes: every pjsua2 Call is held in ``legs`` (by leg id) until it reaches
DISCONNECTED, and then released on the pump's thread after the pump returns
(:meth:`MediaAgent.after_pump`), never inside a callback; busy-refused Calls, finished
players and unbridged PCM ports (kept :data:`PCM_RELEASE_DELAY` so the bridge's clock
lets go of them) likewise. All are dropped before ``libDestroy()``
(:meth:`MediaAgent.shutdown`): the wheel aborts on exit otherwise. A recording's
``record_done`` is emitted once its WAV header is written (the bridge removes the
recorder a tick later, on its clock thread).

Talks to pjsua2 through the module it is given (``pj``) and to the core only through
``emit``; must not import the pump, the commands or anything asyncio.
"""

from __future__ import annotations

import contextlib
import os
import time
import wave
from collections.abc import Callable
from typing import Any

from drivers.sip.media.protocol import VERSION
from drivers.sip.media.worker import pjglue
from drivers.sip.media.worker.conference import Conference
from drivers.sip.media.worker.legs import Leg, Legs
from drivers.sip.media.worker.request import parse_request
from drivers.sip.uri import uri_user

__all__ = ["PCM_RELEASE_DELAY", "WORKER_VERSION", "Emit", "MediaAgent", "wav_duration"]

WORKER_VERSION = f"{VERSION}.1"
PCM_RELEASE_DELAY = 0.2  # s an unbridged PCM port is kept alive (the bridge lets go)
RECORDING_GRACE = 2.0  # s to wait for a recording's WAV header before estimating
MAX_ACCOUNTS = 6  # pjsua's default limit is 8 accounts

Emit = Callable[[str, dict[str, Any]], None]


def wav_duration(path: str) -> float | None:
    """Seconds of audio in a finished WAV file; None while it has no valid header."""
    try:
        with wave.open(path, "rb") as w:
            return w.getnframes() / float(w.getframerate() or 1)
    except (OSError, wave.Error, EOFError):
        return None


class MediaAgent:
    def __init__(
        self,
        pj: Any,
        *,
        index: int,
        emit: Emit,
        log: Any,
        sip_port: int,
        rtp_port: int,
        proxy: str,
        answer_timeout: float = 10.0,
        ring_timeout: float = 180.0,
        pump_ms: int = 10,
        log_level: str = "info",
        first_leg: int = 1,
        max_inbound: int = 1,
    ) -> None:
        self.pj = pj
        self.index = index
        self.emit = emit
        self.log = log
        self.sip_port = sip_port
        self.rtp_port = rtp_port
        self.proxy = proxy
        self.answer_timeout = answer_timeout
        self.ring_timeout = ring_timeout
        self.pump_ms = pump_ms
        self.log_level = log_level
        self.legs = Legs(index, first_leg=first_leg, max_inbound=max_inbound)
        self.conference = Conference(pj, log)
        self.graveyard: list[Any] = []  # Calls that ended: released after the pump
        self.rejected: list[Any] = []  # busy-rejected Calls, held until DISCONNECTED
        self.dead_players: list[Any] = []
        self.shared_players: dict[str, Any] = {}  # WAV path -> the looping player of it
        self.dead_pcm: list[tuple[Any, float]] = []  # (PcmPort of a modem or link, release time)
        self.closing: list[tuple[str, str, float]] = []  # (leg, WAV path, give-up time)
        self.accounts: dict[str, Any] = {}
        self.started = time.monotonic()
        self.ep: Any = None
        self.classes: pjglue.Classes | None = None
        self.pcm_class: type | None = None
        self._log_writer: Any = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Create and start the endpoint and the default account; say ``hello``."""
        self.classes = pjglue.make_classes(self.pj, self)
        self._log_writer = pjglue.make_log_writer(self.pj, self.log)
        self.ep = pjglue.create_endpoint(
            self.pj,
            sip_port=self.sip_port,
            log_level=self.log_level,
            user_agent=f"edge-switch-worker/{WORKER_VERSION}",
            log_writer=self._log_writer,
        )
        self.account(None).setDefault()
        self.conference.sink = self.ep.audDevManager().getPlaybackDevMedia()
        self.emit("hello", {"worker": self.index, "pid": os.getpid(), "version": WORKER_VERSION})
        self.log.info("worker_started", sip_port=self.sip_port, rtp_port=self.rtp_port)

    def account(self, from_user: str | None) -> Any:
        """The account calls from ``from_user`` (None: the worker itself) are placed with."""
        key = from_user or ""
        acc = self.accounts.get(key)
        if acc is not None:
            return acc
        if len(self.accounts) >= MAX_ACCOUNTS:
            in_use = self.legs.account_keys()
            for old_key in list(self.accounts):  # oldest first
                if old_key and old_key not in in_use:
                    self.accounts.pop(old_key).shutdown()
                    break
        assert self.classes is not None
        acc = pjglue.create_account(
            self.pj,
            self.classes.account,
            user=from_user or f"worker{self.index}",
            proxy=self.proxy,
            rtp_port=self.rtp_port,
        )
        self.accounts[key] = acc
        return acc

    def pump(self) -> None:
        """Let pjsua2 handle SIP, RTP and timers for up to ``pump_ms``."""
        self.ep.libHandleEvents(self.pump_ms)

    def shutdown(self) -> None:
        """Hang up, drop every pjsua2 object, destroy the library."""
        self._end_all_legs()
        self._release_all()

    def destroy(self) -> None:
        # Calls are already ended and nothing registers: skip pjsua's 1 s grace wait.
        self.ep.libDestroy(self.pj.PJSUA_DESTROY_NO_RX_MSG)
        self.ep = None

    def _end_all_legs(self) -> None:
        # (a helper, so that no loop variable keeps a Call alive past libDestroy)
        for leg in self.legs:
            self.hangup(leg, 503)
        deadline = time.monotonic() + 2.0
        while self.legs and time.monotonic() < deadline:
            self.pump()
            self.after_pump()
        for leg in self.legs:
            self.finish_leg(leg, 503, "worker_shutdown")

    def _release_all(self) -> None:
        """Drop every pjsua2 object: a Call alive at libDestroy aborts the process."""
        self.legs.by_id.clear()
        self.graveyard.clear()
        self.rejected.clear()
        self.dead_players.clear()
        self.shared_players.clear()
        self.conference.clear()
        deadline = time.monotonic() + PCM_RELEASE_DELAY
        while self.dead_pcm and time.monotonic() < deadline:
            self.pump()
        self.dead_pcm.clear()
        for _ in range(5):  # let the conference drop the removed ports (asynchronous)
            self.pump()
        self.finish_recordings(time.monotonic(), force=True)
        for acc in self.accounts.values():
            with contextlib.suppress(Exception):
                acc.shutdown()
        self.accounts.clear()

    # ------------------------------------------------------------ after each pump

    def after_pump(self) -> None:
        """Release what callbacks retired (on this thread, outside pjsua callbacks)."""
        if self.graveyard:
            self.graveyard.clear()
        for leg in self.legs:
            player = leg.player
            if player is not None and player.eof and not leg.player_loop:
                self.drop_player(leg)
                self.apply()
                self.emit("play_done", {"call": leg.id})
            if leg.keys is not None and leg.pcm is not None:
                for digit in leg.keys.feed(leg.pcm.link.take_heard()):
                    self.emit("dtmf", {"call": leg.id, "digit": digit, "method": "audio"})
        if self.dead_players:
            self.dead_players.clear()
        if self.dead_pcm:
            now = time.monotonic()
            self.dead_pcm = [(p, t) for p, t in self.dead_pcm if t > now]
        if self.closing:
            self.finish_recordings(time.monotonic())

    def finish_recordings(self, now: float, force: bool = False) -> None:
        still: list[tuple[str, str, float]] = []
        for leg_id, path, give_up in self.closing:
            duration = wav_duration(path)
            if duration is None and not force and now < give_up:
                still.append((leg_id, path, give_up))
                continue
            if duration is None:
                # The header never came: estimate from the size (16-bit mono PCM).
                with contextlib.suppress(OSError):
                    duration = max(0, os.path.getsize(path) - 44) / (2.0 * pjglue.CLOCK_RATE)
                self.log.warning("recording_not_finalised", call=leg_id, path=path)
            self.emit(
                "record_done",
                {"call": leg_id, "path": path, "duration": round(duration or 0.0, 3)},
            )
        self.closing = still

    def timers(self, now: float) -> None:
        """Refuse (480) the incoming legs the core left unanswered too long."""
        for leg in self.legs.overdue(now):
            self.log.warning("incoming_call_unanswered_by_core", call=leg.id)
            self.hangup(leg, 480)

    # ------------------------------------------------------------ leg actions

    def apply(self) -> None:
        """Recompute the conference connections from the legs and apply the diff."""
        self.conference.apply(self.legs)

    def hangup(self, leg: Leg, code: int | None) -> None:
        leg.hung_up_locally = True
        leg.deadline = None
        if leg.modem:  # no SIP call: the leg ends now
            self.finish_leg(leg, code or 200, "hangup")
            return
        prm = self.pj.CallOpParam(True)
        if code is not None:
            prm.statusCode = code
        try:
            leg.call.hangup(prm)
        except self.pj.Error as exc:
            self.log.warning("hangup_failed", call=leg.id, error=exc.info(False))

    def looping_player(self, path: str) -> Any:
        """The player looping ``path`` for every leg that waits to it (created on first
        use): one file reader and one conference port however many legs hear it."""
        player = self.shared_players.get(path)
        if player is None:
            assert self.classes is not None
            player = self.classes.player()
            player.createPlayer(path, 0)  # 0: loop
            self.shared_players[path] = player
        return player

    def drop_player(self, leg: Leg) -> None:
        """Detach the leg's player; once no leg hears it, it is disconnected by the next
        apply() and destroyed after the pump (never inside a pjsua callback)."""
        player, leg.player = leg.player, None
        if player is None or any(other.player is player for other in self.legs):
            return
        for path, shared in list(self.shared_players.items()):
            if shared is player:
                del self.shared_players[path]
        self.dead_players.append(player)

    def drop_link(self, leg: Leg, link_id: str) -> dict[str, Any]:
        """Disconnect and close one of the leg's links; its counters. Like a PCM port,
        the port object lives on for PCM_RELEASE_DELAY."""
        port = leg.links.pop(link_id)
        self.apply()
        port.link.close()
        stats: dict[str, Any] = port.link.stats()
        stats["callback_errors"] = int(port.callback_errors)
        self.dead_pcm.append((port, time.monotonic() + PCM_RELEASE_DELAY))
        self.log.info("link_closed", call=leg.id, link=link_id, **stats)
        return stats

    def drop_pcm(self, leg: Leg) -> dict[str, Any]:
        """Disconnect and close the leg's PCM port; its counters. The port object lives
        on for PCM_RELEASE_DELAY (the bridge's clock may still hold it for a tick)."""
        port, leg.pcm = leg.pcm, None
        self.apply()
        port.link.close()
        stats: dict[str, Any] = port.link.stats()
        stats["callback_errors"] = int(port.callback_errors)
        self.dead_pcm.append((port, time.monotonic() + PCM_RELEASE_DELAY))
        self.log.info("pcm_unbridged", call=leg.id, **stats)
        return stats

    def stop_recording(self, leg: Leg) -> dict[str, Any]:
        """Detach and destroy the recorder. The conference removes ports asynchronously
        (on its clock thread), so the WAV file is finished a tick later: record_done is
        emitted from the loop once the file's header is written (see after_pump)."""
        path = leg.record_path or ""
        rec, leg.recorder, leg.record_path = leg.recorder, None, None
        self.apply()
        del rec
        self.closing.append((leg.id, path, time.monotonic() + RECORDING_GRACE))
        return {"path": path}

    def finish_leg(self, leg: Leg, code: int, reason: str) -> None:
        if leg.ended:
            return
        leg.ended = True
        if leg.modem:  # its audio is the PCM port: out of the conference first
            self.conference.detach(leg)
        pcm = self.drop_pcm(leg) if leg.pcm is not None else None
        for link_id in list(leg.links):
            self.drop_link(leg, link_id)
        if leg.recorder is not None:
            self.stop_recording(leg)
        if leg.player is not None:
            self.drop_player(leg)
        self.conference.detach(leg)
        self.legs.remove(leg)
        self.apply()
        if leg.call is not None:
            self.graveyard.append(leg.call)
        ended: dict[str, Any] = {
            "call": leg.id,
            "code": code,
            "reason": reason,
            "by": "local" if leg.hung_up_locally else "remote",
        }
        if pcm is not None:
            ended["pcm"] = pcm
        self.emit("ended", ended)

    # ------------------------------------------------------------ pjsua2 callbacks

    def on_incoming(self, account: Any, prm: Any) -> None:
        assert self.classes is not None
        c = self.classes.call(account, prm.callId)
        raw = str(prm.rdata.wholeMsg)
        ruri, values, names = parse_request(raw)
        now = time.monotonic()
        reserved = self.legs.reserved(now)
        busy = len(self.legs)
        leg_id = self.legs.offer(now)
        if leg_id is None:
            op = self.pj.CallOpParam(True)
            op.statusCode = 486
            self.rejected.append(c)
            c.answer(op)
            self.log.info("incoming_rejected_busy", legs=busy, reserved=reserved)
            return
        c.leg_id = leg_id
        self.legs.add(
            Leg(id=leg_id, call=c, direction="in", created=now, deadline=now + self.answer_timeout)
        )
        headers = {
            names[key]: ", ".join(vals)
            for key, vals in values.items()
            if key.startswith("x-switch-")
        }
        frm = (values.get("from") or [""])[0]
        to = (values.get("to") or [""])[0]
        self.emit(
            "incoming",
            {
                "call": leg_id,
                "from": frm,
                "to": to,
                "ruri": ruri,
                "call_id": (values.get("call-id") or [""])[0],
                "headers": headers,
                "from_user": uri_user(frm),
                "to_user": uri_user(to),
                "source": str(prm.rdata.srcAddress),
            },
        )

    def on_call_state(self, call: Any) -> None:
        pj = self.pj
        info = call.getInfo()
        leg = self.legs.get(call.leg_id)
        if leg is None:
            if info.state == pj.PJSIP_INV_STATE_DISCONNECTED and call in self.rejected:
                self.rejected.remove(call)
                self.graveyard.append(call)
                self.log.debug("busy_call_released", held=len(self.rejected))
            return
        state = info.state
        if state == pj.PJSIP_INV_STATE_EARLY and leg.direction == "out" and not leg.ringing_sent:
            leg.ringing_sent = True
            self.emit("ringing", {"call": leg.id, "code": int(info.lastStatusCode)})
        elif state == pj.PJSIP_INV_STATE_CONFIRMED and not leg.answered:
            leg.answered = True
            leg.deadline = None
            self.emit("answered", {"call": leg.id})
        elif state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.finish_leg(leg, int(info.lastStatusCode), str(info.lastReason))

    def on_media_state(self, call: Any) -> None:
        pj = self.pj
        leg = self.legs.get(call.leg_id)
        if leg is None:
            return
        self.conference.detach(leg)
        try:
            media = call.getAudioMedia(-1)
        except pj.Error:
            media = None
        if media is not None:
            self.conference.attach(leg, media)
            info = call.getInfo()
            # Media before the answer (a 183 with SDP); not the SDP of the 200 itself.
            if (
                leg.direction == "out"
                and info.state == pj.PJSIP_INV_STATE_EARLY
                and not leg.early_sent
            ):
                leg.early_sent = True
                self.emit("early_media", {"call": leg.id})
        self.apply()

    def on_dtmf(self, call: Any, digit: str, method: int) -> None:
        if not call.leg_id or call.leg_id not in self.legs:
            return
        how = "info" if method == self.pj.PJSUA_DTMF_METHOD_SIP_INFO else "rfc4733"
        self.emit("dtmf", {"call": call.leg_id, "digit": str(digit), "method": how})

    def on_transfer_status(self, call: Any, prm: Any) -> None:
        if not call.leg_id:
            return
        self.emit(
            "transfer_status",
            {"call": call.leg_id, "code": int(prm.statusCode), "final": bool(prm.finalNotify)},
        )
