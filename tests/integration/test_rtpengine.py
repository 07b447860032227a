"""rtpengine run by the switch (drivers/sip/rtpengine): start, ping, restart, stop; the
ng client against a real rtpengine and against a peer that sends nonsense."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from base.errors import ChannelUnavailable
from drivers.sip import NgClient, RtpengineSettings, RtpengineSupervisor
from tests.integration.kamailio_harness import free_ports
from tests.integration.webrtc_env import HAVE_RTPENGINE

pytestmark = pytest.mark.integration
needs_rtpengine = pytest.mark.skipif(not HAVE_RTPENGINE, reason="needs rtpengine-daemon")


def settings() -> RtpengineSettings:
    media = free_ports(40)
    return RtpengineSettings(ng_port=free_ports(1), port_min=media, port_max=media + 39)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.fixture
async def rtpengine() -> AsyncIterator[RtpengineSupervisor]:
    sup = RtpengineSupervisor(settings(), max_backoff=1.0)
    await sup.start()
    try:
        yield sup
    finally:
        await sup.stop()


@needs_rtpengine
async def test_rtpengine_runs_userspace_only_and_answers_ping(
    rtpengine: RtpengineSupervisor,
) -> None:
    assert rtpengine.running
    argv = Path(f"/proc/{rtpengine.pid}/cmdline").read_bytes().split(b"\0")
    assert b"--table=-1" in argv and b"--config-file=none" in argv and b"--foreground" in argv
    assert await rtpengine.ng.ping()
    stats = await rtpengine.ng.statistics()
    [interface] = stats["interfaces"]
    assert interface["address"] == "127.0.0.1"
    s = rtpengine.settings
    assert interface["ports"]["min"] == s.port_min and interface["ports"]["max"] == s.port_max
    assert await rtpengine.ng.list_calls() == []
    reply = await rtpengine.ng.request("query", {"call-id": "no-such-call"})
    assert not reply.ok and reply.error == "Unknown call-id"


@needs_rtpengine
async def test_a_killed_rtpengine_is_restarted_and_answers_again(
    rtpengine: RtpengineSupervisor,
) -> None:
    first = rtpengine.pid
    assert first is not None
    rtpengine.kill()
    for _ in range(100):
        if rtpengine.restarts == 1 and rtpengine.running:
            break
        await asyncio.sleep(0.05)
    assert rtpengine.restarts == 1 and rtpengine.pid != first
    assert not alive(first)
    assert await rtpengine.ng.ping()


@needs_rtpengine
async def test_stop_leaves_no_process() -> None:
    sup = RtpengineSupervisor(settings())
    await sup.start()
    pid = sup.pid
    assert pid is not None and alive(pid)
    await sup.stop()
    assert not alive(pid) and not sup.running
    assert not await NgClient("127.0.0.1", sup.settings.ng_port, timeout=0.3).ping()


@needs_rtpengine
async def test_a_taken_ng_port_fails_the_start_in_rtpengines_words() -> None:
    s = settings()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", s.ng_port))
        sup = RtpengineSupervisor(s, start_timeout=5.0)
        with pytest.raises(ChannelUnavailable) as err:
            await sup.start()
    assert "rtpengine exited" in str(err.value)
    assert "Address already in use" in str(err.value) or "listen" in str(err.value).lower()
    assert not sup.running


async def test_a_missing_rtpengine_binary_is_a_clear_error() -> None:
    sup = RtpengineSupervisor(RtpengineSettings(binary="/nonexistent/rtpengine"))
    with pytest.raises(ChannelUnavailable, match="cannot run /nonexistent/rtpengine"):
        await sup.start()


async def test_the_client_skips_nonsense_and_stray_replies_then_takes_its_own() -> None:
    """A peer on the ng port that first sends garbage and another request's reply."""
    loop = asyncio.get_running_loop()

    class Peer(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            cookie = data.split(b" ", 1)[0]
            for reply in (b"garbage", b"other d6:result4:ponge", cookie + b" d6:result4:ponge"):
                self.transport.sendto(reply, addr)  # type: ignore[attr-defined]

    transport, _ = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    client = NgClient("127.0.0.1", port, timeout=1.0)
    try:
        assert await client.ping()
        assert client.codec.pending == {}
    finally:
        client.close()
        transport.close()


async def test_no_answer_is_channel_unavailable_after_the_retries() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        client = NgClient("127.0.0.1", silent.getsockname()[1], timeout=0.3, retries=2)
        try:
            with pytest.raises(ChannelUnavailable, match="did not answer 'ping'"):
                await client.request("ping")
            await asyncio.sleep(0)
            received = []
            silent.setblocking(False)
            while True:
                try:
                    received.append(silent.recv(2048))
                except BlockingIOError:
                    break
            assert len(received) == 3 and len(set(received)) == 1  # re-sent with one cookie
        finally:
            client.close()
