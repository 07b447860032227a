"""``sip_options``: is a SIP server there? One OPTIONS over UDP, asyncio.

The thin I/O shell over :class:`drivers.sip.edge.options.OptionsProbe` (which builds the
request and reads the replies). Used for Kamailio's readiness and for trunk tests; must
not import the supervisor or the media plane.
"""

from __future__ import annotations

import asyncio
import socket

from drivers.sip.edge.options import OptionsProbe

__all__ = ["sip_options"]


async def sip_options(host: str, port: int, timeout: float = 1.0) -> int | None:
    """Send one SIP OPTIONS over UDP; the final reply's status code, or None when none
    came within ``timeout`` seconds (or the port is closed)."""
    loop = asyncio.get_running_loop()
    if host in {"0.0.0.0", "::", ""}:
        host = "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.connect((host, port))
        local_host, local_port = sock.getsockname()[:2]
        probe = OptionsProbe.new(host, port, local_host, local_port)
        await loop.sock_sendall(sock, probe.request())
        deadline = loop.time() + timeout
        while (left := deadline - loop.time()) > 0:
            try:
                data = await asyncio.wait_for(loop.sock_recv(sock, 65535), left)
            except (TimeoutError, ConnectionRefusedError):
                return None
            code = probe.answer(data)
            if code is not None:
                return code
        return None
    except OSError:
        return None
    finally:
        sock.close()
