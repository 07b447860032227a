"""What the widget tests share: a `switch run` with the widget, a simulated modem, the SIP
edge (agents sign in by registering a phone), and a customer's page played by a
WebSocket client (:class:`Visitor`) that keeps every frame it got.

With ``webrtc=True`` the switch also runs the WebSocket SIP port and rtpengine, and the
widget number leads to the ``support`` queue (calls from the page).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

from drivers.gsm.simulator import SimulatorClient
from switch.passwords import hash_password
from tests.conftest import free_port
from tests.integration.kamailio_harness import free_ports
from tests.integration.switch_env import SwitchEnv
from tests.integration.switchproc import SwitchProcess

SHOP = "https://shop.example"
CUSTOMER = "+85512345678"
WIDGET_NUMBER = "+85523900199"
AGENTS = {"alice": ("1001", "secret-1001"), "bob": ("1002", "secret-1002")}
DESK_PASSWORD = "desk-password-1"  # every agent's, for the desktop (GET /)
_DESK_HASH = hash_password(DESK_PASSWORD)


def widget_config(
    http: int,
    edge: int,
    base: int,
    rtp: int,
    *,
    ws: int | None = None,
    ng: int | None = None,
    media: int | None = None,
    extra: str = "",
    queue_extra: str = "",
) -> str:
    webrtc = ""
    if ws is not None:
        webrtc = f"""ws_listen = "127.0.0.1:{ws}"
[webrtc]
ng_port = {ng}
port_min = {media}
port_max = {media + 199 if media else 0}
widget_number = "{WIDGET_NUMBER}"
[[routes]]
number = "{WIDGET_NUMBER}"
to = "queue:support"
"""
    agents = "".join(
        f"""[[agents]]
id = "{agent}"
name = "{agent.title()}"
sip_user = "{user}"
sip_password = "{password}"
password_hash = "{_DESK_HASH}"
"""
        for agent, (user, password) in AGENTS.items()
    )
    return f"""
