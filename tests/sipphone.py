"""A pjsua2 test phone for integration tests: a "trunk", an "agent phone", a far end.

    python -m tests.sipphone --port P --rtp-port R [--tone HZ] [--record WAV]
        [--call URI [--proxy HOST:PORT] [--header 'Name: value' ...]] [--auto-answer]
        [--register HOST:PORT --user U --password P] [--codec PCMU/8000]

It plays a pure tone (``--tone``) into its call, records what it hears (``--record``),
and prints JSON lines on stdout: ``ready``, ``incoming``, ``state`` (with the SIP state
name and last code), ``registered`` (with ``--register``: the registrar's answer code),
``dtmf``, ``stats`` (RTP packets counted by pjmedia, lost and discarded), ``ended``.
It reads commands on stdin, one a line: ``answer``, ``hangup``, ``stats``,
``dtmf DIGITS``, ``info DIGIT`` (SIP INFO application/dtmf-relay), ``record PATH`` (record
what it hears from now on into PATH, closing the recording before; no PATH: stop), ``quit``.

:class:`Phone` wraps the process for tests (start, wait for an event, send a command).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import math
import os
import queue
import random
import select
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- analysis helpers


def read_wav(path: str | Path) -> tuple[list[int], int]:
    with wave.open(str(path), "rb") as w:
        rate, n = w.getframerate(), w.getnframes()
        data = w.readframes(n)
    samples = list(struct.unpack(f"<{len(data) // 2}h", data))
    return samples, rate


def tone_power(samples: list[int], rate: int, freq: float) -> float:
    """Goertzel power of ``freq`` in ``samples``, normalised per sample (0 for silence)."""
    if not samples:
        return 0.0
    coeff = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s0 = x + coeff * s1 - s2
        s2, s1 = s1, s0
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return power / (len(samples) ** 2)


def write_tone(path: str, freq: float, seconds: float = 1.0, rate: int = 8000) -> None:
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(
            b"".join(
                struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq * i / rate)))
                for i in range(int(rate * seconds))
            )
        )


# ---------------------------------------------------------------- ports, sipp, pool events

SIPP_DIR = ROOT / "tests" / "integration" / "sipp"


def free_udp_block(count: int, lo: int = 20000, hi: int = 60000) -> int:
    """A base port such that ``base .. base+count-1`` are free on 127.0.0.1 (UDP)."""
    for _ in range(200):
        base = random.randrange(lo, hi - count)
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return base
    raise RuntimeError(f"no block of {count} free UDP ports")


async def start_sipp(
    scenario: str, target: str, *extra: str, timeout: int = 30
) -> asyncio.subprocess.Process:
    """Run one call of ``tests/integration/sipp/<scenario>`` against ``target``."""
    base = free_udp_block(8)
    return await asyncio.create_subprocess_exec(
        "sipp",
        "-sf",
        str(SIPP_DIR / scenario),
        "-m",
        "1",
        "-i",
        "127.0.0.1",
        "-p",
        str(base),
        "-mp",
        str(base + 2),
        "-s",
        "2000",
        "-nostdin",
        "-timeout",
        f"{timeout}s",
        "-timeout_error",
        *extra,
        target,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def sipp_result(proc: asyncio.subprocess.Process, timeout: float = 40.0) -> int:
    """sipp's exit code (0: the scenario passed); stderr is printed for the test log."""
    _, err = await asyncio.wait_for(proc.communicate(), timeout)
    if err:
        sys.stderr.write(err.decode(errors="replace")[-2000:])
    return int(proc.returncode or 0)


