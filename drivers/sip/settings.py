"""What the SIP driver needs to know, as small frozen values built by the app.

The driver never reads the switch's config: ``switch`` maps its ``[sip]``, ``[[trunks]]``
and ``[[agents]]`` sections to these values (``switch.settings``).

Imported by both planes and by the app: must not import either plane.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from base.addr import split_host_port


@dataclass(frozen=True, slots=True)
class EdgeSettings:
    """The SIP edge (Kamailio) and the media worker pool."""

    listen: str = "127.0.0.1:5060"
    workers: int = 8
    kamailio: str = "/usr/sbin/kamailio"
    worker_port_base: int = 5100
    rtp_port_base: int = 20000
    tls_listen: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    ws_listen: str | None = None
    wss_listen: str | None = None
    shm_mb: int = 256

    @property
    def host(self) -> str:
        return split_host_port(self.listen, "listen")[0]

    @property
    def port(self) -> int:
        return split_host_port(self.listen, "listen")[1]


@dataclass(frozen=True, slots=True)
class TrunkSettings:
    """A provider's SIP trunk: where it is, how it wants numbers, its credentials."""

    id: str
    host: str
    port: int = 5060
    transport: Literal["udp", "tcp", "tls"] = "udp"
    dids: tuple[str, ...] = ()
    username: str | None = None
    password: str | None = None
    register_: bool = False
    number_format: Literal["+e164", "e164", "national"] = "+e164"
    prefixes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class AgentPhone:
    """An agent's SIP account at the edge (registrar and digest auth)."""

    id: str
    sip_user: str | None = None
    sip_password: str | None = None


@dataclass(frozen=True, slots=True)
class RtpengineSettings:
    """rtpengine, the media relay between browsers (ICE, DTLS-SRTP, Opus) and the
    workers' plain RTP: run userspace-only by the switch, controlled over ng (UDP on
    127.0.0.1)."""

    binary: str = "/usr/bin/rtpengine"
    ng_port: int = 22223
    port_min: int = 31000
    port_max: int = 31999
    # rtpengine's --interface: the address its media sockets use, optionally with the
    # address to advertise in SDP ("10.0.0.5!203.0.113.5" behind a 1:1 NAT).
    interface: str = "127.0.0.1"
    threads: int = 2


@dataclass(frozen=True, slots=True)
class WebRtcSettings:
    """Browser phones at the edge: where rtpengine listens, the secret that signs
    short-lived browser credentials, and the number a widget guest may call."""

    rtpengine: RtpengineSettings
    secret: str  # HMAC key of the ephemeral credentials (Kamailio's auth_ephemeral)
    widget_number: str | None = None  # E.164; None: no guest calls