[store]
path = "data/switch.db"
[http]
listen = "127.0.0.1:{http}"
[api]
tokens = ["secret-token-for-tests"]
[[modems]]
id = "gsm1"
simulated = true
profile = "huawei_e173"
[[queues]]
id = "support"
callback = true
{queue_extra}
[routing]
reply_timeout = 6
[widget]
allowed_origins = ["{SHOP}"]
queue = "support"
{extra}
[sip]
listen = "127.0.0.1:{edge}"
workers = 2
worker_port_base = {base}
rtp_port_base = {rtp}
ring_timeout = 10
{webrtc}
{agents}
"""


@dataclass
class WidgetEnv(SwitchEnv):
    http: int = 0
    ws: int = 0
    modem: SimulatorClient | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http}"

    def sign_in(self, agent: str) -> None:
        """The agent's desk phone registers: they are signed in (and available)."""
        user, password = AGENTS[agent]
        self.register(user, password, free_ports(1))
        self.wait_api(f"/api/v1/agents/{agent}", lambda a: a["phone_registered"])

    def codes_sent_to(self, number: str) -> list[str]:
        assert self.modem is not None
        sent = self.modem.state_sync()["sent"]
        texts = [p["text"] for p in sent if p["destination"].lstrip("+") == number.lstrip("+")]
        return [m[1] for t in texts if (m := re.search(r"code is ([0-9]{6})", t))]

    def wait_code(self, number: str, count: int = 1, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            codes = self.codes_sent_to(number)
            if len(codes) >= count:
                return codes[count - 1]
            time.sleep(0.1)
        raise AssertionError(f"no code #{count} sent to {number}")

    def contact_of(self, number: str) -> dict[str, Any]:
        status, found = self.api("GET", f"/api/v1/contacts?phone=%2B{number[1:]}")
        assert status == 200 and len(found) == 1, found
        return dict(found[0])

    def journey(self, contact_id: str) -> list[dict[str, Any]]:
        status, body = self.api("GET", f"/api/v1/contacts/{contact_id}/journey")
        assert status == 200, body
        return list(body)

    def visitor(self, **kw: Any) -> Visitor:
        return Visitor(self.url, **kw)


@dataclass
class Visitor:
    """A customer's page, without a browser: the session's cookie, then the socket."""

    base: str
    origin: str | None = SHOP
    lang: str = "en"
    cookie: str | None = None
    frames: list[dict[str, Any]] = field(default_factory=list)
    ws: Any = None
    seen: int = 0  # frames already handed out by next()

    async def session(self) -> httpx.Response:
        headers = {"Origin": self.origin} if self.origin else {}
        cookies = {"edge_visitor": self.cookie} if self.cookie else {}
        async with httpx.AsyncClient(cookies=cookies) as client:
            response = await client.post(f"{self.base}/widget/session", headers=headers)
        if response.status_code == 200:
            self.cookie = response.cookies.get("edge_visitor") or self.cookie
        return response

    @property
    def visitor_id(self) -> str:
        assert self.cookie is not None
        return self.cookie.split(".")[0]

    async def open(self) -> dict[str, Any]:
        """Connect (after a session, unless there is a cookie already); the welcome."""
        if self.cookie is None:
            response = await self.session()
            assert response.status_code == 200, response.text
        await self.connect()
        return await self.next("welcome")

    async def connect(self) -> None:
        headers = {"Cookie": f"edge_visitor={self.cookie}"} if self.cookie else {}
        if self.origin:
            headers["Origin"] = self.origin
        url = self.base.replace("http://", "ws://") + f"/widget/ws?lang={self.lang}"
        self.ws = await websockets.connect(url, additional_headers=headers)
        self.frames = []
        self.seen = 0

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
            self.ws = None

    async def closed_with(self) -> int | None:
        """The close code the switch sent (after it closed the socket)."""
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), 10)
        except websockets.ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd is not None else None

    async def put(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame))

    async def say(self, text: str, ref: str) -> dict[str, Any]:
        """Send a chat message; the switch's ``sent`` (or ``error``) for it."""
        await self.put(type="send", id=ref, text=text)
        return await self.next(("sent", "error"), lambda f: f.get("ref") == ref)

    async def next(
        self, kinds: str | tuple[str, ...], where: Any = None, timeout: float = 15.0
    ) -> dict[str, Any]:
        """The next frame of these kinds (matching ``where``) not handed out yet."""
        kinds = (kinds,) if isinstance(kinds, str) else kinds
        deadline = time.monotonic() + timeout
        while True:
            for n in range(self.seen, len(self.frames)):
                frame = self.frames[n]
                if frame["type"] in kinds and (where is None or where(frame)):
                    self.seen = n + 1
                    return frame
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kinds} frame; got {self.frames[self.seen :]}")
            try:
                text = await asyncio.wait_for(self.ws.recv(), left)
            except TimeoutError:
                continue
            self.frames.append(json.loads(text))

    async def drain(self, seconds: float = 0.5) -> list[dict[str, Any]]:
        """Whatever arrives within ``seconds``."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                self.frames.append(json.loads(await asyncio.wait_for(self.ws.recv(), left)))
            except TimeoutError:
                break
        return self.frames[self.seen :]


@contextmanager
def running_widget_switch(
    tmp: Path, *, webrtc: bool = False, extra: str = "", queue_extra: str = ""
) -> Iterator[WidgetEnv]:
    """``extra`` goes into ``[widget]``; ``queue_extra`` into the ``support`` queue (and
    may add tables after it)."""
    # (free_ports never hands out a range twice in a while: none of these overlap)
    block = free_ports(320 if webrtc else 110)  # workers' RTP (then rtpengine's media)
    http, edge, base = free_port(), free_ports(1, tcp=True), free_ports(2)
    if webrtc:
        ws, ng = free_ports(1, tcp=True), free_ports(1)
        text = widget_config(
            http,
            edge,
            base,
            block,
            ws=ws,
            ng=ng,
            media=block + 110,
            extra=extra,
            queue_extra=queue_extra,
        )
    else:
        ws = 0
        text = widget_config(http, edge, base, block, extra=extra, queue_extra=queue_extra)
    sw = SwitchProcess(text, tmp, http)
    sw.start(timeout=60)
    env = WidgetEnv(sw, edge, 0, tmp, http=http, ws=ws)
    env.modem = SimulatorClient(tmp / "data" / "modems" / "gsm1" / "control.sock")
    try:
        env.wait_api("/api/v1/modems", lambda ms: ms and ms[0]["state"] == "ready", timeout=30)
        yield env
    finally:
        code = sw.terminate(timeout=30)
        assert code == 0, sw.stderr_text()[-3000:]
