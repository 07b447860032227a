"""The Kamailio config, rendered from the edge's settings: a pure function.

:func:`render_kamailio_config` turns the edge settings, trunks and agents into a
Kamailio config (``kamailio.cfg.tmpl`` next to this file, whose header comment is the
routing logic in a nutshell, and ``kamailio-browsers.cfg.tmpl``, its browser-phone
part). Everything Kamailio learns from the switch is either in that file (listen
sockets, realm, trunk addresses and the credentials it answers trunk challenges with,
the browser credentials' secret, rtpengine's control port) or in the SQLite file
:mod:`drivers.sip.edge.subscribers` writes (agent HA1s, the media workers as dispatcher
set 1, trunk registrations).

Conventions shared with the media workers (:mod:`drivers.sip.media`): worker ``i`` is a
SIP UA on UDP ``127.0.0.1:<worker_port_base + i>``; a call for a worker carries
``X-Switch-Origin: trunk;id=<trunk id>``, ``X-Switch-Origin: agent;user=<sip_user>`` or
``X-Switch-Origin: web;guest=web-<16 hex>`` (a widget call);
a worker reaches an agent phone with ``sip:<sip_user>@<listen host:port>`` and a trunk
with ``sip:<number in the trunk's format>@<trunk host>:<trunk port>``.

Pure but for one thing: trunk host names are resolved (to know the IPs trunks call
from). Runs no process; must not import the supervisor, the RPC client or anything of
the media plane.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Sequence
from pathlib import Path

from base.addr import split_host_port
from base.errors import ConfigError
from drivers.sip.settings import AgentPhone, EdgeSettings, TrunkSettings, WebRtcSettings
from drivers.sip.uri import uri_host

__all__ = [
    "CTL_SOCKET",
    "RPC_SOCKET",
    "SUN_PATH_MAX",
    "render_kamailio_config",
    "worker_addresses",
]

TEMPLATE = Path(__file__).with_name("kamailio.cfg.tmpl")
BROWSER_TEMPLATE = Path(__file__).with_name("kamailio-browsers.cfg.tmpl")
CTL_SOCKET = "kamailio_ctl"
RPC_SOCKET = "kamailio_rpc.sock"
MIN_EXPIRES = 60
MAX_EXPIRES = 3600
# Requests per 2 s from one IP before pike blocks it (trunks and workers are exempt).
PIKE_DENSITY = 40
WORKER_TRYING_MS = 2000
SUN_PATH_MAX = 107  # bytes of a Unix socket path
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+|[0-9A-Fa-f:.]+)$")
_PLACEHOLDER = re.compile(r"\{\{[A-Z_]+\}\}")
# rtpengine flags toward a browser (WebRTC: ICE, DTLS-SRTP, rtcp-mux, a=mid) and toward
# a worker (plain RTP/AVP, no ICE, RTCP on its own port). The same flags serve offers
# and answers; rtpengine answers in the offerer's own protocol.
TO_BROWSER = (
    "replace-origin replace-session-connection ICE=force UDP/TLS/RTP/SAVPF "
    "rtcp-mux-offer rtcp-mux-require generate-mid SDES-off"
)
TO_WORKER_SIDE = (
    "replace-origin replace-session-connection ICE=remove RTP/AVP rtcp-mux-demux SDES-off"
)


def worker_addresses(sip: EdgeSettings) -> list[str]:
    """``host:port`` of every media worker: dispatcher set 1, in order."""
    return [f"127.0.0.1:{sip.worker_port_base + i}" for i in range(sip.workers)]


def _sip_address(value: str, key: str) -> tuple[str, int]:
    """``split_host_port``, and a host SIP can use; a ConfigError naming ``key`` if not."""
    try:
        host, port = split_host_port(value, key)
    except ValueError:
        host, port = "", 0
    if not _HOST.match(host):
        raise ConfigError([(key, f"not a usable host:port for SIP: {value!r}")])
    return host, port


def _cfg_string(value: str, key: str) -> str:
    """``value`` as a double-quoted Kamailio config string."""
    if any(ord(c) < 32 or c == "\x7f" for c in value):
        raise ConfigError([(key, "control characters are not allowed")])
    # (an assignment's string literal is not searched for $pseudo-variables)
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _source_ips(host: str) -> list[str]:
    """IP addresses a trunk's requests come from: the host itself, or what it resolves to."""
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_UDP)
    except OSError:
        return []
    return sorted({str(info[4][0]) for info in infos})


