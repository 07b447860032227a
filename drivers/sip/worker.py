"""A media worker process: one pjsua2 user agent, driven by the core over a Unix socket.

    python -m drivers.sip.worker --index I --socket PATH --sip-port P --rtp-port R \\
        --proxy HOST:PORT [--log-level info] [--answer-timeout 10] [--ring-timeout 180]

Theory of operation
-------------------
The worker decides nothing. It connects to the core's socket, says ``hello``, then turns
SIP/RTP happenings into events and the core's commands into pjsua2 calls
(protocol: ``drivers.sip.protocol``).

Threads: one. pjsua2 runs with ``threadCnt=0`` and ``mainThreadOnly``; the media endpoint
shares the SIP ioqueue, so SIP and RTP sockets are both polled by ``libHandleEvents``,
which the loop below calls with a short timeout (``--pump-ms``, 10 ms by default), and
between two pumps it polls the control socket with a zero timeout. Only the null sound
device's clock thread (which drives the conference bridge) runs beside it; callbacks
that may come from it (a player's end of file) only set a flag.

Legs: every pjsua2 Call is held in ``Worker.legs`` (by leg id) until it reaches
DISCONNECTED, and then released on this thread after the pump returns; all are dropped
before ``libDestroy()`` (the wheel aborts on exit otherwise).

One conversation per worker: while any leg exists, a new incoming INVITE gets 486 (the
edge then tries the next worker). So does one while the core holds a reservation
(``reserve``: the core picked this idle worker for a call it is about to dial; the first
``dial``, ``release`` or the reservation's expiry ends it).

An incoming call is only announced (``incoming``); it rings (180) on ``ring``, is
answered on ``answer``, refused on ``reject``; if the core says nothing for
``--answer-timeout`` seconds (``--ring-timeout`` once it said ``ring``), the worker
refuses it with 480.

Audio: the conference bridge runs at 8 kHz mono. ``bridge`` connects two legs both ways,
``play`` connects a WAV player to one leg, ``record_start`` connects the leg, its bridged
peers and its player to a WAV recorder (the mix of the conversation). The wanted
connections are recomputed from that state after every change and applied as a diff.

GSM voice: ``pcm_bridge`` opens a modem's raw PCM port (a serial device or a pty) and
connects it to a leg both ways through an ``AudioMediaPort`` (``drivers.sip.pcm``): what
the SIP party says goes to the modem, what the modem sends goes to the SIP party
(silence when nothing came). Its callbacks run on the conference clock thread and only
do non-blocking I/O on that fd. ``pcm_unbridge`` or the leg's end closes the port and
reports the frame counts (in the reply, and as ``pcm`` in the ``ended`` event); the
port object itself is destroyed a few ticks later, once the bridge has let go of it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import select
import signal
import socket
import sys
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from base.errors import ProtocolError
from base.logs import configure_logging
from drivers.sip.pcm import PcmLink, check_pcm_path, pcm_media_format, pcm_port_class
from drivers.sip.protocol import (
    VERSION,
    Command,
    Decoder,
    Event,
    Reply,
    check_command,
    encode,
)
from drivers.sip.uri import uri_user

pj: Any = None  # the pjsua2 module, loaded dynamically in main() (no type stubs)

WORKER_VERSION = f"{VERSION}.1"
CLOCK_RATE = 8000
RTP_PORT_RANGE = 50
PCM_RELEASE_DELAY = 0.2  # s an unbridged PCM port is kept alive (the bridge lets go)
_PJ_LOG_LEVELS = {"debug": 4, "info": 2, "warning": 1, "error": 1}

Emit = Callable[[str, dict[str, Any]], None]


# ---------------------------------------------------------------- SIP message bits


_COMPACT = {"f": "from", "t": "to", "i": "call-id", "m": "contact", "v": "via"}


def parse_request(raw: str) -> tuple[str, dict[str, list[str]], dict[str, str]]:
    """(request URI, lower-cased name -> values, lower-cased name -> name as sent)."""
    head = raw.split("\r\n\r\n", 1)[0].split("\n\n", 1)[0]
    lines = head.replace("\r\n", "\n").split("\n")
    parts = lines[0].split(" ")
    ruri = parts[1] if len(parts) >= 3 else ""
    unfolded: list[str] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and unfolded:
            unfolded[-1] += " " + line.strip()
        elif line:
            unfolded.append(line)
    values: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for line in unfolded:
        name, sep, value = line.partition(":")
        if not sep:
            continue
        name = name.strip()
        key = _COMPACT.get(name.lower(), name.lower())
        values.setdefault(key, []).append(value.strip())
        names.setdefault(key, name)
    return ruri, values, names


def wav_duration(path: str) -> float | None:
    """Seconds of audio in a finished WAV file; None while it has no valid header."""
    try:
        with wave.open(path, "rb") as w:
            return w.getnframes() / float(w.getframerate() or 1)
    except (OSError, wave.Error, EOFError):
        return None


# ---------------------------------------------------------------- legs


@dataclass(eq=False)
class Leg:
    id: str
    call: Any  # LegCall
    direction: str  # "in" | "out"
    created: float
    deadline: float | None = None  # auto-reject (incoming, not yet answered)
    answered: bool = False
    ringing_sent: bool = False
    early_sent: bool = False
    hung_up_locally: bool = False
    port: int | None = None  # conference slot of the leg's audio, when media is active
    peers: set[str] = field(default_factory=set)
    player: Any = None  # LegPlayer
    player_loop: bool = False
    recorder: Any = None
    record_path: str | None = None
    ended: bool = False
    pcm: Any = None  # PcmPort bridging the leg with a modem's PCM port
    account_key: str = ""  # the from_user whose pjsua2 Account placed an outgoing leg


def _make_classes(worker: Worker) -> tuple[type, type, type]:
    """pjsua2 subclasses whose callbacks forward to ``worker`` (built once pj is loaded).

    An exception escaping a callback would unwind through pjsip's C code and abort the
    process, so each one is guarded.
    """

    def guarded(name: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:
            worker.log.exception("callback_failed", callback=name)

    # Built with type(): pjsua2 has no stubs, its classes are Any to mypy.
    def call_state(self: Any, prm: Any) -> None:
        guarded("onCallState", lambda: worker.on_call_state(self))

    def call_media_state(self: Any, prm: Any) -> None:
        guarded("onCallMediaState", lambda: worker.on_media_state(self))

    def dtmf_digit(self: Any, prm: Any) -> None:
        guarded("onDtmfDigit", lambda: worker.on_dtmf(self, prm.digit, prm.method))

    def transfer_status(self: Any, prm: Any) -> None:
        guarded("onCallTransferStatus", lambda: worker.on_transfer_status(self, prm))

    def decline(self: Any, prm: Any) -> None:
        # The core decides transfers: a REFER or Replaces from the peer is declined.
        prm.statusCode = 603

    def incoming_call(self: Any, prm: Any) -> None:
        guarded("onIncomingCall", lambda: worker.on_incoming(self, prm))

    def eof(self: Any) -> None:
        # May run on the conference clock thread: only set a flag.
        self.eof = True

    leg_call = type(
        "LegCall",
        (pj.Call,),
        {
            "leg_id": None,
            "onCallState": call_state,
            "onCallMediaState": call_media_state,
            "onDtmfDigit": dtmf_digit,
            "onCallTransferStatus": transfer_status,
            "onCallTransferRequest": decline,
            "onCallReplaceRequest": decline,
        },
    )
    leg_account = type("LegAccount", (pj.Account,), {"onIncomingCall": incoming_call})
    leg_player = type("LegPlayer", (pj.AudioMediaPlayer,), {"eof": False, "onEof2": eof})
    return leg_call, leg_account, leg_player


def _make_log_writer(log: Any) -> Any:
    """A pjsua2 LogWriter sending pjsip's lines into our JSON log (any thread)."""
    names = {0: "error", 1: "error", 2: "warning", 3: "info"}

    def write(self: Any, entry: Any) -> None:
        try:
            level = names.get(int(entry.level), "debug")
            getattr(log, level)("pjsip", msg=str(entry.msg).strip())
        except Exception:  # never let an exception unwind into pjlib
            pass

    return type("StructlogWriter", (pj.LogWriter,), {"write": write})()