class EventLog:
    """Reads ``pool.events``; ``wait`` skips to the event asked for, keeping the rest."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.seen: list[tuple[int, Any]] = []

    async def wait(
        self, name: str, call: str | None = None, timeout: float = 10.0, worker: int | None = None
    ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                got = [(w, e.name, e.args.get("call")) for w, e in self.seen[-15:]]
                raise TimeoutError(f"no {name} event (call={call}); last events: {got}")
            try:
                w, ev = await asyncio.wait_for(self.pool.events.get(), left)
            except TimeoutError:
                continue
            self.seen.append((w, ev))
            if (
                ev.name == name
                and (call is None or ev.args.get("call") == call)
                and (worker is None or w == worker)
            ):
                return ev

    def names(self, call: str | None = None) -> list[str]:
        return [e.name for _, e in self.seen if call is None or e.args.get("call") == call]


# ---------------------------------------------------------------- the test-side wrapper


class Phone:
    """A running ``tests.sipphone`` process."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.sipphone", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.wait_for("ready", timeout=10)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with contextlib.suppress(ValueError):
                self.events.put(json.loads(line))
        self.events.put({"event": "exit"})

    def wait_for(self, name: str, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {name} {match} from the phone; saw {self.seen[-10:]}")
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(ev)
            if ev.get("event") == "exit" and name != "exit":
                raise RuntimeError(f"the phone exited while waiting for {name}: {self.seen}")
            if ev.get("event") == name and all(ev.get(k) == v for k, v in match.items()):
                return ev

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stats(self) -> dict[str, Any]:
        self.send("stats")
        return self.wait_for("stats")

    def heard(self, samples: int = 4, gap: float = 0.06) -> int:
        """The loudest of a few readings of what the phone hears (0 silence .. 255):
        one reading can land on a prompt's fade between two notes."""
        levels = []
        for _ in range(samples):
            levels.append(int(self.stats().get("heard_level", 0)))
            time.sleep(gap)
        return max(levels)

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.send("quit")
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------- the phone process

_STATES = {
    0: "NULL",
    1: "CALLING",
    2: "INCOMING",
    3: "EARLY",
    4: "CONNECTING",
    5: "CONFIRMED",
    6: "DISCONNECTED",
}


def out(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    pj: Any = importlib.import_module("pjsua2")
    state: dict[str, Any] = {"call": None, "dead": [], "media": None, "running": True}
    keep: list[Any] = []

    def on_state(call: Any, prm: Any) -> None:
        info = call.getInfo()
        name = _STATES.get(int(info.state), str(info.state))
        out("state", state=name, code=int(info.lastStatusCode))
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            out("ended", code=int(info.lastStatusCode), reason=str(info.lastReason))
            if state["call"] is call:
                state["call"] = None
                state["media"] = None
            state["dead"].append(call)

    def on_media(call: Any, prm: Any) -> None:
        try:
            media = call.getAudioMedia(-1)
        except pj.Error:
            return
        state["media"] = media
        if player is not None:
            player.startTransmit(media)
        if recorder is not None:
            media.startTransmit(recorder)
        # To the (null) speaker, like a real phone: the bridge then reads the call's
        # audio even without a recorder, so its level is measured.
        media.startTransmit(ep.audDevManager().getPlaybackDevMedia())
        out("media")

    def on_dtmf(call: Any, prm: Any) -> None:
        method = "info" if prm.method == pj.PJSUA_DTMF_METHOD_SIP_INFO else "rfc4733"
        out("dtmf", digit=str(prm.digit), method=method)

    def on_xfer_request(call: Any, prm: Any) -> None:
        out("refer", target=str(prm.dstUri))
        prm.statusCode = 202

    call_cls = type(
        "PhoneCall",
        (pj.Call,),
        {
            "onCallState": on_state,
            "onCallMediaState": on_media,
            "onDtmfDigit": on_dtmf,
            "onCallTransferRequest": on_xfer_request,
        },
    )

    def on_incoming(acc: Any, prm: Any) -> None:
        call = call_cls(acc, prm.callId)
        raw = str(prm.rdata.wholeMsg)
        headers = [ln for ln in raw.split("\r\n") if ln.lower().startswith(("x-", "from:"))]
        if state["call"] is not None:
            op = pj.CallOpParam(True)
            op.statusCode = 486
            call.answer(op)
            state["dead"].append(call)
            return
        state["call"] = call
        out("incoming", headers=headers)
        op = pj.CallOpParam(True)
        op.statusCode = 200 if args.auto_answer else 180
        call.answer(op)

    def on_reg_state(acc: Any, prm: Any) -> None:
        out("registered", code=int(prm.code))

    acc_cls = type(
        "PhoneAccount",
        (pj.Account,),
        {"onIncomingCall": on_incoming, "onRegState": on_reg_state},
    )

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.medConfig.threadCnt = 0
    cfg.medConfig.sndAutoCloseTime = -1
    cfg.medConfig.clockRate = 8000
    cfg.medConfig.sndClockRate = 8000
    cfg.medConfig.channelCount = 1
    cfg.medConfig.ecTailLen = 0
    cfg.medConfig.noVad = True
    cfg.logConfig.level = 0
    cfg.logConfig.consoleLevel = 0
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.port = args.port
    tcfg.boundAddress = "127.0.0.1"
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.libStart()
    ep.audDevManager().setNullDev()
    if args.codec:  # only this codec (e.g. PCMU/8000, as a provider's trunk would offer)
        for codec in ep.codecEnum2():
            ep.codecSetPriority(codec.codecId, 0)
        ep.codecSetPriority(args.codec, 255)
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{args.user}@127.0.0.1:{args.port}"
    if args.register:  # an agent phone: AOR sip:<user>@<edge host>, digest from --password
        acfg.idUri = f"sip:{args.user}@{args.register.rpartition(':')[0]}"
        acfg.regConfig.registrarUri = f"sip:{args.register}"
        acfg.regConfig.timeoutSec = 300
    if args.proxy:
        acfg.sipConfig.proxies.append(f"sip:{args.proxy};lr")
    if args.password:  # digest credentials for the edge's 407 (an agent calling out)
        acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", args.user, 0, args.password))
    acfg.mediaConfig.transportConfig.port = args.rtp_port
    acfg.mediaConfig.transportConfig.portRange = 20
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    acc = acc_cls()
    acc.create(acfg)
    keep.append(acc)

    tone_file = None
    player = None
    if args.tone:
        fd, tone_file = tempfile.mkstemp(suffix=".wav")
        os.close(fd)
        write_tone(tone_file, args.tone)
        player = pj.AudioMediaPlayer()
        player.createPlayer(tone_file, 0)
    recorder = None
    if args.record:
        recorder = pj.AudioMediaRecorder()
        recorder.createRecorder(args.record)

    if args.call:
        call = call_cls(acc)
        prm = pj.CallOpParam(True)
        for header in args.header:
            name, _, value = header.partition(":")
            h = pj.SipHeader()
            h.hName = name.strip()
            h.hValue = value.strip()
            prm.txOption.headers.append(h)
        state["call"] = call
        call.makeCall(args.call, prm)
    out("ready")

    buf = ""
    while state["running"]:
        ep.libHandleEvents(10)
        state["dead"].clear()
        readable, _, _ = select.select([sys.stdin], [], [], 0)
        if not readable:
            continue
        chunk = os.read(sys.stdin.fileno(), 4096).decode()
        if not chunk:
            break
        buf += chunk
        while "\n" in buf:
            line, buf = buf.split("\n", 1)
            word, _, rest = line.strip().partition(" ")
            call = state["call"]
            try:
                if word == "quit":
                    state["running"] = False
                elif word == "answer" and call is not None:
                    op = pj.CallOpParam(True)
                    op.statusCode = 200
                    call.answer(op)
                elif word == "hangup" and call is not None:
                    call.hangup(pj.CallOpParam(True))
                elif word == "stats":
                    fields: dict[str, Any] = {"rx": 0, "tx": 0, "active": call is not None}
                    if call is not None and state["media"] is not None:
                        st = call.getStreamStat(0)
                        fields["rx"] = int(st.rtcp.rxStat.pkt)
                        fields["tx"] = int(st.rtcp.txStat.pkt)
                        fields["lost"] = int(st.rtcp.rxStat.loss)  # RTP sequence gaps
                        fields["discard"] = int(st.jbuf.discard)  # late or overflowing
                        # pjsua2's naming is from the bridge's side: the call port's
                        # "tx level" is what it hands the bridge, i.e. what we hear.
                        fields["heard_level"] = int(state["media"].getTxLevel())
                        fields["sent_level"] = int(state["media"].getRxLevel())
                    out("stats", **fields)
                elif word == "record":  # a new recording from now on (closes the last)
                    media = state["media"]
                    if recorder is not None and media is not None:
                        media.stopTransmit(recorder)
                    recorder = None
                    if rest:
                        recorder = pj.AudioMediaRecorder()
                        recorder.createRecorder(rest)
                        if media is not None:
                            media.startTransmit(recorder)
                    out("recording", path=rest)
                elif word == "dtmf" and call is not None:
                    call.dialDtmf(rest)
                elif word == "info" and call is not None:
                    p = pj.CallSendDtmfParam()
                    p.digits = rest
                    p.method = pj.PJSUA_DTMF_METHOD_SIP_INFO
                    call.sendDtmf(p)
                else:
                    out("error", line=line)
            except pj.Error as exc:
                out("error", line=line, error=str(exc.info(False)))
    call = state["call"]
    if call is not None:
        with contextlib.suppress(Exception):
            call.hangup(pj.CallOpParam(True))
        for _ in range(50):
            ep.libHandleEvents(10)
    state["call"] = None
    state["media"] = None
    state["dead"].clear()
    player = None
    recorder = None  # closes the WAV file
    keep.clear()
    del acc
    ep.libDestroy()
    if tone_file:
        os.unlink(tone_file)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m tests.sipphone")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--rtp-port", type=int, required=True)
    p.add_argument("--user", default="phone")
    p.add_argument("--proxy", default="")
    p.add_argument("--call", default="")
    p.add_argument("--password", default="")
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--tone", type=float, default=0.0)
    p.add_argument("--record", default="")
    p.add_argument("--auto-answer", action="store_true")
    p.add_argument("--register", default="", help="registrar HOST:PORT (with --password)")
    p.add_argument("--codec", default="", help="the only codec offered, e.g. PCMU/8000")
    return run(p.parse_args())


if __name__ == "__main__":
    sys.exit(main())