def _trunk_routes(trunks: Sequence[TrunkSettings]) -> str:
    source = ["route[TRUNK_SOURCE] {"]
    target = [
        "route[TRUNK_TARGET] {",
        "\t$avp(auser) = $null;",
        "\t$avp(apass) = $null;",
        "\t$avp(arealm) = $null;",
    ]
    for i, trunk in enumerate(trunks):
        key = f"trunks[{i}]"
        if not _HOST.match(trunk.host):
            raise ConfigError([(f"{key}.host", f"not a usable SIP host: {trunk.host!r}")])
        ips = _source_ips(trunk.host)
        if not ips:
            # Still routable outward (Kamailio resolves when it relays), never trusted.
            source.append(f"\t# {trunk.id}: {trunk.host} did not resolve: not recognised")
        for ip in ips:
            if trunk.transport == "udp":
                cond = f'$si == "{ip}" && $sp == {trunk.port} && $proto == "udp"'
            else:
                # TCP/TLS peers connect from ephemeral ports: the IP and transport decide.
                cond = f'$si == "{ip}" && $proto == "{trunk.transport}"'
            source += [
                f"\tif ({cond}) {{",
                f'\t\t$var(trunk) = "{trunk.id}";',
                "\t\treturn;",
                "\t}",
            ]
        hosts = sorted({trunk.host.strip("[]"), *ips})
        by_host = " || ".join(
            f'$rd == "{h}" || $rd == "[{h}]"' if ":" in h else f'$rd == "{h}"' for h in hosts
        )
        target.append(f"\tif (({by_host}) && $rp == {trunk.port}) {{")
        if trunk.transport != "udp":
            uri = f"sip:{uri_host(trunk.host)}:{trunk.port};transport={trunk.transport}"
            target.append(f'\t\t$du = "{uri}";')
        if trunk.username and trunk.password:
            target += [
                f"\t\t$avp(auser) = {_cfg_string(trunk.username, key + '.username')};",
                f"\t\t$avp(apass) = {_cfg_string(trunk.password, key + '.password')};",
                '\t\t$avp(arealm) = "";',
                "\t\tdlg_manage();",
            ]
        target += ["\t\treturn;", "\t}"]
    source += ["\treturn;", "}"]
    target += ["\treturn;", "}"]
    return "\n".join([*source, "", *target]) + "\n"


_WS_ROUTES = """\
event_route[xhttp:request] {
	set_reply_close();
	set_reply_no_connect();
	if ($hdr(Upgrade) =~ "websocket" && $hdr(Connection) =~ "Upgrade" && $rm =~ "GET") {
		if (ws_handle_handshake()) {
			exit;
		}
	}
	xhttp_reply("404", "Not Found", "", "");
}
"""


