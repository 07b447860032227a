"""What the browser-phone tests share: a `switch run` with WebSocket SIP and rtpengine.

The switch gets one trunk (a pjsua2 test phone plays the provider), one agent with a
SIP account (whose browser phone registers with a short-lived credential), a widget
number for guests, and free ports for everything: Kamailio's UDP/TCP and WebSocket
ports, the workers' SIP and RTP ports, rtpengine's ng port and media range (one block,
so the workers' and rtpengine's RTP ports cannot overlap).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import free_port
from tests.integration.kamailio_harness import free_ports
from tests.integration.switch_env import SwitchEnv
from tests.integration.switchproc import SwitchProcess

DID = "+85523900100"
WIDGET = "+85523900199"
CALLER = "+85512345678"
AGENT_USER = "1001"
AGENT_PASSWORD = "secret-1001"

HAVE_RTPENGINE = shutil.which("rtpengine") is not None


@dataclass
class WebEnv(SwitchEnv):
    """A running switch with browser phones on: its WebSocket and rtpengine ports."""

    ws: int = 0
    ng: int = 0
    http: int = 0

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws}"

    def credential(self, agent: str = "alice") -> dict[str, str]:
        status, body = self.api("POST", "/api/v1/webrtc/credentials", {"agent": agent})
        assert status == 201, body
        return dict(body)

    def guest(self) -> dict[str, str]:
        status, body = self.sw.request("POST", "/webrtc/guest", auth=False)
        assert status == 201, body
        return dict(body)

    def secret(self) -> str:
        return (self.tmp / "data" / "sip" / "webrtc.secret").read_text().strip()


def webrtc_config(
    http: int,
    edge: int,
    ws: int,
    trunk: int,
    base: int,
    rtp: int,
    ng: int,
    media: int,
    password_hash: str | None = None,
    extra: str = "",
) -> str:
    """The switch's config; ``password_hash`` lets alice sign in to the desk, ``extra``
    is appended (more tables: agents, queues)."""
    signs_in = f'password_hash = "{password_hash}"' if password_hash else ""
    return f"""
[store]
path = "data/switch.db"
[http]
listen = "127.0.0.1:{http}"
[api]
tokens = ["secret-token-for-tests"]
[log]
level = "debug"
[sip]
listen = "127.0.0.1:{edge}"
workers = 2
worker_port_base = {base}
rtp_port_base = {rtp}
ring_timeout = 10
ws_listen = "127.0.0.1:{ws}"
[webrtc]
ng_port = {ng}
port_min = {media}
port_max = {media + 199}
widget_number = "{WIDGET}"
[[trunks]]
id = "provider1"
host = "127.0.0.1"
port = {trunk}
dids = ["{DID}"]
[[agents]]
id = "alice"
name = "Alice"
sip_user = "{AGENT_USER}"
sip_password = "{AGENT_PASSWORD}"
{signs_in}
{extra}"""


@contextmanager
def running_switch(
    tmp: Path, password_hash: str | None = None, extra: str = ""
) -> Iterator[WebEnv]:
    """`switch run` with browser phones; stopped (exit 0 checked) at the end."""
    # (free_ports never hands out a range twice in a while: none of these overlap)
    block = free_ports(320)  # workers' RTP (2 x 50, +1), then rtpengine's media (200)
    edge, ws, trunk = free_ports(1, tcp=True), free_ports(1, tcp=True), free_ports(1)
    base, ng = free_ports(2), free_ports(1)
    http = free_port()
    text = webrtc_config(http, edge, ws, trunk, base, block, ng, block + 110, password_hash, extra)
    sw = SwitchProcess(text, tmp, http)
    sw.start(timeout=40)
    try:
        yield WebEnv(sw, edge, trunk, tmp, ws=ws, ng=ng, http=http)
    finally:
        code = sw.terminate(timeout=30)
        assert code == 0, sw.stderr_text()[-3000:]
