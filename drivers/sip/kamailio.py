"""Kamailio, the switch's SIP edge: its config rendered from the switch config, and a
supervisor that runs it as a child process.

Theory of operation
-------------------
:func:`render_kamailio_config` turns ``[sip]``, ``[[trunks]]`` and ``[[agents]]`` into a
Kamailio config (``kamailio.cfg.tmpl`` next to this file, whose header comment is the
routing logic in a nutshell). Everything Kamailio learns from the switch is either in
that file (listen sockets, realm, trunk addresses and the credentials it answers trunk
challenges with) or in the SQLite file written by :func:`write_subscriber_db` (agent
HA1s, the media workers as dispatcher set 1, trunk registrations). Both are rewritten at
every start; the run directory is the switch's own (``data/sip/``), mode 0700.

Conventions shared with the media workers (drivers/sip/pool.py, worker.py): worker ``i``
is a SIP UA on UDP ``127.0.0.1:<worker_port_base + i>``; a call for a worker carries
``X-Switch-Origin: trunk;id=<trunk id>`` or ``X-Switch-Origin: agent;user=<sip_user>``;
a worker reaches an agent phone with ``sip:<sip_user>@<listen host:port>`` and a trunk
with ``sip:<number in the trunk's format>@<trunk host>:<trunk port>``.

:class:`KamailioSupervisor` runs ``kamailio -DD -E -f <cfg> -Y <rundir> -m <shm_mb> -M 8``
in its own process group, forwards its log lines to structlog, and declares it up when
the SIP port answers an OPTIONS. Kamailio must not outlive the switch: the main process
gets ``PR_SET_PDEATHSIG`` (SIGKILL when the switch dies, even by ``kill -9``), and before
every spawn the processes still running this run directory's config (the forked
children of a Kamailio whose switch was killed) are killed, so that the SIP port is ours
and the OPTIONS that says "up" is answered by the Kamailio just started.

A Kamailio that exits on its own is restarted with a backoff (0.5 s doubling to
``max_backoff``; reset after a minute up), each restart counted in ``restarts``. A
start that fails raises :class:`ChannelUnavailable` with Kamailio's own error lines (and
those of ``kamailio -c``).

Queries go over Kamailio's JSON-RPC datagram socket (``<rundir>/kamailio_rpc.sock``);
``kamcmd -s unix:<rundir>/kamailio_ctl`` works for people (and :meth:`kamcmd`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import ipaddress
import itertools
import json
import os
import re
import secrets
import signal
import socket
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog

from base.addr import split_host_port
from base.errors import ChannelUnavailable, ConfigError, ProtocolError
from drivers.sip.settings import AgentPhone, EdgeSettings, TrunkSettings
from drivers.sip.subscribers import write_subscriber_db

__all__ = [
    "CTL_SOCKET",
    "RPC_SOCKET",
    "KamailioSupervisor",
    "kamailio_processes",
    "render_kamailio_config",
    "sip_options",
    "worker_addresses",
]

TEMPLATE = Path(__file__).with_name("kamailio.cfg.tmpl")
CTL_SOCKET = "kamailio_ctl"
RPC_SOCKET = "kamailio_rpc.sock"
CFG_FILE = "kamailio.cfg"
DB_FILE = "kamailio.sqlite"
MIN_EXPIRES = 60
MAX_EXPIRES = 3600
# Requests per 2 s from one IP before pike blocks it (trunks and workers are exempt).
PIKE_DENSITY = 40
WORKER_TRYING_MS = 2000
LOG_LINES_PER_SECOND = 50
_SUN_PATH_MAX = 107
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+|[0-9A-Fa-f:.]+)$")
_PLACEHOLDER = re.compile(r"\{\{[A-Z_]+\}\}")
_KAMCMD = "/usr/sbin/kamcmd"
# uac_reg record flags (Kamailio's src/modules/uac/uac_reg.c)
_REG_DISABLED = 1
_REG_ONGOING = 2
_REG_ONLINE = 4


# ---------------------------------------------------------------------------- rendering


def worker_addresses(sip: EdgeSettings) -> list[str]:
    """``host:port`` of every media worker: dispatcher set 1, in order."""
    return [f"127.0.0.1:{sip.worker_port_base + i}" for i in range(sip.workers)]


def _host_port(value: str, key: str) -> tuple[str, int]:
    try:
        host, port = split_host_port(value, key)
    except ValueError:
        host, port = "", 0
    if not _HOST.match(host):
        raise ConfigError([(key, f"not a usable host:port for SIP: {value!r}")])
    return host, port


def _uri_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


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
            uri = f"sip:{_uri_host(trunk.host)}:{trunk.port};transport={trunk.transport}"
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
    trunks: list[TrunkSettings],
    agents: list[AgentPhone],
    *,
    rundir: Path,
    db_path: Path,
    children: int = 4,
    debug: int = 2,
    ping_interval: int = 5,
    reg_timer: int = 10,
    socket_dir: Path | None = None,
) -> str:
    """The Kamailio config for this switch config (a pure function of its arguments,
    except that trunk host names are resolved to know the IPs trunks call from).

    ``agents`` only matter through the SQLite file (their HA1s); they are accepted here
    so that the edge is described by one call. The control sockets go in ``rundir``
    unless ``socket_dir`` says otherwise (Unix socket paths are limited to 107 bytes).
    """
    del agents  # credentials live in the subscriber table, not in the config
    host, port = _host_port(sip.listen, "sip.listen")
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
        if len(str(path)) > _SUN_PATH_MAX:
            raise ConfigError([("sip", f"run directory too deep for a Unix socket: {path}")])
    host_port = f"{_uri_host(host)}:{port}"
    listen = [
        f"listen=udp:{host_port}",
        f"listen=tcp:{host_port}",
        f"alias={host_port}",
    ]
    tls_module = tls_params = ws_modules = ws_params = ws_routes = ""
    nat_test = "19"
    if sip.tls_listen:
        if not (sip.tls_cert and sip.tls_key):
            raise ConfigError([("sip.tls_listen", "needs sip.tls_cert and sip.tls_key")])
        th, tp = _host_port(sip.tls_listen, "sip.tls_listen")
        listen += [
            "enable_tls=yes",
            f"listen=tls:{_uri_host(th)}:{tp}",
            f"alias={_uri_host(th)}:{tp}",
        ]
        tls_module = 'loadmodule "tls.so"'
        cert = _cfg_string(str(Path(sip.tls_cert).resolve()), "sip.tls_cert")
        key = _cfg_string(str(Path(sip.tls_key).resolve()), "sip.tls_key")
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
        wh, wp = _host_port(sip.ws_listen, "sip.ws_listen")
        listen.append(f"listen=tcp:{_uri_host(wh)}:{wp}")
        ws_modules = 'loadmodule "xhttp.so"\nloadmodule "websocket.so"'
        ws_params = 'modparam("websocket", "keepalive_mechanism", 1)'
        ws_routes = _WS_ROUTES
        nat_test = "83"  # 19 + 64: a WebSocket client is always "behind NAT"
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
        "TRUNK_ROUTES": _trunk_routes(trunks),
    }
    for name in ("CTL_SOCKET", "RPC_SOCKET", "DB_PATH"):
        if '"' in values[name] or "\\" in values[name]:
            raise ConfigError([("sip", f"{values[name]!r}: quotes and backslashes not allowed")])
    text = TEMPLATE.read_text(encoding="utf-8")
    text = _PLACEHOLDER.sub(lambda m: values[m.group(0)[2:-2]], text)
    return text


# ------------------------------------------------------------------------ SIP probing


async def sip_options(host: str, port: int, timeout: float = 1.0) -> int | None:
    """Send one SIP OPTIONS over UDP; the reply's status code, or None on timeout."""
    loop = asyncio.get_running_loop()
    if host in {"0.0.0.0", "::", ""}:
        host = "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.connect((host, port))
        lhost, lport = sock.getsockname()[:2]
        branch = "z9hG4bK" + secrets.token_hex(8)
        call_id = secrets.token_hex(12)
        h = _uri_host(host)
        msg = (
            f"OPTIONS sip:{h}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {_uri_host(lhost)}:{lport};branch={branch};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:supervisor@{_uri_host(lhost)}>;tag={secrets.token_hex(4)}\r\n"
            f"To: <sip:{h}:{port}>\r\n"
            f"Call-ID: {call_id}\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
        await loop.sock_sendall(sock, msg)
        deadline = loop.time() + timeout
        while (left := deadline - loop.time()) > 0:
            try:
                data = await asyncio.wait_for(loop.sock_recv(sock, 65535), left)
            except (TimeoutError, ConnectionRefusedError):
                return None
            first = data.split(b"\r\n", 1)[0].decode("latin-1")
            parts = first.split(" ", 2)
            if len(parts) >= 2 and parts[0] == "SIP/2.0" and parts[1].isdigit():
                code = int(parts[1])
                if code >= 200 and call_id.encode() in data:
                    return code
        return None
    except OSError:
        return None
    finally:
        sock.close()


# --------------------------------------------------------------------------- supervisor


class KamailioSupervisor:
    """Runs Kamailio for the switch: render, start, watch, restart, stop, query."""

    def __init__(
        self,
        sip: EdgeSettings,
        trunks: Sequence[TrunkSettings],
        agents: Sequence[AgentPhone],
        *,
        rundir: Path,
        log: Any = None,
        kamcmd_path: str = _KAMCMD,
        start_timeout: float = 15.0,
        stop_timeout: float = 5.0,
        max_backoff: float = 30.0,
        children: int = 4,
        ping_interval: int = 5,
        reg_timer: int = 10,
        worker_maxload: int = 1,
    ) -> None:
        self.sip = sip
        self.trunks = list(trunks)
        self.agents = list(agents)
        self.rundir = Path(rundir).resolve()
        self.log = log if log is not None else structlog.get_logger("sip.kamailio")
        self.kamcmd_path = kamcmd_path
        self.worker_maxload = worker_maxload
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.max_backoff = max_backoff
        self.children = children
        self.ping_interval = ping_interval
        self.reg_timer = reg_timer
        self.restarts = 0
        self.error_lines = 0  # Kamailio's ERROR/CRITICAL/ALERT lines seen (for metrics)
        self.cfg_path = self.rundir / CFG_FILE
        self.db_path = self.rundir / DB_FILE
        self.socket_dir = _socket_dir(self.rundir)
        self.ctl_socket = self.socket_dir / CTL_SOCKET
        self.rpc_socket = self.socket_dir / RPC_SOCKET
        self._proc: asyncio.subprocess.Process | None = None
        self._ready = False
        self._stopping = False
        self._monitor: asyncio.Task[None] | None = None
        self._stderr_task: asyncio.Task[None] | None = None
        self._tail: deque[str] = deque(maxlen=60)
        self._rpc_ids = itertools.count(1)
        self._started_at = 0.0

    # ----------------------------------------------------------------- properties

    @property
    def running(self) -> bool:
        """Kamailio is up and answered its readiness probe."""
        return self._ready and self._proc is not None and self._proc.returncode is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # ------------------------------------------------------------------ lifecycle

    def write_files(self) -> None:
        """Render the config and (re)write the SQLite file; both owner-only."""
        self.rundir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.rundir, 0o700)
        text = render_kamailio_config(
            self.sip,
            self.trunks,
            self.agents,
            rundir=self.rundir,
            db_path=self.db_path,
            socket_dir=self.socket_dir,
            children=self.children,
            ping_interval=self.ping_interval,
            reg_timer=self.reg_timer,
        )
        tmp = self.cfg_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self.cfg_path)
        write_subscriber_db(
            self.db_path,
            self.sip.host,
            self.agents,
            self.trunks,
            worker_addresses(self.sip),
            contact_addr=f"{_uri_host(self.sip.host)}:{self.sip.port}",
            socket=f"udp:{_uri_host(self.sip.host)}:{self.sip.port}",
            worker_maxload=self.worker_maxload,
        )

    async def start(self) -> None:
        """Render, write the DB, spawn Kamailio and wait until its SIP port answers."""
        if self._monitor is not None:
            return
        self._stopping = False
        self.write_files()
        await self._spawn_and_wait()
        self._monitor = asyncio.get_running_loop().create_task(
            self._supervise(), name="kamailio:supervise"
        )
        self.log.info("kamailio_started", pid=self.pid, listen=self.sip.listen)

    async def stop(self) -> None:
        """SIGTERM, wait ``stop_timeout``, then SIGKILL the whole process group."""
        self._stopping = True
        monitor, self._monitor = self._monitor, None
        if monitor is not None:
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
        await self._terminate()
        self.log.info("kamailio_stopped", restarts=self.restarts)

    async def _terminate(self) -> None:
        proc = self._proc
        self._ready = False
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(_exited(proc), self.stop_timeout)
            except TimeoutError:
                self.log.warning("kamailio_kill", pid=proc.pid, after=self.stop_timeout)
        # Kamailio's children share its process group: none may outlive it (they hold
        # the SIP port).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await _exited(proc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 2.0)  # pipes closed: transport finished
        if self._stderr_task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._stderr_task, 2.0)
            self._stderr_task = None

    def _command(self) -> list[str]:
        return [
            self.sip.kamailio,
            "-DD",
            "-E",
            "-f",
            str(self.cfg_path),
            "-Y",
            str(self.rundir),
            "-m",
            str(self.sip.shm_mb),
            "-M",
            "8",
            "--atexit=no",
        ]

    async def _spawn_and_wait(self) -> None:
        await self._kill_orphans()
        for path in (self.ctl_socket, self.rpc_socket):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self._tail.clear()
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._command(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                cwd=str(self.rundir),
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            raise ChannelUnavailable(f"cannot run {self.sip.kamailio}: {exc}") from None
        self._proc = proc
        self._started_at = time.monotonic()
        assert proc.stderr is not None
        self._stderr_task = asyncio.get_running_loop().create_task(
            self._read_stderr(proc.stderr), name="kamailio:stderr"
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        while loop.time() < deadline:
            if proc.returncode is not None:
                break
            code = await sip_options(self.sip.host, self.sip.port, timeout=0.25)
            if code is not None and proc.returncode is None:
                self._ready = True
                return
            await asyncio.sleep(0.05)
        # Failed: keep what it said, and what the config check says.
        alive = proc.returncode is None
        await self._terminate()
        lines = [line for line in self._tail if _is_error_line(line)] or list(self._tail)[-10:]
        check = await self.check_config()
        detail = "\n".join(lines + [line for line in check if line not in lines])
        why = "did not answer" if alive else f"exited with status {proc.returncode}"
        self.log.error("kamailio_start_failed", why=why, errors=detail[-4000:])
        raise ChannelUnavailable(f"Kamailio {why} at start:\n{detail}".rstrip())

    async def _kill_orphans(self) -> None:
        """Kill what an earlier switch (killed hard) left running on our config."""
        pids = kamailio_processes(self.cfg_path)
        if not pids:
            return
        self.log.warning("kamailio_orphans_killed", pids=pids)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            if not kamailio_processes(self.cfg_path):
                return
            await asyncio.sleep(0.02)
        raise ChannelUnavailable(f"Kamailio processes {pids} on {self.cfg_path} do not die")

    async def check_config(self) -> list[str]:
        """``kamailio -c`` on the rendered file: its error lines (empty when valid)."""
        try:
            proc = await asyncio.create_subprocess_exec(
                self.sip.kamailio,
                "-c",
                "-f",
                str(self.cfg_path),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                cwd=str(self.rundir),
            )
            out, _ = await asyncio.wait_for(proc.communicate(), 20.0)
        except (OSError, TimeoutError) as exc:
            return [f"kamailio -c could not run: {exc}"]
        if proc.returncode == 0:
            return []
        text = out.decode("utf-8", "replace").splitlines()
        return [line for line in text if _is_error_line(line)] or text[-10:]

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        """Kamailio's log lines into structlog, at most ``LOG_LINES_PER_SECOND`` a second
        (an overloaded Kamailio can print thousands; the excess is counted, not lost
        silently: ``kamailio_log_suppressed`` says how many)."""
        window = 0
        in_window = 0
        suppressed = 0
        while True:
            try:
                raw = await stream.readuntil(b"\n")
            except asyncio.IncompleteReadError as exc:
                raw = exc.partial
                if not raw:
                    break
            except asyncio.LimitOverrunError as exc:
                raw = await stream.read(exc.consumed)
            line = raw.decode("utf-8", "replace").rstrip()
            if not line:
                continue
            self._tail.append(line)
            is_error = " ALERT:" in line or " CRITICAL:" in line or " ERROR:" in line
            if is_error and not self._stopping:
                self.error_lines += 1
            now = int(time.monotonic())
            if now != window:
                if suppressed:
                    self.log.warning("kamailio_log_suppressed", lines=suppressed)
                window, in_window, suppressed = now, 0, 0
            in_window += 1
            if in_window > LOG_LINES_PER_SECOND:
                suppressed += 1
                continue
            if self._stopping:  # shutdown noise (children losing their parent's pipes)
                self.log.debug("kamailio", line=line)
            elif is_error:
                self.log.error("kamailio", line=line)
            elif " WARNING:" in line:
                self.log.warning("kamailio", line=line)
            elif " NOTICE:" in line:
                self.log.info("kamailio", line=line)
            else:
                self.log.debug("kamailio", line=line)
        if suppressed:
            self.log.warning("kamailio_log_suppressed", lines=suppressed)

    async def _supervise(self) -> None:
        backoff = 0.5
        while not self._stopping:
            proc = self._proc
            if proc is None:
                return
            code = await _exited(proc)
            if self._stopping:
                return
            self._ready = False
            uptime = time.monotonic() - self._started_at
            self.log.error(
                "kamailio_died",
                status=code,
                uptime=round(uptime, 1),
                last_lines=list(self._tail)[-5:],
            )
            await self._terminate()  # reap children still holding the port
            if uptime > 60.0:
                backoff = 0.5
            while not self._stopping:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                self.restarts += 1
                try:
                    self.write_files()
                    await self._spawn_and_wait()
                except (ChannelUnavailable, ConfigError, OSError) as exc:
                    self.log.error(
                        "kamailio_restart_failed", error=str(exc)[:2000], restarts=self.restarts
                    )
                    continue
                self.log.warning("kamailio_restarted", pid=self.pid, restarts=self.restarts)
                break

    # --------------------------------------------------------------------- queries

    async def kamcmd(self, *args: str, timeout: float = 5.0) -> str:
        """Run ``kamcmd -s unix:<ctl> <args>``; its output (ChannelUnavailable on failure)."""
        try:
            proc = await asyncio.create_subprocess_exec(
                self.kamcmd_path,
                "-s",
                f"unix:{self.ctl_socket}",
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise ChannelUnavailable(f"cannot run kamcmd: {exc}") from None
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise ChannelUnavailable(f"kamcmd {' '.join(args)} timed out") from None
        text = out.decode("utf-8", "replace")
        if proc.returncode != 0 or text.startswith("error:"):
            msg = (err.decode("utf-8", "replace") + text).strip()
            raise ChannelUnavailable(f"kamcmd {' '.join(args)} failed: {msg}")
        return text

    async def rpc(self, method: str, *params: str | int, timeout: float = 3.0) -> Any:
        """One Kamailio RPC over JSON-RPC (datagram socket); its ``result``."""
        loop = asyncio.get_running_loop()
        req_id = next(self._rpc_ids)
        reply_path = self.socket_dir / f"rpc-{os.getpid()}-{req_id}.sock"
        request = {"jsonrpc": "2.0", "method": method, "params": list(params), "id": req_id}
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind(str(reply_path))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
            try:
                await loop.sock_sendto(sock, json.dumps(request).encode(), str(self.rpc_socket))
                data = await asyncio.wait_for(loop.sock_recv(sock, 4 * 1024 * 1024), timeout)
            except (OSError, TimeoutError) as exc:
                raise ChannelUnavailable(f"Kamailio RPC {method} failed: {exc!r}") from None
        finally:
            sock.close()
            with contextlib.suppress(FileNotFoundError):
                reply_path.unlink()
        try:
            reply = json.loads(data)
        except ValueError:
            raise ProtocolError(f"Kamailio RPC {method}: reply is not JSON") from None
        if "error" in reply:
            err = reply["error"]
            raise ChannelUnavailable(
                f"Kamailio RPC {method}: {err.get('code')} {err.get('message')}"
            )
        return reply.get("result")

    async def registered_contacts(self) -> dict[str, list[str]]:
        """sip_user -> contact URIs registered now (from ``ul.dump``)."""
        result = await self.rpc("ul.dump")
        contacts: dict[str, list[str]] = {}
        for domain in _as_list(_get(result, "Domains")):
            for aor in _as_list(_get(_get(domain, "Domain"), "AoRs")):
                info = _get(aor, "Info")
                user = str(_get(info, "AoR") or "")
                if not user:
                    continue
                found = [
                    str(_get(_get(c, "Contact"), "Address"))
                    for c in _as_list(_get(info, "Contacts"))
                    if _get(_get(c, "Contact"), "Address")
                ]
                contacts.setdefault(user.split("@", 1)[0], []).extend(found)
        return contacts

    async def trunk_registrations(self) -> list[dict[str, Any]]:
        """One dict per trunk with ``register = true`` (``uac.reg_dump``), plus ``trunk``
        (the trunk id, Kamailio's ``l_uuid``), ``registered`` (bool) and ``state``:
        ``registered``, ``registering``, ``disabled`` or ``unregistered``."""
        result = await self.rpc("uac.reg_dump")
        out: list[dict[str, Any]] = []
        for rec in _as_list(result):
            if not isinstance(rec, dict):
                continue
            item = dict(rec)
            flags = int(item.get("flags") or 0)
            item["trunk"] = item.get("l_uuid")
            item["registered"] = bool(flags & _REG_ONLINE) and not flags & _REG_DISABLED
            if flags & _REG_DISABLED:
                item["state"] = "disabled"
            elif flags & _REG_ONLINE:
                item["state"] = "registered"
            elif flags & _REG_ONGOING:
                item["state"] = "registering"
            else:
                item["state"] = "unregistered"
            item.pop("auth_password", None)  # never echoed further
            out.append(item)
        return out

    async def reload_dispatcher(self) -> None:
        """Rewrite the worker list from the config and make Kamailio reload it."""
        self.write_files()
        await self.rpc("dispatcher.reload")

    async def dispatcher_state(self) -> list[dict[str, Any]]:
        """The media workers as Kamailio sees them: ``uri``, ``flags`` (A active,
        I inactive, D disabled, T trying, P probing), ``active``."""
        result = await self.rpc("dispatcher.list")
        out: list[dict[str, Any]] = []
        for record in _as_list(_get(result, "RECORDS")):
            setrec = _get(record, "SET")
            setid = _get(setrec, "ID")
            for target in _as_list(_get(setrec, "TARGETS")):
                dest = _get(target, "DEST")
                flags = str(_get(dest, "FLAGS") or "")
                out.append(
                    {
                        "set": setid,
                        "uri": _get(dest, "URI"),
                        "flags": flags,
                        "active": flags.startswith("A"),
                        "priority": _get(dest, "PRIORITY"),
                    }
                )
        return out


def _socket_dir(rundir: Path) -> Path:
    """``rundir``, or a short private directory under /tmp when ``rundir`` is too deep
    for Unix socket paths (named after ``rundir``, so restarts find the same one)."""
    if len(str(rundir / RPC_SOCKET)) <= _SUN_PATH_MAX - 12:  # room for rpc-<pid>-<n>.sock
        return rundir
    digest = hashlib.sha1(str(rundir).encode(), usedforsecurity=False).hexdigest()[:12]
    short = Path(tempfile.gettempdir()) / f"kamailio-{os.getuid()}-{digest}"
    short.mkdir(mode=0o700, exist_ok=True)
    if short.stat().st_uid != os.getuid():
        raise ChannelUnavailable(f"{short} belongs to another user")
    os.chmod(short, 0o700)
    return short


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: SIGKILL it when its parent dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def kamailio_processes(cfg_path: Path) -> list[int]:
    """Live processes running ``kamailio ... -f cfg_path`` (Kamailio's forked children
    keep the main process's command line)."""
    wanted = os.fsencode(cfg_path)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not argv or not argv[0].endswith(b"kamailio"):
            continue
        if any(a == b"-f" and b == wanted for a, b in itertools.pairwise(argv)):
            found.append(int(entry))
    return sorted(found)


async def _exited(proc: asyncio.subprocess.Process) -> int:
    """The exit status of ``proc`` once it is dead. (``Process.wait()`` also waits for
    its pipes, which Kamailio's children keep open after the main process is killed.)"""
    while proc.returncode is None:
        await asyncio.sleep(0.05)
    return proc.returncode


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else None


def _as_list(obj: Any) -> list[Any]:
    if obj is None:
        return []
    return obj if isinstance(obj, list) else [obj]


def _is_error_line(line: str) -> bool:
    return any(k in line for k in (" ERROR:", " CRITICAL:", " ALERT:", "error", "failed"))