def render_kamailio_config(
    sip: EdgeSettings,
    trunks: Sequence[TrunkSettings],
    agents: Sequence[AgentPhone],
    *,
    rundir: Path,
    db_path: Path,
    children: int = 4,
    debug: int = 2,
    ping_interval: int = 5,
    reg_timer: int = 10,
    socket_dir: Path | None = None,
    webrtc: WebRtcSettings | None = None,
    tls_files: tuple[Path, Path] | None = None,
) -> str:
    """The Kamailio config for this switch config (a pure function of its arguments,
    except that trunk host names are resolved to know the IPs trunks call from).

    ``agents`` only matter through the SQLite file (their HA1s); they are accepted here
    so that the edge is described by one call. The control sockets go in ``rundir``
    unless ``socket_dir`` says otherwise (Unix socket paths are limited to 107 bytes).
    ``webrtc`` turns browser phones on (``WITH_WEBRTC``: browser credentials, guests,
    rtpengine); it needs a WebSocket listener. ``tls_files`` (certificate, key) serve
    TLS and WSS when the settings name none (the supervisor's self-signed pair).
    """
    del agents  # credentials live in the subscriber table, not in the config
    host, port = _sip_address(sip.listen, "sip.listen")
    if host in {"0.0.0.0", "::", "*"}:
        raise ConfigError(
            [
                (
                    "sip.listen",
                    "must be the edge's own address (phones register to sip:<user>@<host> "
                    f"and it is the digest realm), not {host}",
                )
            ]
        )
    rundir = Path(rundir).resolve()
    db_path = Path(db_path).resolve()
    sockets = Path(socket_dir).resolve() if socket_dir is not None else rundir
    ctl = sockets / CTL_SOCKET
    rpc = sockets / RPC_SOCKET
    for path in (ctl, rpc):
        if len(str(path)) > SUN_PATH_MAX:
            raise ConfigError([("sip", f"run directory too deep for a Unix socket: {path}")])
    host_port = f"{uri_host(host)}:{port}"
    listen = [
        f"listen=udp:{host_port}",
        f"listen=tcp:{host_port}",
        f"alias={host_port}",
    ]
    tls_module = tls_params = ws_modules = ws_params = ws_routes = ""
    nat_test, reply_nat_test = "19", "1"
    wss_listen = getattr(sip, "wss_listen", None)
    tls_ports = []
    if sip.tls_listen:
        tls_ports.append(_sip_address(sip.tls_listen, "sip.tls_listen"))
    if wss_listen:
        tls_ports.append(_sip_address(wss_listen, "sip.wss_listen"))
    if tls_ports:
        cert_file, key_file = sip.tls_cert, sip.tls_key
        if not (cert_file and key_file) and tls_files is not None:
            cert_file, key_file = str(tls_files[0]), str(tls_files[1])
        if not (cert_file and key_file):
            key_name = "sip.tls_listen" if sip.tls_listen else "sip.wss_listen"
            raise ConfigError([(key_name, "needs sip.tls_cert and sip.tls_key")])
        listen.append("enable_tls=yes")
        for th, tp in tls_ports:
            listen += [f"listen=tls:{uri_host(th)}:{tp}", f"alias={uri_host(th)}:{tp}"]
        tls_module = 'loadmodule "tls.so"'
        cert = _cfg_string(str(Path(cert_file).resolve()), "sip.tls_cert")
        key = _cfg_string(str(Path(key_file).resolve()), "sip.tls_key")
        tls_params = "\n".join(
            [
                'modparam("tls", "tls_method", "TLSv1.2+")',
                f'modparam("tls", "certificate", {cert})',
                f'modparam("tls", "private_key", {key})',
                'modparam("tls", "verify_certificate", 0)',
                'modparam("tls", "require_certificate", 0)',
            ]
        )
    if sip.ws_listen:
        wh, wp = _sip_address(sip.ws_listen, "sip.ws_listen")
        listen.append(f"listen=tcp:{uri_host(wh)}:{wp}")
    if sip.ws_listen or wss_listen:
        ws_modules = 'loadmodule "xhttp.so"\nloadmodule "websocket.so"'
        ws_params = "\n".join(
            [
                'modparam("websocket", "keepalive_mechanism", 1)',
                # a closed browser tab takes its registration with it
                'modparam("usrloc", "handle_lost_tcp", 1)',
                'modparam("usrloc", "close_expired_tcp", 1)',
            ]
        )
        ws_routes = _WS_ROUTES
        nat_test = "83"  # 19 + 64: a WebSocket client is always "behind NAT"
        reply_nat_test = "65"  # replies too: private Contact, or a WebSocket client
    defines = ""
    webrtc_values = {"EPHEMERAL_SECRET": '""', "RTPENGINE_NG": "", "WIDGET_USER": ""}
    if webrtc is not None:
        if not (sip.ws_listen or wss_listen):
            raise ConfigError([("webrtc", "browser phones need sip.ws_listen or sip.wss_listen")])
        defines = "#!define WITH_WEBRTC"
        webrtc_values = {
            "EPHEMERAL_SECRET": _cfg_string(webrtc.secret, "webrtc.secret"),
            "RTPENGINE_NG": f"127.0.0.1:{webrtc.rtpengine.ng_port}",
            "WIDGET_USER": webrtc.widget_number or "",
        }
        if not re.fullmatch(r"\+?[0-9]{0,15}", webrtc_values["WIDGET_USER"]):
            raise ConfigError([("webrtc.widget_number", "must be E.164 (+ and digits)")])
    values = {
        "DEBUG": str(debug),
        "CHILDREN": str(children),
        "TCP_CHILDREN": str(max(2, children // 2)),
        "LISTEN": "\n".join(listen),
        "TLS_MODULE": tls_module,
        "TLS_PARAMS": tls_params,
        "WS_MODULES": ws_modules,
        "WS_PARAMS": ws_params,
        "WS_ROUTES": ws_routes,
        "CTL_SOCKET": str(ctl),
        "RPC_SOCKET": str(rpc),
        "DB_PATH": str(db_path),
        "DB_URL": f"sqlite://{db_path}",
        "HOST_PORT": host_port,
        "REALM": host,
        "MIN_EXPIRES": str(MIN_EXPIRES),
        "MAX_EXPIRES": str(MAX_EXPIRES),
        "PIKE_DENSITY": str(PIKE_DENSITY),
        "PING_INTERVAL": str(ping_interval),
        "REG_TIMER": str(reg_timer),
        "WORKER_TRYING_MS": str(WORKER_TRYING_MS),
        "NAT_TEST": nat_test,
        "REPLY_NAT_TEST": reply_nat_test,
        "DEFINES": defines,
        "TO_BROWSER": TO_BROWSER,
        "TO_WORKER_SIDE": TO_WORKER_SIDE,
        **webrtc_values,
        "TRUNK_ROUTES": _trunk_routes(trunks),
    }
    for name in ("CTL_SOCKET", "RPC_SOCKET", "DB_PATH"):
        if '"' in values[name] or "\\" in values[name]:
            raise ConfigError([("sip", f"{values[name]!r}: quotes and backslashes not allowed")])
    text = TEMPLATE.read_text(encoding="utf-8").replace(
        "{{BROWSER_ROUTES}}", BROWSER_TEMPLATE.read_text(encoding="utf-8")
    )
    text = _PLACEHOLDER.sub(lambda m: values[m.group(0)[2:-2]], text)
    return text
