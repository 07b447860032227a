"""pjsua2 glue for a media worker: loading the module, the endpoint's set-up, accounts,
and the subclasses whose callbacks reach the agent.

pjsua2 (the ``[sip]`` extra) has no type stubs: it is loaded with :func:`load` and
passed around as ``pj: Any``; nothing else of the worker imports it.

The endpoint (:func:`create_endpoint`) runs with ``threadCnt=0`` and ``mainThreadOnly``
(callbacks come on the pump's thread), the null sound device, the conference bridge at
8 kHz mono, no echo canceller, no VAD, and ``sndAutoCloseTime=-1`` (else conference
slots leak and calls fail with 488 after ~254). Callbacks (:func:`make_classes`) are
guarded: an exception escaping one would unwind through pjsip's C code and abort the
process.

Must not import the pump, the commands or anything asyncio.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

__all__ = [
    "CLOCK_RATE",
    "PJ_LOG_LEVELS",
    "RTP_PORT_RANGE",
    "Callbacks",
    "Classes",
    "create_account",
    "create_endpoint",
    "load",
    "make_classes",
    "make_log_writer",
]

CLOCK_RATE = 8000
RTP_PORT_RANGE = 50
MAX_CALLS = 4  # the PyPI wheel's limit per process
PJ_LOG_LEVELS = {"debug": 4, "info": 2, "warning": 1, "error": 1}


def load() -> Any:
    """The pjsua2 module."""
    return importlib.import_module("pjsua2")


class Callbacks(Protocol):
    """What the pjsua2 callbacks forward to (the worker's agent)."""

    log: Any

    def on_incoming(self, account: Any, prm: Any) -> None: ...
    def on_call_state(self, call: Any) -> None: ...
    def on_media_state(self, call: Any) -> None: ...
    def on_dtmf(self, call: Any, digit: str, method: int) -> None: ...
    def on_transfer_status(self, call: Any, prm: Any) -> None: ...


class Classes(NamedTuple):
    call: type
    account: type
    player: type


def make_classes(pj: Any, target: Callbacks) -> Classes:
    """pjsua2 subclasses whose callbacks forward to ``target``."""

    def guarded(name: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:
            target.log.exception("callback_failed", callback=name)

    # Built with type(): pjsua2 has no stubs, its classes are Any to mypy.
    def call_state(self: Any, prm: Any) -> None:
        guarded("onCallState", lambda: target.on_call_state(self))

    def call_media_state(self: Any, prm: Any) -> None:
        guarded("onCallMediaState", lambda: target.on_media_state(self))

    def dtmf_digit(self: Any, prm: Any) -> None:
        guarded("onDtmfDigit", lambda: target.on_dtmf(self, prm.digit, prm.method))

    def transfer_status(self: Any, prm: Any) -> None:
        guarded("onCallTransferStatus", lambda: target.on_transfer_status(self, prm))

    def decline(self: Any, prm: Any) -> None:
        # The core decides transfers: a REFER or Replaces from the peer is declined.
        prm.statusCode = 603

    def incoming_call(self: Any, prm: Any) -> None:
        guarded("onIncomingCall", lambda: target.on_incoming(self, prm))

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
    return Classes(leg_call, leg_account, leg_player)


def make_log_writer(pj: Any, log: Any) -> Any:
    """A pjsua2 LogWriter sending pjsip's lines into our JSON log (any thread)."""
    names = {0: "error", 1: "error", 2: "warning", 3: "info"}

    def write(self: Any, entry: Any) -> None:
        try:
            level = names.get(int(entry.level), "debug")
            getattr(log, level)("pjsip", msg=str(entry.msg).strip())
        except Exception:  # never let an exception unwind into pjlib
            pass

    return type("StructlogWriter", (pj.LogWriter,), {"write": write})()


def create_endpoint(
    pj: Any, *, sip_port: int, log_level: str, user_agent: str, log_writer: Any
) -> Any:
    """A started pjsua2 Endpoint with its UDP transport on ``127.0.0.1:sip_port``."""
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.maxCalls = MAX_CALLS
    cfg.uaConfig.userAgent = user_agent
    cfg.medConfig.threadCnt = 0
    cfg.medConfig.hasIoqueue = True
    cfg.medConfig.sndAutoCloseTime = -1  # else conference slots leak (488 after ~254)
    cfg.medConfig.clockRate = CLOCK_RATE
    cfg.medConfig.sndClockRate = CLOCK_RATE
    cfg.medConfig.channelCount = 1
    cfg.medConfig.ecTailLen = 0  # no echo canceller on a media server
    cfg.medConfig.noVad = True  # steady RTP, also in silence
    level = PJ_LOG_LEVELS.get(log_level, 1)
    cfg.logConfig.level = level
    cfg.logConfig.consoleLevel = level
    cfg.logConfig.msgLogging = 1 if log_level == "debug" else 0
    cfg.logConfig.decor = pj.PJ_LOG_HAS_SENDER
    cfg.logConfig.writer = log_writer
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.port = sip_port
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
    return ep


def create_account(pj: Any, account_class: type, *, user: str, proxy: str, rtp_port: int) -> Any:
    """An account ``sip:<user>@<proxy>`` whose calls all go through ``proxy``, with RTP
    ports from ``rtp_port``."""
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{user}@{proxy}"
    acfg.sipConfig.proxies.append(f"sip:{proxy};lr")
    acfg.mediaConfig.transportConfig.port = rtp_port
    acfg.mediaConfig.transportConfig.portRange = RTP_PORT_RANGE
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    acc = account_class()
    acc.create(acfg)
    return acc
