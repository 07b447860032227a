"""Browser calls through rtpengine: CPU per WebRTC leg, packet loss and one-way delay.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_webrtc.py --calls 10,40 --seconds 15

What runs (all on 127.0.0.1, one run):

- **browsers**: aiortc peer connections (ICE, DTLS-SRTP, rtcp-mux, a 700 Hz tone) in
  ``--procs`` helper processes (this file with ``--peers``), as browser stand-ins. A
  pass-through browser offers Opus and PCMU, as Chrome does, and ends up on PCMU; a
  transcoded one offers Opus only.
- **rtpengine** (the switch's ``RtpengineSupervisor``), given each call's offer and
  answer over ng with the flags the edge uses (Kamailio's ``rtpengine`` module sends
  the same): the browser's side WebRTC, the other side plain RTP/AVP PCMU, and
  ``codec-transcode=PCMU`` when the browser offered no G.711.
- **worker stand-ins**: plain RTP endpoints in this process, one per call, sending PCMU
  every 20 ms and timing what arrives (a media worker's RTP leg, without pjsua2).
- **baseline**: the same browsers calling an aiortc process that terminates their legs
  (ICE, DTLS-SRTP, decode what it hears, encode a tone back): what a Python media server
  would spend on the legs rtpengine takes.

Measured over ``--seconds`` once every call is up: CPU of rtpengine and of the aiortc
terminator (from /proc, all threads, minus rtpengine's idle rate) per call; packets
lost per direction (rtpengine keeps RTP sequence numbers, also when transcoding); and
one-way delay from the moment one side hands a packet to its socket layer (aiortc
before SRTP, the worker stand-in before sendto) to the moment the other side reads it
(aiortc after SRTP, the worker stand-in on receipt): rtpengine's work plus two loopback
hops and the reader's event loop, an upper bound on what rtpengine adds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import struct
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TICK = os.sysconf("SC_CLK_TCK")
PT_PCMU = 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


# ------------------------------------------------------------ helper process: peers


class PeerHost:
    """``--peers`` mode: aiortc peer connections driven by JSON lines on stdin."""

    def __init__(self) -> None:
        from tests import webphone

        webphone.loopback_only()
        self.webphone = webphone
        self.pcs: dict[int, Any] = {}
        self.sent: dict[int, dict[int, float]] = {}
        self.recv: dict[int, dict[int, float]] = {}
        self.transports: dict[int, int] = {}  # id(RTCDtlsTransport) -> call
        self.consumers: list[asyncio.Task[None]] = []
        self.decode = "--decode" in sys.argv
        self._patch()

    def _patch(self) -> None:
        from aiortc.rtcdtlstransport import RTCDtlsTransport

        host = self
        send, handle = RTCDtlsTransport._send_rtp, RTCDtlsTransport._handle_rtp_data

        async def timed_send(transport: Any, data: bytes) -> None:
            call = host.transports.get(id(transport))
            if call is not None and len(data) > 12 and not 192 <= data[1] <= 223:
                host.sent[call][struct.unpack_from("!H", data, 2)[0]] = time.monotonic()
            await send(transport, data)

        async def timed_handle(transport: Any, data: bytes, arrival_time_ms: int) -> None:
            call = host.transports.get(id(transport))
            if call is not None and len(data) > 12:
                host.recv[call][struct.unpack_from("!H", data, 2)[0]] = time.monotonic()
                if not host.decode:
                    return  # a browser's decoding is the browser's CPU, not the box's
            await handle(transport, data, arrival_time_ms)

        RTCDtlsTransport._send_rtp = timed_send  # type: ignore[method-assign]
        RTCDtlsTransport._handle_rtp_data = timed_handle  # type: ignore[method-assign]

    def _peer(self, call: int, codecs: list[str]) -> Any:
        from aiortc import RTCPeerConnection, RTCRtpSender

        pc = RTCPeerConnection()
        transceiver = pc.addTransceiver(self.webphone.ToneTrack(700), direction="sendrecv")
        caps = RTCRtpSender.getCapabilities("audio").codecs
        transceiver.setCodecPreferences(
            [c for name in codecs for c in caps if c.mimeType == f"audio/{name}"]
        )

        @pc.on("track")
        def on_track(track: Any) -> None:
            self.consumers.append(asyncio.create_task(self._drain(track)))

        self.pcs[call] = pc
        self.sent[call], self.recv[call] = {}, {}
        return pc

    async def _drain(self, track: Any) -> None:
        from aiortc.mediastreams import MediaStreamError

        try:
            while True:
                await track.recv()
        except (MediaStreamError, asyncio.CancelledError):
            return

    def _watch(self, call: int, pc: Any) -> None:
        for transceiver in pc.getTransceivers():
            self.transports[id(transceiver.sender.transport)] = call

    async def handle(self, cmd: dict[str, Any]) -> Any:
        from aiortc import RTCSessionDescription

        op, call = cmd["op"], cmd.get("call", 0)
        if op == "offer":
            pc = self._peer(call, cmd["codecs"])
            await pc.setLocalDescription(await pc.createOffer())
            return pc.localDescription.sdp
        if op == "answer":
            pc = self.pcs[call]
            await pc.setRemoteDescription(RTCSessionDescription(cmd["sdp"], "answer"))
            self._watch(call, pc)
            return None
        if op == "serve":  # the baseline: terminate a browser's leg
            pc = self._peer(call, ["opus", "PCMU"])
            await pc.setRemoteDescription(RTCSessionDescription(cmd["sdp"], "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            return pc.localDescription.sdp
        if op == "connected":
            return sum(pc.connectionState == "connected" for pc in self.pcs.values())
        if op == "timings":
            since, until = cmd["since"], cmd["until"]
            return {
                str(c): {
                    "sent": {s: t for s, t in self.sent[c].items() if since <= t <= until},
                    "recv": self.recv[c],
                }
                for c in self.pcs
            }
        if op == "close":
            for task in self.consumers:
                task.cancel()
            for pc in self.pcs.values():
                await pc.close()
            self.pcs.clear()
            return None
        raise ValueError(op)

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            cmd = json.loads(line)
            result = await self.handle(cmd)
            sys.stdout.write(json.dumps({"id": cmd["id"], "result": result}) + "\n")
            sys.stdout.flush()


class Peers:
    """The main process's handle on one ``--peers`` helper process."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.next_id = 0

    @classmethod
    async def start(cls, nice: int = 0, decode: bool = False) -> Peers:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        flags = ["--decode"] if decode else []
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, *flags, "--peers", str(nice), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, env=env, limit=64 * 1024 * 1024,
        )  # fmt: skip
        return cls(proc)

    async def ask(self, op: str, **args: Any) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.next_id += 1
        self.proc.stdin.write((json.dumps({"id": self.next_id, "op": op, **args}) + "\n").encode())
        await self.proc.stdin.drain()
        reply = json.loads(await asyncio.wait_for(self.proc.stdout.readline(), 60))
        return reply["result"]

    async def stop(self) -> None:
        await self.ask("close")
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        await self.proc.wait()


