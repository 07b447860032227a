"""An asyncio client for rtpengine's ng port: the sockets around :mod:`.ng`.

``NgClient(host, port)`` sends one request per call and waits for its reply,
re-sending the same datagram (same cookie: rtpengine answers a repeat from its cache,
never runs it twice) every ``timeout / (retries + 1)`` seconds; no reply within
``timeout`` is :class:`base.errors.ChannelUnavailable`. A datagram that is not an ng
reply is logged and dropped (:class:`base.errors.ProtocolError` from the codec): one
bad datagram never breaks the client. The socket is opened on first use and closed by
:meth:`NgClient.close`.

Kamailio's rtpengine module is rtpengine's real client in calls; the switch uses this
one for readiness (``ping``), tests and benchmarks (``query``, ``list``,
``statistics``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import structlog

from base.errors import ChannelUnavailable, ProtocolError
from drivers.sip.rtpengine.ng import NgCodec, NgReply

__all__ = ["NgClient"]

log = structlog.get_logger("sip.rtpengine")


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, client: NgClient) -> None:
        self.client = client

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.client._received(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable: rtpengine is not listening (yet); the wait times out.
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        self.client._transport = None


class NgClient:
    """Requests to one rtpengine's ng port (UDP)."""

    def __init__(self, host: str, port: int, *, timeout: float = 2.0, retries: int = 2) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self.codec = NgCodec()
        self._transport: asyncio.DatagramTransport | None = None
        self._waiting: dict[str, asyncio.Future[NgReply]] = {}

    async def request(
        self,
        command: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> NgReply:
        """Send ``command`` with ``params``; the reply (check ``reply.ok``)."""
        transport = await self._open()
        cookie, data = self.codec.request(command, params)
        future: asyncio.Future[NgReply] = asyncio.get_running_loop().create_future()
        self._waiting[cookie] = future
        total = self.timeout if timeout is None else timeout
        step = total / (self.retries + 1)
        try:
            for _ in range(self.retries + 1):
                transport.sendto(data)
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(asyncio.shield(future), step)
            raise ChannelUnavailable(
                f"rtpengine at {self.host}:{self.port} did not answer {command!r} in {total:g} s"
            )
        finally:
            self._waiting.pop(cookie, None)
            self.codec.forget(cookie)
            if not future.done():
                future.cancel()

    async def ping(self, timeout: float = 0.5) -> bool:
        """True when rtpengine answers ``pong``."""
        try:
            reply = await self.request("ping", timeout=timeout)
        except ChannelUnavailable:
            return False
        return reply.result == "pong"

    async def checked(self, command: str, params: Mapping[str, Any] | None = None) -> NgReply:
        """Like :meth:`request`, but a refusal is ChannelUnavailable with rtpengine's
        reason."""
        reply = await self.request(command, params)
        if not reply.ok:
            raise ChannelUnavailable(f"rtpengine refused {command!r}: {reply.error}")
        return reply

    async def statistics(self) -> dict[str, Any]:
        return dict((await self.checked("statistics")).data.get("statistics") or {})

    async def list_calls(self, limit: int = 1000) -> list[str]:
        calls = (await self.checked("list", {"limit": limit})).data.get("calls") or []
        return [str(c) for c in calls]

    async def query(self, call_id: str) -> dict[str, Any]:
        """rtpengine's view of one call: tags, their medias, codecs, packet counters."""
        return dict((await self.checked("query", {"call-id": call_id})).data)

    def close(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()
        for future in self._waiting.values():
            if not future.done():
                future.cancel()
        self._waiting.clear()

    async def _open(self) -> asyncio.DatagramTransport:
        if self._transport is None:
            transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: _Receiver(self), remote_addr=(self.host, self.port)
            )
            self._transport = transport
        return self._transport

    def _received(self, data: bytes) -> None:
        try:
            found = self.codec.receive(data)
        except ProtocolError as exc:
            log.warning("rtpengine_bad_reply", error=str(exc), port=self.port)
            return
        if found is None:
            return
        cookie, reply = found
        future = self._waiting.get(cookie)
        if future is not None and not future.done():
            future.set_result(reply)
