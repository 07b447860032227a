"""A scripted browser phone for tests and benchmarks: SIP over WebSocket + aiortc media.

It does what a browser running JsSIP does, without a browser: it speaks SIP over a
WebSocket (subprotocol ``sip``) to the edge, registers or calls with digest auth
(including the switch's short-lived browser credentials), and carries its audio with
aiortc (ICE, DTLS-SRTP, rtcp-mux, Opus or G.711). It plays a pure tone and measures
what it hears (the Goertzel power at a frequency, the RMS level, frames received), so a
test can tell whose audio crossed the switch.

    phone = WebPhone("ws://127.0.0.1:8088", "sip:1001@127.0.0.1", "<auth user>", "<pw>",
                     tone=700, codecs=["PCMU"])
    await phone.connect()
    assert await phone.register() == 200
    call = await phone.wait_incoming()      # or: call = await phone.call("sip:+855...@...")
    await call.answer()
    ...
    await call.hangup()
    await phone.close()

ICE: aioice leaves out 127.0.0.1 from its host candidates; the switch's tests run
rtpengine on 127.0.0.1, so :func:`loopback_only` makes aioice offer 127.0.0.1 only
(also what a browser in a network namespace with nothing but ``lo`` would do).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import fractions
import math
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aioice.ice
import av
import websockets
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from tests.sipmessage import Message, digest, param, parse, uri_of

SAMPLE_RATE = 8000
FRAME_SAMPLES = 160  # 20 ms


def loopback_only() -> None:
    """Make aioice gather 127.0.0.1 (and nothing else) as its host candidate."""
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


# ---------------------------------------------------------------------- audio


class ToneTrack(MediaStreamTrack):
    """A pure tone (or silence with ``freq=None``), 8 kHz mono, 20 ms frames, paced in
    real time like a microphone. One second of samples is computed once (a whole number
    of periods for a whole-Hz tone) and sliced, so a tone costs little CPU."""

    kind = "audio"

    def __init__(self, freq: float | None, amplitude: int = 8000) -> None:
        super().__init__()
        self.freq = freq
        self._pts = 0
        self._start: float | None = None
        self.muted = False
        table = array.array("h", bytes(2 * SAMPLE_RATE))
        if freq is not None:
            for n in range(SAMPLE_RATE):
                table[n] = int(amplitude * math.sin(2 * math.pi * freq * n / SAMPLE_RATE))
        self._table = table.tobytes() * 2
        self._silence = bytes(2 * FRAME_SAMPLES)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            wait = self._start + self._pts / SAMPLE_RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        offset = 2 * (self._pts % SAMPLE_RATE)
        data = self._silence if self.muted else self._table[offset : offset + 2 * FRAME_SAMPLES]
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(data)
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._pts += FRAME_SAMPLES
        return frame


@dataclass
class Heard:
    """What a phone received: frames, and the last ``keep`` seconds of audio (mono)."""

    keep: float = 3.0
    frames: int = 0
    rate: int = SAMPLE_RATE
    samples: array.array[int] = field(default_factory=lambda: array.array("h"))

    def add(self, frame: av.AudioFrame) -> None:
        self.frames += 1
        self.rate = frame.sample_rate
        channels = len(frame.layout.channels)
        data = array.array("h", bytes(frame.planes[0]))
        if channels > 1:
            data = data[::channels]
        self.samples.extend(data)
        limit = int(self.keep * self.rate)
        if len(self.samples) > 2 * limit:
            del self.samples[: len(self.samples) - limit]

    def recent(self, seconds: float = 1.0) -> list[int]:
        return list(self.samples[-int(seconds * self.rate) :])

    def rms(self, seconds: float = 1.0) -> float:
        part = self.recent(seconds)
        return math.sqrt(sum(x * x for x in part) / len(part)) if part else 0.0

    def power(self, freq: float, seconds: float = 1.0) -> float:
        return goertzel(self.recent(seconds), self.rate, freq)


def goertzel(samples: list[int], rate: int, freq: float) -> float:
    """The power of ``freq`` in ``samples``, per sample (0 for silence)."""
    if not samples:
        return 0.0
    coeff = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s0 = x + coeff * s1 - s2
        s2, s1 = s1, s0
    return (s1 * s1 + s2 * s2 - coeff * s1 * s2) / len(samples)


# ------------------------------------------------------------------------ SIP


class WebPhone:
    """One browser-like phone on one WebSocket connection."""

    def __init__(
        self,
        ws_url: str,
        aor: str,
        auth_user: str,
        password: str,
        *,
        tone: float | None = None,
        codecs: Iterable[str] | None = None,
    ) -> None:
        self.ws_url = ws_url
        self.aor = aor
        self.user = aor.split(":", 1)[1].split("@")[0]
        self.domain = aor.split("@", 1)[1]
        self.auth_user = auth_user
        self.password = password
        self.tone = tone
        self.codecs = list(codecs) if codecs else None
        self.host = f"{secrets.token_hex(6)}.invalid"
        self.contact = f"<sip:{self.user}@{self.host};transport=ws>"
        self.ws: Any = None
        self.calls: dict[str, Call] = {}
        self.incoming: asyncio.Queue[Call] = asyncio.Queue()
        self.received: list[Message] = []
        self._waiting: dict[str, asyncio.Queue[Message]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._cseq = 0

    async def connect(self) -> None:
        self.ws = await websockets.connect(self.ws_url, subprotocols=["sip"], ping_interval=None)
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        for call in list(self.calls.values()):
            await call.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self.ws is not None:
            await self.ws.close()

    # -------------------------------------------------------- transactions

    def _via(self, branch: str) -> str:
        return f"SIP/2.0/WS {self.host};branch={branch};rport"

    async def send(self, message: Message) -> None:
        await self.ws.send(message.encode())

    async def request(
        self, message: Message, timeout: float = 10.0, auth: bool = True
    ) -> tuple[Message, list[Message]]:
        """Send a request; its final response and the provisional ones. A 401/407 is
        answered once with the credentials (the ACK of an INVITE's too)."""
        branch = param(message.header("Via"), "branch") or ""
        queue: asyncio.Queue[Message] = asyncio.Queue()
        self._waiting[branch] = queue
        provisional: list[Message] = []
        try:
            await self.send(message)
            while True:
                reply = await asyncio.wait_for(queue.get(), timeout)
                if reply.status < 200:
                    provisional.append(reply)
                    continue
                break
        finally:
            self._waiting.pop(branch, None)
        if message.method == "INVITE" and reply.status >= 300:
            await self._ack_failure(message, reply)
        if auth and reply.status in (401, 407):
            header = "WWW-Authenticate" if reply.status == 401 else "Proxy-Authenticate"
            answer = "Authorization" if reply.status == 401 else "Proxy-Authorization"
            retry = self._again(message)
            retry.headers.append(
                (answer, digest(reply.header(header), message.method, message.uri,
                                 self.auth_user, self.password))
            )  # fmt: skip
            return await self.request(retry, timeout, auth=False)
        return reply, provisional

    def _again(self, message: Message) -> Message:
        """The same request, new branch and next CSeq."""
        self._cseq += 1
        headers = []
        for key, value in message.headers:
            if key == "Via":
                value = self._via("z9hG4bK" + secrets.token_hex(8))
            elif key == "CSeq":
                value = f"{self._cseq} {message.method}"
            elif key in ("Authorization", "Proxy-Authorization"):
                continue
            headers.append((key, value))
        return Message(message.first, headers, message.body)

    async def _ack_failure(self, invite: Message, reply: Message) -> None:
        headers = [
            ("Via", invite.header("Via")),
            ("Max-Forwards", "70"),
            ("From", invite.header("From")),
            ("To", reply.header("To")),
            ("Call-ID", invite.header("Call-ID")),
            ("CSeq", f"{invite.cseq[0]} ACK"),
        ]
        headers += [("Route", r) for r in invite.all("Route")]
        await self.send(Message(f"ACK {invite.uri} SIP/2.0", headers))

    def new_request(self, method: str, uri: str, to: str, body: str = "") -> Message:
        self._cseq += 1
        headers = [
            ("Via", self._via("z9hG4bK" + secrets.token_hex(8))),
            ("Max-Forwards", "70"),
            ("From", f"<{self.aor}>;tag={secrets.token_hex(5)}"),
            ("To", f"<{to}>"),
            ("Call-ID", f"{secrets.token_hex(10)}@{self.host}"),
            ("CSeq", f"{self._cseq} {method}"),
            ("Contact", self.contact),
            ("User-Agent", "tests.webphone"),
        ]
        if body:
            headers.append(("Content-Type", "application/sdp"))
        return Message(f"{method} {uri} SIP/2.0", headers, body)

    async def _read(self) -> None:
        async for raw in self.ws:
            text = raw if isinstance(raw, str) else raw.decode()
            message = parse(text)
            self.received.append(message)
            if not message.is_request:
                branch = param(message.header("Via"), "branch") or ""
                queue = self._waiting.get(branch)
                if queue is not None:
                    queue.put_nowait(message)
                continue
            await self._on_request(message)

    async def _on_request(self, request: Message) -> None:
        call_id = request.header("Call-ID")
        call = self.calls.get(call_id)
        if request.method == "INVITE" and call is None:
            call = Call(self, call_id, incoming=request)
            self.calls[call_id] = call
            await self.reply(request, 180, "Ringing", to_tag=call.local_tag)
            self.incoming.put_nowait(call)
        elif call is not None:
            await call.on_request(request)
        elif request.method == "OPTIONS":
            await self.reply(request, 200, "OK")
        elif request.method != "ACK":
            await self.reply(request, 481, "Call/Transaction Does Not Exist")

    async def reply(
        self,
        request: Message,
        status: int,
        reason: str,
        *,
        to_tag: str | None = None,
        body: str = "",
        contact: bool = False,
    ) -> None:
        headers = [(k, v) for k, v in request.headers if k in ("Via", "From", "Call-ID", "CSeq")]
        headers += [("Record-Route", v) for v in request.all("Record-Route")]
        to = request.header("To")
        if to_tag and ";tag=" not in to:
            to += f";tag={to_tag}"
        headers.insert(2, ("To", to))
        if contact:
            headers.append(("Contact", self.contact))
        if body:
            headers.append(("Content-Type", "application/sdp"))
        await self.send(Message(f"SIP/2.0 {status} {reason}", headers, body))

    # ----------------------------------------------------------- the API

    async def register(self, expires: int = 300) -> int:
        message = self.new_request("REGISTER", f"sip:{self.domain}", self.aor)
        message.headers.append(("Expires", str(expires)))
        reply, _ = await self.request(message)
        return reply.status

    async def call(self, target: str, timeout: float = 15.0) -> Call:
        """Call ``target``; the call, answered or not (``status`` is the final code)."""
        pc = self._peer()
        await pc.setLocalDescription(await pc.createOffer())
        invite = self.new_request("INVITE", target, target, pc.localDescription.sdp)
        call = Call(self, invite.header("Call-ID"), pc=pc)
        self.calls[call.call_id] = call
        reply, provisional = await self.request(invite, timeout)
        call.provisional = provisional
        await call.outgoing_final(invite, reply)
        return call

    async def wait_incoming(self, timeout: float = 15.0) -> Call:
        return await asyncio.wait_for(self.incoming.get(), timeout)

    def _peer(self) -> RTCPeerConnection:
        pc = RTCPeerConnection()
        track = ToneTrack(self.tone)
        transceiver = pc.addTransceiver(track, direction="sendrecv")
        if self.codecs:
            caps = RTCRtpSender.getCapabilities("audio").codecs
            chosen = [c for name in self.codecs for c in caps if c.mimeType == f"audio/{name}"]
            transceiver.setCodecPreferences(chosen)
        return pc


class Call:
    """One call of a :class:`WebPhone`: its dialog and its aiortc peer connection."""

    def __init__(
        self,
        phone: WebPhone,
        call_id: str,
        *,
        incoming: Message | None = None,
        pc: RTCPeerConnection | None = None,
    ) -> None:
        self.phone = phone
        self.call_id = call_id
        self.invite = incoming
        self.pc = pc
        self.heard = Heard()
        self.status: int | None = None
        self.provisional: list[Message] = []
        self.local_tag = secrets.token_hex(5)
        self.remote_target = ""
        self.route_set: list[str] = []
        self.local_from = ""
        self.remote_to = ""
        self.ended = asyncio.Event()
        self.ended_by: str | None = None
        self.answered = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        if incoming is not None:
            self.remote_target = uri_of(incoming.header("Contact"))
            self.route_set = incoming.all("Record-Route")
            self.local_from = incoming.header("To") + f";tag={self.local_tag}"
            self.remote_to = incoming.header("From")

    @property
    def offer_sdp(self) -> str:
        return self.invite.body if self.invite is not None else ""

    def _listen(self, pc: RTCPeerConnection) -> None:
        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._tasks.append(asyncio.create_task(self._consume(track)))

    async def _consume(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                self.heard.add(await track.recv())

    async def answer(self) -> None:
        assert self.invite is not None
        pc = self.pc = self.phone._peer()
        self._listen(pc)
        await pc.setRemoteDescription(RTCSessionDescription(self.invite.body, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await self.phone.reply(
            self.invite, 200, "OK", to_tag=self.local_tag, body=pc.localDescription.sdp,
            contact=True,
        )  # fmt: skip
        self.answered.set()

    async def reject(self, status: int = 486, reason: str = "Busy Here") -> None:
        assert self.invite is not None
        await self.phone.reply(self.invite, status, reason, to_tag=self.local_tag)
        self.ended_by = "local"
        self.ended.set()

    async def outgoing_final(self, invite: Message, reply: Message) -> None:
        self.status = reply.status
        if reply.status >= 300:
            self.ended_by = "refused"
            self.ended.set()
            return
        assert self.pc is not None
        self._listen(self.pc)
        self.remote_target = uri_of(reply.header("Contact"))
        self.route_set = list(reversed(reply.all("Record-Route")))
        self.local_from = invite.header("From")
        self.remote_to = reply.header("To")
        await self.pc.setRemoteDescription(RTCSessionDescription(reply.body, "answer"))
        ack = self._in_dialog("ACK", cseq=reply.cseq[0])
        await self.phone.send(ack)
        self.answered.set()

    def _in_dialog(self, method: str, cseq: int | None = None, body: str = "") -> Message:
        if cseq is None:
            self.phone._cseq += 1
            cseq = self.phone._cseq
        headers = [
            ("Via", self.phone._via("z9hG4bK" + secrets.token_hex(8))),
            ("Max-Forwards", "70"),
            ("From", self.local_from),
            ("To", self.remote_to),
            ("Call-ID", self.call_id),
            ("CSeq", f"{cseq} {method}"),
        ]
        headers += [("Route", r) for r in self.route_set]
        if body:
            headers.append(("Content-Type", "application/sdp"))
        return Message(f"{method} {self.remote_target} SIP/2.0", headers, body)

    async def hangup(self) -> int:
        """BYE; its final status."""
        reply, _ = await self.phone.request(self._in_dialog("BYE"), auth=False)
        self.ended_by = "local"
        await self.close()
        return reply.status

    async def wait_ended(self, timeout: float = 15.0) -> str | None:
        await asyncio.wait_for(self.ended.wait(), timeout)
        return self.ended_by

    async def on_request(self, request: Message) -> None:
        if request.method == "BYE":
            await self.phone.reply(request, 200, "OK")
            self.ended_by = "remote"
            await self.close()
        elif request.method == "CANCEL":
            await self.phone.reply(request, 200, "OK")
            if self.invite is not None and not self.answered.is_set():
                await self.phone.reply(
                    self.invite, 487, "Request Terminated", to_tag=self.local_tag
                )
            self.ended_by = "cancelled"
            await self.close()
        elif request.method == "INVITE":  # a re-INVITE: answer with our current session
            assert self.pc is not None
            await self.pc.setRemoteDescription(RTCSessionDescription(request.body, "offer"))
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            await self.phone.reply(
                request, 200, "OK", body=self.pc.localDescription.sdp, contact=True
            )
        elif request.method != "ACK":
            await self.phone.reply(request, 200, "OK")

    async def close(self) -> None:
        self.ended.set()
        for task in self._tasks:
            task.cancel()
        if self.pc is not None:
            with contextlib.suppress(Exception):
                await self.pc.close()
        self.phone.calls.pop(self.call_id, None)
