"""Browser phones: rtpengine's process, and the short-lived SIP credentials browsers get.

With ``[webrtc]`` in the config, the call service runs rtpengine (before Kamailio, whose
``rtpengine`` module talks to it) and hands out credentials:

- an **agent's** browser phone (``POST /api/v1/webrtc/credentials``): registers as the
  agent's own AOR ``sip:<sip_user>@<edge host>`` and calls out like a desk phone, with
  ``<expiry>:<sip_user>`` and an HMAC password valid ``credential_ttl`` seconds. The
  agent's SIP password never leaves the switch.
- a **guest** (``POST /webrtc/guest``, the customer's widget): a fresh identity
  ``web-<16 hex>`` that the edge lets call the widget number and nothing else, for
  ``guest_ttl`` seconds. The call reaches a worker tagged
  ``X-Switch-Origin: web;guest=<user>`` and rings the agents like a trunk call; the
  contact's identity is ``web:<16 hex>``. The widget asks for its visitor's own
  (``web-<visitor>``), so the call lands in the contact of the page's cookie.

The secret that signs credentials lives in ``<store dir>/sip/webrtc.secret`` (0600,
made at the first start); deleting it and restarting revokes every credential.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from base.addr import split_host_port
from base.errors import Rejected
from drivers.sip import (
    RtpengineSupervisor,
    ephemeral_credential,
    guest_user,
    load_or_create_secret,
)
from switch.calls.records import iso
from switch.config import Config
from switch.settings import webrtc_settings

__all__ = ["SECRET_FILE", "BrowserPhones", "guest_identity"]

SECRET_FILE = "webrtc.secret"
_WILDCARDS = {"0.0.0.0", "::", "[::]", "*"}


def guest_identity(user: str) -> str:
    """A guest's contact identity: ``web:<16 hex>`` for SIP user ``web-<16 hex>``."""
    return "web:" + user.removeprefix("web-")


class BrowserPhones:
    """rtpengine and the browser credentials of one switch."""

    def __init__(self, config: Config, rundir: Path) -> None:
        assert config.sip is not None and config.webrtc is not None
        self.config = config.webrtc
        self.realm = config.sip.host
        self.secret = load_or_create_secret(rundir / SECRET_FILE)
        self.settings = webrtc_settings(config.webrtc, self.secret)
        self.rtpengine = RtpengineSupervisor(self.settings.rtpengine)
        self.sip_users = {a.id: a.sip_user for a in config.agents if a.sip_user}
        self.servers: list[tuple[str, str, int]] = []
        if config.sip.wss_listen:
            self.servers.append(("wss", *split_host_port(config.sip.wss_listen, "wss_listen")))
        if config.sip.ws_listen:
            self.servers.append(("ws", *split_host_port(config.sip.ws_listen, "ws_listen")))

    async def start(self) -> None:
        await self.rtpengine.start()

    async def stop(self) -> None:
        await self.rtpengine.stop()

    def ws_servers(self, seen_as: str | None = None) -> list[str]:
        """The WebSocket URLs of the edge; a wildcard listen address is replaced by
        ``seen_as``, the host name the browser reached the switch by."""
        out = []
        for scheme, host, port in self.servers:
            if host in _WILDCARDS:
                host = seen_as or self.realm
            if ":" in host and not host.startswith("["):
                host = f"[{host}]"
            out.append(f"{scheme}://{host}:{port}")
        return out

    def agent_credential(self, agent_id: str, now: float, seen_as: str | None) -> dict[str, Any]:
        """A credential for ``agent_id``'s browser phone, valid ``credential_ttl`` s."""
        user = self.sip_users.get(agent_id)
        if user is None:
            raise Rejected("unknown_agent", f"no agent {agent_id!r} with a SIP phone", 404)
        cred = ephemeral_credential(self.secret, user, int(now) + self.config.credential_ttl)
        return {
            "agent": agent_id,
            **self._common(cred.user, cred.username, cred.password, cred.expires_at, now),
            "ws_servers": self.ws_servers(seen_as),
        }

    def guest_credential(
        self, now: float, seen_as: str | None, visitor: str | None = None
    ) -> dict[str, Any]:
        """A guest's credential: calls to the widget number for ``guest_ttl`` s. A new
        guest, or (``visitor``: the widget's 16 hex digits) the widget's visitor, whose
        calls then land in the visitor's contact (identity ``web:<visitor>``)."""
        number = self.config.widget_number
        if number is None:
            raise Rejected(
                "no_widget", "this switch takes no widget calls (webrtc.widget_number)", 404
            )
        user = guest_user(visitor)
        if visitor is not None and user in self.sip_users.values():
            raise Rejected("conflict", "this visitor cannot call (an agent has that name)", 409)
        while user in self.sip_users.values():  # never an agent's name (16 hex digits)
            user = guest_user()
        cred = ephemeral_credential(self.secret, user, int(now) + self.config.guest_ttl)
        return {
            "visitor": guest_identity(user),
            **self._common(cred.user, cred.username, cred.password, cred.expires_at, now),
            "call": f"sip:{number}@{self._host()}",
            "ws_servers": self.ws_servers(seen_as),
        }

    def _host(self) -> str:
        return f"[{self.realm}]" if ":" in self.realm else self.realm

    def _common(
        self, user: str, username: str, password: str, expires_at: int, now: float
    ) -> dict[str, Any]:
        return {
            "uri": f"sip:{user}@{self._host()}",
            "authorization_user": username,
            "password": password,
            "realm": self.realm,
            "expires_at": iso(expires_at),
            "ttl": expires_at - int(now),
        }