# ------------------------------------------------------- worker stand-ins (plain RTP)


class PlainLeg(asyncio.DatagramProtocol):
    """A worker's RTP leg: PCMU every 20 ms to rtpengine; arrivals timed by sequence."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.peer: tuple[str, int] | None = None
        self.seq = 0
        self.ssrc = int.from_bytes(os.urandom(4), "big")
        self.sent: dict[int, float] = {}
        self.recv: dict[int, float] = {}
        self.payload = b"\xff" * 160

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if len(data) > 12 and data[1] & 0x7F == PT_PCMU:
            self.recv[struct.unpack_from("!H", data, 2)[0]] = time.monotonic()

    def send(self, record: bool) -> None:
        if self.transport is None or self.peer is None:
            return
        header = struct.pack("!BBHII", 0x80, PT_PCMU, self.seq, self.seq * 160, self.ssrc)
        if record:
            self.sent[self.seq] = time.monotonic()
        self.transport.sendto(header + self.payload, self.peer)
        self.seq = (self.seq + 1) & 0xFFFF

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])


def plain_sdp(port: int) -> str:
    return (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=worker\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
    )


TO_WORKER = {"ICE": "remove", "transport-protocol": "RTP/AVP", "rtcp-mux": ["demux"],
             "replace": ["origin", "session-connection"], "SDES": ["off"]}  # fmt: skip
TO_BROWSER = {"ICE": "force", "transport-protocol": "UDP/TLS/RTP/SAVPF",
              "rtcp-mux": ["offer", "require"], "replace": ["origin", "session-connection"],
              "SDES": ["off"], "flags": ["generate-mid"]}  # fmt: skip


# ------------------------------------------- rtpengine's own delay, from a capture


class Capture:
    """tcpdump on ``lo`` for rtpengine's ports (nanosecond kernel timestamps, 64-byte
    snaps): when each RTP packet went into rtpengine and when it came out."""

    def __init__(self, path: Path, port_min: int, port_max: int) -> None:
        self.path = path
        self.ports = (port_min, port_max)
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            "tcpdump", "-i", "lo", "-n", "-U", "-s", "64", "-B", "32768",
            "--time-stamp-precision=nano", "-w", str(self.path),
            f"udp and portrange {self.ports[0]}-{self.ports[1]}",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self.proc.stderr is not None
        line = await asyncio.wait_for(self.proc.stderr.readline(), 10)
        if b"listening" not in line:
            raise RuntimeError(f"tcpdump: {line.decode().strip()}")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(2)
            await self.proc.wait()


def rtp_in_pcap(path: Path) -> list[tuple[float, int, int, int]]:
    """(time, source port, destination port, RTP sequence) of every RTP/SRTP packet."""
    data = path.read_bytes()
    if data[:4] != b"\x4d\x3c\xb2\xa1":
        raise RuntimeError("not a little-endian nanosecond pcap")
    link = struct.unpack_from("<I", data, 20)[0]
    l2 = {1: 14, 113: 16, 276: 20}[link]
    out, pos = [], 24
    while pos + 16 <= len(data):
        sec, nsec, caplen, _ = struct.unpack_from("<IIII", data, pos)
        frame = data[pos + 16 : pos + 16 + caplen]
        pos += 16 + caplen
        ip = frame[l2:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        udp = ip[(ip[0] & 0x0F) * 4 :]
        if len(udp) < 12:
            continue
        sport, dport = struct.unpack_from("!HH", udp, 0)
        rtp = udp[8:]
        if len(rtp) < 4 or not 0x80 <= rtp[0] <= 0xBF or 72 <= rtp[1] & 0x7F <= 76:
            continue  # STUN, DTLS, RTCP
        out.append((sec + nsec / 1e9, sport, dport, struct.unpack_from("!H", rtp, 2)[0]))
    return out


def rtpengine_delays(
    packets: list[tuple[float, int, int, int]],
    ports: list[tuple[int, int]],
    since: float,
    until: float,
) -> dict[str, tuple[float, float, float]]:
    """Time each packet spent in rtpengine, per direction: from its arrival on one of a
    call's rtpengine ports to its departure from the call's other port, same sequence.
    ``ports``: per call, (rtpengine's port toward the worker, toward the browser)."""
    first_in: dict[tuple[int, int], float] = {}
    first_out: dict[tuple[int, int], float] = {}
    mine = {p for pair in ports for p in pair}
    for t, sport, dport, seq in packets:
        if since <= t <= until and dport in mine:
            first_in.setdefault((dport, seq), t)
        if sport in mine:
            first_out.setdefault((sport, seq), t)
    result = {}
    for way, into, out_of in (("to_browser", 0, 1), ("to_worker", 1, 0)):
        values = sorted(
            first_out[(pair[out_of], seq)] - t
            for pair in ports
            for (port, seq), t in first_in.items()
            if port == pair[into] and (pair[out_of], seq) in first_out
        )
        result[way] = _summary(values)
    return result


def _summary(values: list[float]) -> tuple[float, float, float]:
    if not values:
        return (float("nan"),) * 3
    values.sort()
    ms = [1000 * v for v in values]
    return statistics.median(ms), ms[int(0.95 * (len(ms) - 1))], ms[-1]


# ----------------------------------------------------------------------- the runs


async def tick(legs: list[PlainLeg], stop: asyncio.Event, recording: list[bool]) -> None:
    start, n = time.monotonic(), 0
    while not stop.is_set():
        for leg in legs:
            leg.send(recording[0])
        n += 1
        await asyncio.sleep(max(0.0, start + n * 0.02 - time.monotonic()))


async def wait_connected(hosts: list[Peers], count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        up = sum([await h.ask("connected") for h in hosts])
        if up >= count:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"only {up} of {count} peer connections came up")


async def through_rtpengine(
    rtpengine: Any, calls: int, args: argparse.Namespace, transcode: bool
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    procs, seconds = args.procs, args.seconds
    hosts = [await Peers.start(args.peers_nice, args.decode) for _ in range(procs)]
    legs: list[PlainLeg] = []
    ports: list[tuple[int, int]] = []  # per call: rtpengine's (worker side, browser side)
    stop, recording = asyncio.Event(), [False]
    codecs = ["opus"] if transcode else ["opus", "PCMU"]
    capture: Capture | None = None
    try:
        for i in range(calls):
            host = hosts[i % procs]
            offer = await host.ask("offer", call=i, codecs=codecs)
            _, leg = await loop.create_datagram_endpoint(PlainLeg, local_addr=("127.0.0.1", 0))
            legs.append(leg)
            params: dict[str, Any] = {
                "call-id": f"bench-{i}",
                "from-tag": "browser",
                "sdp": offer,
                **TO_WORKER,
            }
            if transcode:
                params["codec"] = {"transcode": ["PCMU"]}
            worker_offer = (await rtpengine.ng.checked("offer", params)).data["sdp"]
            leg.peer = ("127.0.0.1", int(re.search(r"m=audio (\d+)", worker_offer)[1]))  # type: ignore[index]
            answer = await rtpengine.ng.checked(
                "answer",
                {"call-id": f"bench-{i}", "from-tag": "browser", "to-tag": "worker",
                 "sdp": plain_sdp(leg.port), **TO_BROWSER},
            )  # fmt: skip
            await host.ask("answer", call=i, sdp=answer.data["sdp"])
            ports.append((leg.peer[1], int(re.search(r"m=audio (\d+)", answer.data["sdp"])[1])))  # type: ignore[index]
        await wait_connected(hosts, calls)  # DTLS done on every browser leg
        sender = asyncio.create_task(tick(legs, stop, recording))
        s = rtpengine.settings
        if args.capture:
            capture = Capture(args.capture, s.port_min, s.port_max)
            await capture.start()
        await asyncio.sleep(2.0)  # settle: jitter buffers filled
        assert rtpengine.pid is not None
        recording[0], since, wall_since = True, time.monotonic(), time.time()
        harness = [os.getpid(), *(h.proc.pid for h in hosts)]
        cpu0, t0 = cpu_seconds(rtpengine.pid), time.monotonic()
        h0 = sum(cpu_seconds(pid) for pid in harness)
        await asyncio.sleep(seconds)
        recording[0], until, wall_until = False, time.monotonic(), time.time()
        cpu1, t1 = cpu_seconds(rtpengine.pid), until
        h1 = sum(cpu_seconds(pid) for pid in harness)
        await asyncio.sleep(0.5)  # the last packets land
        stop.set()
        await sender
        timings: dict[str, Any] = {}
        for host in hosts:
            timings.update(await host.ask("timings", since=since, until=until))
        stats = await rtpengine.ng.statistics()
        transcoded = int(stats["currentstatistics"]["transcodedmedia"])
        inside: dict[str, Any] = {}
        if capture is not None:
            await capture.stop()
            packets = rtp_in_pcap(capture.path)
            inside = {"in_rtpengine": rtpengine_delays(packets, ports, wall_since, wall_until)}
        return {
            "cpu": (cpu1 - cpu0) / (t1 - t0),
            "harness": (h1 - h0) / (t1 - t0),
            "transcoded": transcoded,
            **loss_and_delay(legs, timings),
            **inside,
        }
    finally:
        stop.set()
        if capture is not None:
            await capture.stop()
        for i in range(calls):
            await rtpengine.ng.request("delete", {"call-id": f"bench-{i}", "from-tag": "browser"})
        for leg in legs:
            if leg.transport is not None:
                leg.transport.close()
        for host in hosts:
            await host.stop()


def loss_and_delay(legs: list[PlainLeg], timings: dict[str, Any]) -> dict[str, Any]:
    """Loss over both directions; one-way delay per direction (worker -> browser,
    browser -> worker), matched by RTP sequence number."""
    delays: dict[str, list[float]] = {"to_browser": [], "to_worker": []}
    sent = lost = 0
    for i, leg in enumerate(legs):
        browser = timings[str(i)]
        arrived = {int(s): t for s, t in browser["recv"].items()}
        pairs = [
            ("to_browser", leg.sent, arrived),
            ("to_worker", {int(k): v for k, v in browser["sent"].items()}, leg.recv),
        ]
        for way, out, got in pairs:
            for seq, t in out.items():
                sent += 1
                if seq in got:
                    delays[way].append(got[seq] - t)
                else:
                    lost += 1
    result: dict[str, Any] = {"packets": sent, "loss": lost / sent if sent else 1.0}
    for way, values in delays.items():
        result[way] = _summary(values)
    return result


async def terminated_by_aiortc(calls: int, args: argparse.Namespace, transcode: bool) -> float:
    """CPU (s/s) of one aiortc process terminating the same browsers' legs."""
    procs, seconds = args.procs, args.seconds
    browsers = [await Peers.start(args.peers_nice, args.decode) for _ in range(procs)]
    server = await Peers.start()
    try:
        for i in range(calls):
            host = browsers[i % procs]
            offer = await host.ask("offer", call=i, codecs=["opus"] if transcode else ["PCMU"])
            answer = await server.ask("serve", call=i, sdp=offer)
            await host.ask("answer", call=i, sdp=answer)
        await wait_connected(browsers, calls)
        await asyncio.sleep(2.0)
        pid = server.proc.pid
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        await asyncio.sleep(seconds)
        return (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
    finally:
        for host in [*browsers, server]:
            await host.stop()


async def main(args: argparse.Namespace) -> None:
    from drivers.sip import RtpengineSettings, RtpengineSupervisor
    from tests.integration.kamailio_harness import free_ports

    media = free_ports(1000)
    rtpengine = RtpengineSupervisor(
        RtpengineSettings(ng_port=free_ports(1), port_min=media, port_max=media + 999,
                          threads=args.threads),
        log=_Quiet(),
        extra_args=tuple(args.rtpengine_arg),
    )  # fmt: skip
    await rtpengine.start()
    print(f"cpus: {os.cpu_count()}  python: {sys.version.split()[0]}  peers in {args.procs} procs")
    try:
        assert rtpengine.pid is not None
        cpu0, t0 = cpu_seconds(rtpengine.pid), time.monotonic()
        await asyncio.sleep(5.0)
        idle = (cpu_seconds(rtpengine.pid) - cpu0) / (time.monotonic() - t0)
        print(f"rtpengine idle: {100 * idle:.2f}% of a core")
        for transcode in (False, True) if args.mode == "both" else (args.mode == "transcode",):
            name = "transcoded  " if transcode else "pass-through"
            for calls in args.calls:
                load = os.getloadavg()[0]
                r = await through_rtpengine(rtpengine, calls, args, transcode)
                per_call = max(0.0, r["cpu"] - idle) / calls
                line = (
                    f"{name} calls {calls:3d}: rtpengine {100 * r['cpu']:5.1f}% "
                    f"= {100 * per_call:.2f}%/call (transcoded media {r['transcoded']})"
                )
                if not args.no_baseline:
                    base = await terminated_by_aiortc(calls, args, transcode)
                    line += (
                        f" | aiortc terminating {100 * base:5.1f}% = {100 * base / calls:.2f}%/call"
                    )
                line += f" | harness {100 * r['harness']:.0f}% | load {load:.1f}"
                if "in_rtpengine" in r:
                    line += " | in rtpengine"
                    for way, label in (("to_browser", "to browser"), ("to_worker", "to worker")):
                        p50, p95, top = r["in_rtpengine"][way]
                        line += f" {label} p50 {p50:.2f} p95 {p95:.2f} max {top:.2f} ms;"
                line += f" | loss {100 * r['loss']:.3f}% of {r['packets']} pkts | end to end"
                for way, label in (("to_browser", "to browser"), ("to_worker", "to worker")):
                    p50, p95, top = r[way]
                    line += f" {label} p50 {p50:.1f} p95 {p95:.1f} max {top:.1f} ms;"
                print(line, flush=True)
    finally:
        await rtpengine.stop()


class _Quiet:
    """A logger for rtpengine's supervisor that keeps only errors."""

    def __getattr__(self, level: str) -> Any:
        def log(event: str, **fields: Any) -> None:
            if level in ("error", "critical"):
                print(f"{level}: {event} {fields}", file=sys.stderr)

        return log


if __name__ == "__main__":
    if "--peers" in sys.argv:
        os.nice(int(sys.argv[-1]))
        asyncio.run(PeerHost().serve())
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=lambda s: [int(x) for x in s.split(",")], default=[10, 40])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--procs", type=int, default=4, help="processes for the aiortc peers")
    parser.add_argument("--threads", type=int, default=2, help="rtpengine's worker threads")
    parser.add_argument("--mode", choices=("both", "pass", "transcode"), default="both")
    parser.add_argument("--no-baseline", action="store_true", help="skip the aiortc runs")
    parser.add_argument(
        "--rtpengine-arg", action="append", default=[], help="one more rtpengine option"
    )
    parser.add_argument(
        "--capture",
        type=Path,
        default=Path("/tmp/bench_webrtc.pcap") if shutil.which("tcpdump") else None,
        help="pcap file for tcpdump on lo (rtpengine's own delay); needs tcpdump and root",
    )
    parser.add_argument(
        "--decode",
        action="store_true",
        help="browser stand-ins decode what they receive (off: only timed, as the box "
        "does not pay for a browser's decoding)",
    )
    parser.add_argument(
        "--peers-nice",
        type=int,
        default=10,
        help="niceness of the browser stand-ins (real browsers are on other machines)",
    )
    asyncio.run(main(parser.parse_args()))