# ---------------------------------------------------------------- the worker


class Worker:
    def __init__(
        self,
        *,
        index: int,
        sock: socket.socket,
        sip_port: int,
        rtp_port: int,
        proxy: str,
        answer_timeout: float = 10.0,
        ring_timeout: float = 180.0,
        health_interval: float = 5.0,
        pump_ms: int = 10,
        log_level: str = "info",
        first_leg: int = 1,
    ) -> None:
        self.index = index
        self.sock = sock
        self.sip_port = sip_port
        self.rtp_port = rtp_port
        self.proxy = proxy
        self.answer_timeout = answer_timeout
        self.ring_timeout = ring_timeout
        self.health_interval = health_interval
        self.pump_ms = pump_ms
        self.log_level = log_level
        self.log = structlog.get_logger("sip.worker").bind(worker=index)
        self.decoder = Decoder()
        self.outbuf = bytearray()
        self.legs: dict[str, Leg] = {}
        self.graveyard: list[Any] = []  # Calls that ended: released after the pump
        self.rejected: list[Any] = []  # busy-rejected Calls, held until DISCONNECTED
        self.dead_players: list[Any] = []
        self.dead_pcm: list[tuple[Any, float]] = []  # (PcmPort, release time)
        self._pcm_class: type | None = None
        self.closing: list[tuple[str, str, float]] = []  # (leg, WAV path, give-up time)
        self.connections: set[tuple[int, int]] = set()
        self.media: dict[int, Any] = {}  # conference slot -> a leg's AudioMedia
        self.port_objs: dict[int, Any] = {}  # slot -> object, for the applied connections
        self.accounts: dict[str, Any] = {}
        self.seq = first_leg - 1  # incoming legs are w<index>-<seq>
        self.invites = 0  # incoming INVITEs seen (answered or refused busy)
        self.busy_refused = 0
        self.reserved_until = 0.0  # monotonic; incoming INVITEs get 486 until then
        self.started = time.monotonic()
        self.running = True
        self.ep: Any = None
        self.account: Any = None
        self._classes: tuple[type, type, type] | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._classes = _make_classes(self)
        ep = pj.Endpoint()
        ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = 4
        cfg.uaConfig.userAgent = f"edge-switch-worker/{WORKER_VERSION}"
        cfg.medConfig.threadCnt = 0
        cfg.medConfig.hasIoqueue = True
        cfg.medConfig.sndAutoCloseTime = -1  # else conference slots leak (488 after ~254)
        cfg.medConfig.clockRate = CLOCK_RATE
        cfg.medConfig.sndClockRate = CLOCK_RATE
        cfg.medConfig.channelCount = 1
        cfg.medConfig.ecTailLen = 0  # no echo canceller on a media server
        cfg.medConfig.noVad = True  # steady RTP, also in silence
        level = _PJ_LOG_LEVELS.get(self.log_level, 1)
        cfg.logConfig.level = level
        cfg.logConfig.consoleLevel = level
        cfg.logConfig.msgLogging = 1 if self.log_level == "debug" else 0
        cfg.logConfig.decor = pj.PJ_LOG_HAS_SENDER
        self._pj_log_writer = _make_log_writer(self.log)
        cfg.logConfig.writer = self._pj_log_writer
        ep.libInit(cfg)
        tcfg = pj.TransportConfig()
        tcfg.port = self.sip_port
        tcfg.boundAddress = "127.0.0.1"
        ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
        ep.libStart()
        ep.audDevManager().setNullDev()
        for codec, prio in (("PCMU/8000", 255), ("PCMA/8000", 254), ("G722/16000", 200)):
            with contextlib.suppress(Exception):
                ep.codecSetPriority(codec, prio)
        for codec, prio in (("iLBC/8000", 100), ("GSM/8000", 100)):
            with contextlib.suppress(Exception):
                ep.codecSetPriority(codec, prio)
        for codec in ("speex/32000", "speex/16000", "speex/8000"):  # off: no peer wants it
            with contextlib.suppress(Exception):
                ep.codecSetPriority(codec, 0)
        self.ep = ep
        self.account = self._account(None)
        self.account.setDefault()
        self.emit("hello", {"worker": self.index, "pid": os.getpid(), "version": WORKER_VERSION})
        self.log.info("worker_started", sip_port=self.sip_port, rtp_port=self.rtp_port)

    def _account(self, from_user: str | None) -> Any:
        key = from_user or ""
        acc = self.accounts.get(key)
        if acc is not None:
            return acc
        if len(self.accounts) >= 6:  # pjsua's default limit is 8 accounts
            in_use = {leg.account_key for leg in self.legs.values()}
            for old_key in list(self.accounts):  # oldest first
                if old_key and old_key not in in_use:
                    self.accounts.pop(old_key).shutdown()
                    break
        assert self._classes is not None
        acfg = pj.AccountConfig()
        user = from_user or f"worker{self.index}"
        acfg.idUri = f"sip:{user}@{self.proxy}"
        acfg.sipConfig.proxies.append(f"sip:{self.proxy};lr")
        acfg.mediaConfig.transportConfig.port = self.rtp_port
        acfg.mediaConfig.transportConfig.portRange = RTP_PORT_RANGE
        acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
        acc = self._classes[1]()
        acc.create(acfg)
        self.accounts[key] = acc
        return acc

    def run(self) -> int:
        self.sock.setblocking(False)
        last_health = time.monotonic()
        last_invites = 0
        while self.running:
            self.ep.libHandleEvents(self.pump_ms)
            self._after_pump()
            now = time.monotonic()
            if now - last_health >= self.health_interval:
                rate = (self.invites - last_invites) / (now - last_health)
                last_health, last_invites = now, self.invites
                self.emit(
                    "worker_health",
                    {
                        "worker": self.index,
                        "calls": len(self.legs),
                        "uptime": now - self.started,
                        "invites_per_s": round(rate, 2),
                        "busy_refused": self.busy_refused,
                    },
                )
            self._timers(now)
            self._socket_io()
        self._shutdown()
        return 0

    def _socket_io(self) -> None:
        want_write = [self.sock] if self.outbuf else []
        readable, writable, _ = select.select([self.sock], want_write, [], 0)
        if readable:
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError as exc:
                self.log.warning("control_socket_error", error=str(exc))
                data = b""
            if data == b"":
                self.log.info("control_socket_closed")
                self.running = False
                return
            if data:
                self._feed(data)
        if self.outbuf and (writable or not want_write):
            self._flush()

    def _feed(self, data: bytes) -> None:
        try:
            messages = self.decoder.feed(data)
        except ProtocolError as exc:
            self.log.warning("protocol_error", error=str(exc))
            messages = self.decoder.drain(
                lambda e: self.log.warning("protocol_error", error=str(e))
            )
        for msg in messages:
            if isinstance(msg, Command):
                self.handle_command(msg)
            else:
                self.log.warning("unexpected_message", message=repr(msg)[:200])

    def _flush(self) -> None:
        try:
            sent = self.sock.send(self.outbuf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.log.warning("control_socket_error", error=str(exc))
            self.running = False
            return
        del self.outbuf[:sent]

    def emit(self, name: str, args: dict[str, Any]) -> None:
        self.outbuf += encode(Event(name, args))
        if len(self.outbuf) > 4 * 1024 * 1024:
            # The core stopped reading; keep memory bounded and say what was lost.
            self.log.error("control_backlog_dropped", bytes=len(self.outbuf))
            self.outbuf.clear()

    def _reply(self, cid: int, error: str | None = None, **data: Any) -> None:
        self.outbuf += encode(Reply(cid, error is None, error, data))

    def _after_pump(self) -> None:
        # Release what callbacks retired (on this thread, outside pjsua callbacks).
        if self.graveyard:
            self.graveyard.clear()
        for leg in list(self.legs.values()):
            player = leg.player
            if player is not None and player.eof and not leg.player_loop:
                self._drop_player(leg)
                self._apply_connections()
                self.emit("play_done", {"call": leg.id})
        if self.dead_players:
            self.dead_players.clear()
        if self.dead_pcm:
            now = time.monotonic()
            self.dead_pcm = [(p, t) for p, t in self.dead_pcm if t > now]
        if self.closing:
            self._finish_recordings(time.monotonic())

    def _finish_recordings(self, now: float, force: bool = False) -> None:
        still: list[tuple[str, str, float]] = []
        for leg_id, path, give_up in self.closing:
            duration = wav_duration(path)
            if duration is None and not force and now < give_up:
                still.append((leg_id, path, give_up))
                continue
            if duration is None:
                # The header never came: estimate from the size (16-bit mono PCM).
                with contextlib.suppress(OSError):
                    duration = max(0, os.path.getsize(path) - 44) / (2.0 * CLOCK_RATE)
                self.log.warning("recording_not_finalised", call=leg_id, path=path)
            self.emit(
                "record_done",
                {"call": leg_id, "path": path, "duration": round(duration or 0.0, 3)},
            )
        self.closing = still

    def _timers(self, now: float) -> None:
        for leg in list(self.legs.values()):
            if leg.deadline is not None and now >= leg.deadline and not leg.answered:
                leg.deadline = None
                self.log.warning("incoming_call_unanswered_by_core", call=leg.id)
                self._hangup(leg, 480)

    def _shutdown(self) -> None:
        self._end_all_legs()
        self._release_all()
        self._flush_blocking(1.0)
        # Calls are already ended and nothing registers: skip pjsua's 1 s grace wait.
        self.ep.libDestroy(pj.PJSUA_DESTROY_NO_RX_MSG)
        self.ep = None
        self.log.info("worker_stopped")

    def _end_all_legs(self) -> None:
        # (a helper, so that no loop variable keeps a Call alive past libDestroy)
        for leg in list(self.legs.values()):
            self._hangup(leg, 503)
        deadline = time.monotonic() + 2.0
        while self.legs and time.monotonic() < deadline:
            self.ep.libHandleEvents(self.pump_ms)
            self._after_pump()
        for leg in list(self.legs.values()):
            self._finish_leg(leg, 503, "worker_shutdown")

    def _release_all(self) -> None:
        """Drop every pjsua2 object: a Call alive at libDestroy aborts the process."""
        self.legs.clear()
        self.graveyard.clear()
        self.rejected.clear()
        self.dead_players.clear()
        self.media.clear()
        self.port_objs.clear()
        deadline = time.monotonic() + PCM_RELEASE_DELAY
        while self.dead_pcm and time.monotonic() < deadline:
            self.ep.libHandleEvents(self.pump_ms)
        self.dead_pcm.clear()
        for _ in range(5):  # let the conference drop the removed ports (asynchronous)
            self.ep.libHandleEvents(self.pump_ms)
        self._finish_recordings(time.monotonic(), force=True)
        for acc in self.accounts.values():
            with contextlib.suppress(Exception):
                acc.shutdown()
        self.accounts.clear()
        self.account = None

    def _flush_blocking(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.outbuf and time.monotonic() < deadline:
            _, writable, _ = select.select([], [self.sock], [], 0.05)
            if writable:
                self._flush()

    # ------------------------------------------------------------ commands

    def handle_command(self, cmd: Command) -> None:
        problem = check_command(cmd)
        if problem is not None:
            self._reply(cmd.id, problem)
            return
        handler = getattr(self, f"cmd_{cmd.op}")
        try:
            result = handler(**cmd.args)
        except CommandFailed as exc:
            self._reply(cmd.id, str(exc))
        except pj.Error as exc:
            self._reply(cmd.id, f"{cmd.op} failed: {str(exc.info(False)).strip()}")
        except TypeError as exc:  # an argument the op does not take
            self._reply(cmd.id, f"{cmd.op}: {exc}")
        except Exception as exc:
            self.log.exception("command_failed", op=cmd.op, id=cmd.id)
            self._reply(cmd.id, f"{cmd.op} failed: {type(exc).__name__}: {exc}")
        else:
            self._reply(cmd.id, None, **(result or {}))
        self.log.debug("command", op=cmd.op, id=cmd.id)

    def _leg(self, call_id: str) -> Leg:
        leg = self.legs.get(call_id)
        if leg is None:
            raise CommandFailed(f"no such call {call_id!r}")
        return leg

    def cmd_answer(self, call: str) -> None:
        leg = self._leg(call)
        if leg.direction != "in":
            raise CommandFailed(f"{call} is an outgoing leg")
        prm = pj.CallOpParam(True)
        prm.statusCode = 200
        leg.call.answer(prm)
        leg.deadline = None

    def cmd_ring(self, call: str) -> None:
        leg = self._leg(call)
        if leg.direction != "in" or leg.answered:
            raise CommandFailed(f"{call} cannot ring")
        prm = pj.CallOpParam(True)
        prm.statusCode = 180
        leg.call.answer(prm)
        leg.deadline = time.monotonic() + self.ring_timeout

    def cmd_reject(self, call: str, code: int) -> None:
        leg = self._leg(call)
        if leg.answered:
            raise CommandFailed(f"{call} is already answered: use hangup")
        self._hangup(leg, code)

    def cmd_hangup(self, call: str, code: int | None = None) -> None:
        self._hangup(self._leg(call), code)

    def _hangup(self, leg: Leg, code: int | None) -> None:
        leg.hung_up_locally = True
        leg.deadline = None
        prm = pj.CallOpParam(True)
        if code is not None:
            prm.statusCode = code
        try:
            leg.call.hangup(prm)
        except pj.Error as exc:
            self.log.warning("hangup_failed", call=leg.id, error=exc.info(False))

    def cmd_dial(
        self,
        call: str,
        uri: str,
        from_user: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if call in self.legs:
            raise CommandFailed(f"leg id {call!r} is in use")
        self.reserved_until = 0.0  # the leg itself keeps inbound calls away from now on
        assert self._classes is not None
        acc = self._account(from_user)
        c = self._classes[0](acc)
        c.leg_id = call
        prm = pj.CallOpParam(True)
        for name, value in (headers or {}).items():
            h = pj.SipHeader()
            h.hName = name
            h.hValue = value
            prm.txOption.headers.append(h)
        leg = Leg(
            id=call, call=c, direction="out", created=time.monotonic(), account_key=from_user or ""
        )
        self.legs[call] = leg
        try:
            c.makeCall(uri, prm)
        except pj.Error:
            del self.legs[call]
            raise

    def cmd_bridge(self, a: str, b: str) -> None:
        if a == b:
            raise CommandFailed("cannot bridge a leg with itself")
        la, lb = self._leg(a), self._leg(b)
        la.peers.add(b)
        lb.peers.add(a)
        self._apply_connections()

    def cmd_unbridge(self, a: str, b: str) -> None:
        la, lb = self._leg(a), self._leg(b)
        la.peers.discard(b)
        lb.peers.discard(a)
        self._apply_connections()

    def cmd_play(self, call: str, file: str, loop: bool = False) -> None:
        leg = self._leg(call)
        if not os.path.isfile(file):
            raise CommandFailed(f"no such file {file!r}")
        if leg.player is not None:
            self._drop_player(leg)
        assert self._classes is not None
        player = self._classes[2]()
        player.createPlayer(file, 0 if loop else pj.PJMEDIA_FILE_NO_LOOP)
        leg.player = player
        leg.player_loop = loop
        self._apply_connections()

    def cmd_stop_play(self, call: str) -> None:
        leg = self._leg(call)
        if leg.player is None:
            raise CommandFailed(f"{call} is not playing")
        self._drop_player(leg)
        self._apply_connections()

    def cmd_record_start(self, call: str, path: str) -> None:
        leg = self._leg(call)
        if leg.recorder is not None:
            raise CommandFailed(f"{call} is already recording to {leg.record_path}")
        if not path.lower().endswith(".wav"):
            raise CommandFailed("recordings are WAV: the path must end in .wav")
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        rec = pj.AudioMediaRecorder()
        rec.createRecorder(path)
        leg.recorder = rec
        leg.record_path = path
        self._apply_connections()

    def cmd_record_stop(self, call: str) -> dict[str, Any]:
        leg = self._leg(call)
        if leg.recorder is None:
            raise CommandFailed(f"{call} is not recording")
        return self._stop_recording(leg)

    def _stop_recording(self, leg: Leg) -> dict[str, Any]:
        """Detach and destroy the recorder. The conference removes ports asynchronously
        (on its clock thread), so the WAV file is finished a tick later: record_done is
        emitted from the loop once the file's header is written (see _after_pump)."""
        path = leg.record_path or ""
        rec, leg.recorder, leg.record_path = leg.recorder, None, None
        self._apply_connections()
        del rec
        self.closing.append((leg.id, path, time.monotonic() + 2.0))
        return {"path": path}

    def cmd_send_dtmf(self, call: str, digits: str) -> None:
        leg = self._leg(call)
        if leg.port is None:
            raise CommandFailed(f"{call} has no active media")
        prm = pj.CallSendDtmfParam()
        prm.digits = digits
        prm.method = pj.PJSUA_DTMF_METHOD_RFC2833
        leg.call.sendDtmf(prm)

    def cmd_transfer(self, call: str, uri: str) -> None:
        leg = self._leg(call)
        if not leg.answered:
            raise CommandFailed(f"{call} is not answered")
        leg.call.xfer(uri, pj.CallOpParam(True))

    def cmd_stats(self, call: str) -> dict[str, Any]:
        leg = self._leg(call)
        out: dict[str, Any] = {"answered": leg.answered, "media": leg.port is not None}
        if leg.pcm is not None:
            out["pcm"] = leg.pcm.link.stats()
        if leg.port is not None:
            try:
                st = leg.call.getStreamStat(0)
                out["rx_packets"] = int(st.rtcp.rxStat.pkt)
                out["tx_packets"] = int(st.rtcp.txStat.pkt)
                out["rx_lost"] = int(st.rtcp.rxStat.loss)
            except pj.Error:
                pass
            media = self.media.get(leg.port)
            if media is not None:
                # pjsua2 names levels from the bridge's side: the call port's "tx" is
                # what the far end sends us, its "rx" what the bridge sends the far end.
                out["heard_level"] = int(media.getTxLevel())
                out["sent_level"] = int(media.getRxLevel())
        return out

    def cmd_pcm_bridge(self, call: str, path: str) -> dict[str, Any]:
        leg = self._leg(call)
        if leg.pcm is not None:
            raise CommandFailed(f"{call} is already bridged with {leg.pcm.link.path}")
        problem = check_pcm_path(path)
        if problem is not None:
            raise CommandFailed(problem)
        try:
            link = PcmLink.open(path)
        except OSError as exc:
            raise CommandFailed(f"pcm_bridge: cannot open {path!r}: {exc.strerror}") from exc
        if self._pcm_class is None:
            self._pcm_class = pcm_port_class(pj)
        port = self._pcm_class()
        port.link = link
        try:
            port.createPort(f"pcm-{call}"[:30], pcm_media_format(pj))
        except pj.Error:
            link.close()
            raise
        leg.pcm = port
        self._apply_connections()
        self.log.info("pcm_bridged", call=call, path=path, media=leg.port is not None)
        return {"path": path}

    def cmd_pcm_unbridge(self, call: str) -> dict[str, Any]:
        leg = self._leg(call)
        if leg.pcm is None:
            raise CommandFailed(f"{call} is not bridged with a PCM port")
        return self._drop_pcm(leg)

    def _drop_pcm(self, leg: Leg) -> dict[str, Any]:
        """Disconnect and close the leg's PCM port; its counters. The port object lives
        on for PCM_RELEASE_DELAY (the bridge's clock may still hold it for a tick)."""
        port, leg.pcm = leg.pcm, None
        self._apply_connections()
        port.link.close()
        stats: dict[str, Any] = port.link.stats()
        stats["callback_errors"] = int(port.callback_errors)
        self.dead_pcm.append((port, time.monotonic() + PCM_RELEASE_DELAY))
        self.log.info("pcm_unbridged", call=leg.id, **stats)
        return stats

    def cmd_reserve(self, seconds: float = 5.0) -> None:
        if self.legs:
            raise CommandFailed(f"busy: {len(self.legs)} leg(s)")
        if not 0 < seconds <= 60:
            raise CommandFailed("reserve: seconds must be in (0, 60]")
        self.reserved_until = time.monotonic() + seconds

    def cmd_release(self) -> None:
        self.reserved_until = 0.0

    def cmd_shutdown(self) -> None:
        self.running = False

    # ------------------------------------------------------------ pjsua2 callbacks

    def on_incoming(self, account: Any, prm: Any) -> None:
        assert self._classes is not None
        c = self._classes[0](account, prm.callId)
        raw = str(prm.rdata.wholeMsg)
        ruri, values, names = parse_request(raw)
        self.invites += 1
        reserved = time.monotonic() < self.reserved_until
        if self.legs or reserved:
            self.busy_refused += 1
            op = pj.CallOpParam(True)
            op.statusCode = 486
            self.rejected.append(c)
            c.answer(op)
            self.log.info("incoming_rejected_busy", legs=len(self.legs), reserved=reserved)
            return
        self.seq += 1
        leg_id = f"w{self.index}-{self.seq}"
        c.leg_id = leg_id
        now = time.monotonic()
        self.legs[leg_id] = Leg(
            id=leg_id, call=c, direction="in", created=now, deadline=now + self.answer_timeout
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
        info = call.getInfo()
        leg = self.legs.get(call.leg_id) if call.leg_id else None
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
            self._finish_leg(leg, int(info.lastStatusCode), str(info.lastReason))

    def _finish_leg(self, leg: Leg, code: int, reason: str) -> None:
        if leg.ended:
            return
        leg.ended = True
        pcm = self._drop_pcm(leg) if leg.pcm is not None else None
        if leg.recorder is not None:
            self._stop_recording(leg)
        if leg.player is not None:
            self._drop_player(leg)
        self._forget_port(leg)
        for peer_id in leg.peers:
            peer = self.legs.get(peer_id)
            if peer is not None:
                peer.peers.discard(leg.id)
        leg.peers.clear()
        self.legs.pop(leg.id, None)
        self._apply_connections()
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

    def on_media_state(self, call: Any) -> None:
        leg = self.legs.get(call.leg_id) if call.leg_id else None
        if leg is None:
            return
        self._forget_port(leg)
        try:
            media = call.getAudioMedia(-1)
        except pj.Error:
            media = None
        if media is not None:
            leg.port = int(media.getPortId())
            self.media[leg.port] = media
            info = call.getInfo()
            # Media before the answer (a 183 with SDP); not the SDP of the 200 itself.
            if (
                leg.direction == "out"
                and info.state == pj.PJSIP_INV_STATE_EARLY
                and not leg.early_sent
            ):
                leg.early_sent = True
                self.emit("early_media", {"call": leg.id})
        self._apply_connections()

    def _forget_port(self, leg: Leg) -> None:
        if leg.port is None:
            return
        port, leg.port = leg.port, None
        self.media.pop(port, None)
        self.port_objs.pop(port, None)
        # The slot may be gone or reused: forget its connections without touching them.
        self.connections = {(s, d) for s, d in self.connections if port not in (s, d)}

    def on_dtmf(self, call: Any, digit: str, method: int) -> None:
        if not call.leg_id or call.leg_id not in self.legs:
            return
        how = "info" if method == pj.PJSUA_DTMF_METHOD_SIP_INFO else "rfc4733"
        self.emit("dtmf", {"call": call.leg_id, "digit": str(digit), "method": how})

    def on_transfer_status(self, call: Any, prm: Any) -> None:
        if not call.leg_id:
            return
        self.emit(
            "transfer_status",
            {"call": call.leg_id, "code": int(prm.statusCode), "final": bool(prm.finalNotify)},
        )

    # ------------------------------------------------------------ audio connections

    def _drop_player(self, leg: Leg) -> None:
        """Detach the leg's player; it is disconnected by the next _apply_connections and
        destroyed after the pump (never inside a pjsua callback)."""
        player, leg.player = leg.player, None
        if player is not None:
            self.dead_players.append(player)

    def _wanted(self) -> tuple[set[tuple[int, int]], dict[int, Any]]:
        """The conference connections the legs' state asks for, and the port objects."""
        wanted: set[tuple[int, int]] = set()
        objs: dict[int, Any] = {}

        def connect(src: Any, dst: Any) -> None:
            s, d = int(src.getPortId()), int(dst.getPortId())
            objs[s], objs[d] = src, dst
            wanted.add((s, d))

        for leg in self.legs.values():
            media = self.media.get(leg.port) if leg.port is not None else None
            peers = [
                self.media[p.port]
                for p in (self.legs.get(pid) for pid in leg.peers)
                if p is not None and p.port is not None and p.port in self.media
            ]
            if media is not None:
                for peer_media in peers:
                    connect(media, peer_media)
                if leg.player is not None:
                    connect(leg.player, media)
                if leg.pcm is not None:  # the modem hears the leg, the leg the modem
                    connect(media, leg.pcm)
                    connect(leg.pcm, media)
            if leg.recorder is not None:
                sources = [*peers]
                if media is not None:
                    sources.append(media)
                    if leg.player is not None:
                        sources.append(leg.player)
                    if leg.pcm is not None:
                        sources.append(leg.pcm)
                for src in sources:
                    connect(src, leg.recorder)
        return wanted, objs

    def _apply_connections(self) -> None:
        wanted, objs = self._wanted()
        known = {**self.port_objs, **objs}
        for src_port, dst_port in self.connections - wanted:
            src, dst = known.get(src_port), known.get(dst_port)
            if src is None or dst is None:
                continue  # a slot that is gone took its connections with it
            try:
                src.stopTransmit(dst)
            except pj.Error as exc:
                self.log.warning(
                    "disconnect_failed", src=src_port, dst=dst_port, error=exc.info(False)
                )
        for src_port, dst_port in wanted - self.connections:
            try:
                objs[src_port].startTransmit(objs[dst_port])
            except pj.Error as exc:
                self.log.warning(
                    "connect_failed", src=src_port, dst=dst_port, error=exc.info(False)
                )
        self.connections = wanted
        self.port_objs = objs


class CommandFailed(Exception):
    """A command that cannot be carried out; its message goes back in the reply."""


# ---------------------------------------------------------------- entry point


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m drivers.sip.worker", description=__doc__)
    p.add_argument("--index", type=int, required=True, help="worker index (0-based)")
    p.add_argument("--socket", required=True, help="the core's Unix socket to connect to")
    p.add_argument("--sip-port", type=int, required=True, help="UDP port on 127.0.0.1")
    p.add_argument("--rtp-port", type=int, required=True, help=f"first of {RTP_PORT_RANGE}")
    p.add_argument("--proxy", required=True, help="outbound proxy (the SIP edge) host:port")
    p.add_argument("--log-level", default="info", choices=sorted(_PJ_LOG_LEVELS))
    p.add_argument("--answer-timeout", type=float, default=10.0)
    p.add_argument("--ring-timeout", type=float, default=180.0)
    p.add_argument("--health-interval", type=float, default=5.0)
    p.add_argument("--pump-ms", type=int, default=10, help="libHandleEvents timeout")
    p.add_argument(
        "--first-leg", type=int, default=1, help="number of the first incoming leg (w<I>-<N>)"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    global pj
    args = _parse_args(argv)
    configure_logging(args.log_level)
    structlog.contextvars.bind_contextvars(worker=args.index)
    log = structlog.get_logger("sip.worker")
    pj = importlib.import_module("pjsua2")  # the [sip] extra; no type stubs
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(args.socket)
    except OSError as exc:
        log.error("control_socket_connect_failed", socket=args.socket, error=str(exc))
        return 2
    worker = Worker(
        index=args.index,
        sock=sock,
        sip_port=args.sip_port,
        rtp_port=args.rtp_port,
        proxy=args.proxy,
        answer_timeout=args.answer_timeout,
        ring_timeout=args.ring_timeout,
        health_interval=args.health_interval,
        pump_ms=args.pump_ms,
        log_level=args.log_level,
        first_leg=args.first_leg,
    )

    def on_signal(signum: int, frame: Any) -> None:
        worker.running = False

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        worker.start()
    except Exception as exc:
        log.exception("worker_start_failed", error=str(exc))
        return 3
    code = worker.run()
    sock.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
