"""Kamailio as the switch's child process: its run directory, start, restart, stop.

Theory of operation
-------------------
:class:`KamailioSupervisor` writes the rendered config
(:mod:`drivers.sip.edge.render`) and the SQLite file
(:mod:`drivers.sip.edge.subscribers`) into the run directory (the switch's own,
``data/sip/``, mode 0700; both files rewritten at every start), then runs
``kamailio -DD -E -f <cfg> -Y <rundir> -m <shm_mb> -M 8`` through the shared
:class:`drivers.sip.process.ChildProcess`: its own process group, SIGKILL when the
switch dies (even by ``kill -9``), log lines into structlog (at most 50 a second), up
when the SIP port answers an OPTIONS (:func:`drivers.sip.edge.probe.sip_options`).

With a TLS or WSS listener and no ``tls_cert``/``tls_key``, a self-signed certificate
is made in the run directory at the first start and reused
(:mod:`drivers.sip.edge.certs`). With ``webrtc`` (browser phones), the config has
``WITH_WEBRTC``: browser credentials, guests, and rtpengine (which the app starts
first, :mod:`drivers.sip.rtpengine`).

Before every spawn the processes still running this run directory's config (the forked
children of a Kamailio whose switch was killed) are killed, so that the SIP port is ours
and the OPTIONS that says "up" is answered by the Kamailio just started.

A Kamailio that exits on its own is restarted with a backoff (0.5 s doubling to
``max_backoff``; reset after a minute up), each restart counted in ``restarts``. A
start that fails raises :class:`ChannelUnavailable` with Kamailio's own error lines (and
those of ``kamailio -c``).

Queries (``rpc``, ``kamcmd``, registrations, dispatcher) are :class:`KamailioRpc`'s,
offered here too so the edge is one object. This module holds the process lifecycle;
it must not import the media plane.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import signal
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog

from base.backoff import Backoff
from base.errors import ChannelUnavailable
from drivers.sip.edge.certs import ensure_self_signed
from drivers.sip.edge.probe import sip_options
from drivers.sip.edge.render import (
    CTL_SOCKET,
    RPC_SOCKET,
    SUN_PATH_MAX,
    render_kamailio_config,
    worker_addresses,
)
from drivers.sip.edge.rpc import KAMCMD, KamailioRpc
from drivers.sip.edge.subscribers import write_subscriber_db
from drivers.sip.process import ChildProcess, Launch, LogLine, StartFailed
from drivers.sip.settings import AgentPhone, EdgeSettings, TrunkSettings, WebRtcSettings
from drivers.sip.uri import uri_host

__all__ = ["KamailioSupervisor", "kamailio_processes"]

CFG_FILE = "kamailio.cfg"
DB_FILE = "kamailio.sqlite"
LOG_LINES_PER_SECOND = 50
READY_PROBE_TIMEOUT = 0.25  # s: one OPTIONS while waiting for the port to answer


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
        kamcmd_path: str = KAMCMD,
        start_timeout: float = 15.0,
        stop_timeout: float = 5.0,
        max_backoff: float = 30.0,
        children: int = 4,
        ping_interval: int = 5,
        reg_timer: int = 10,
        worker_maxload: int = 1,
        webrtc: WebRtcSettings | None = None,
    ) -> None:
        self.sip = sip
        self.webrtc = webrtc
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
        self.cfg_path = self.rundir / CFG_FILE
        self.db_path = self.rundir / DB_FILE
        self.socket_dir = _socket_dir(self.rundir)
        self.ctl_socket = self.socket_dir / CTL_SOCKET
        self.rpc_socket = self.socket_dir / RPC_SOCKET
        self.queries = KamailioRpc(self.rpc_socket, self.ctl_socket, kamcmd_path=kamcmd_path)
        self._program = _Kamailio(self)
        self._child = ChildProcess(
            "kamailio",
            self._program,
            log=self.log,
            backoff=Backoff(maximum=max_backoff),
            start_timeout=start_timeout,
            term_timeout=stop_timeout,
            lines_per_second=LOG_LINES_PER_SECOND,
            tail_lines=60,
        )
        self._started = False

    # ----------------------------------------------------------------- properties

    @property
    def running(self) -> bool:
        """Kamailio is up and answered its readiness probe."""
        return self._child.running

    @property
    def pid(self) -> int | None:
        return self._child.pid

    @property
    def restarts(self) -> int:
        return self._child.restarts

    @property
    def error_lines(self) -> int:
        """Kamailio's ERROR/CRITICAL/ALERT lines seen (for metrics)."""
        return self._program.error_lines

    # ------------------------------------------------------------------ lifecycle

    def write_files(self) -> None:
        """Render the config and (re)write the SQLite file; both owner-only."""
        self.rundir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.rundir, 0o700)
        sip = self.sip
        tls_files = None
        wss_listen = getattr(sip, "wss_listen", None)
        if (sip.tls_listen or wss_listen) and not (sip.tls_cert and sip.tls_key):
            tls_files = ensure_self_signed(self.rundir, sip.host)
        text = render_kamailio_config(
            sip,
            self.trunks,
            self.agents,
            rundir=self.rundir,
            db_path=self.db_path,
            socket_dir=self.socket_dir,
            children=self.children,
            ping_interval=self.ping_interval,
            reg_timer=self.reg_timer,
            webrtc=self.webrtc,
            tls_files=tls_files,
        )
        tmp = self.cfg_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self.cfg_path)
        self._write_db()

    def set_agents(self, agents: Sequence[AgentPhone]) -> None:
        """Agent phones from now on (a config reload): Kamailio reads the subscriber
        table at each authentication, so an added phone may register at once and a
        removed one no longer can (its current registration runs out)."""
        self.agents = list(agents)
        if self.db_path.exists():
            self._write_db()

    def _write_db(self) -> None:
        edge = f"{uri_host(self.sip.host)}:{self.sip.port}"
        write_subscriber_db(
            self.db_path,
            self.sip.host,
            self.agents,
            self.trunks,
            worker_addresses(self.sip),
            contact_addr=edge,
            socket=f"udp:{edge}",
            worker_maxload=self.worker_maxload,
        )

    async def start(self) -> None:
        """Render, write the DB, spawn Kamailio and wait until its SIP port answers."""
        if self._started:
            return
        await self._child.start()
        self._started = True
        self.log.info("kamailio_started", pid=self.pid, listen=self.sip.listen)

    async def stop(self) -> None:
        """SIGTERM, wait ``stop_timeout``, then SIGKILL the whole process group."""
        self._started = False
        await self._child.stop()
        self.log.info("kamailio_stopped", restarts=self.restarts)

    def command(self) -> list[str]:
        """Kamailio's command line."""
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

    async def kill_orphans(self) -> None:
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

    # --------------------------------------------------------------------- queries

    async def kamcmd(self, *args: str, timeout: float = 5.0) -> str:
        """Run ``kamcmd -s unix:<ctl> <args>``; its output (ChannelUnavailable on failure)."""
        return await self.queries.kamcmd(*args, timeout=timeout)

    async def rpc(self, method: str, *params: str | int, timeout: float = 3.0) -> Any:
        """One Kamailio RPC over JSON-RPC (datagram socket); its ``result``."""
        return await self.queries.call(method, *params, timeout=timeout)

    async def registered_contacts(self) -> dict[str, list[str]]:
        """sip_user -> contact URIs registered now (from ``ul.dump``)."""
        return await self.queries.registered_contacts()

    async def trunk_registrations(self) -> list[dict[str, Any]]:
        """One dict per trunk with ``register = true`` (``uac.reg_dump``), plus ``trunk``
        (the trunk id, Kamailio's ``l_uuid``), ``registered`` (bool) and ``state``:
        ``registered``, ``registering``, ``disabled`` or ``unregistered``."""
        return await self.queries.trunk_registrations()

    async def reload_dispatcher(self) -> None:
        """Rewrite the worker list from the config and make Kamailio reload it."""
        self.write_files()
        await self.queries.call("dispatcher.reload")

    async def dispatcher_state(self) -> list[dict[str, Any]]:
        """The media workers as Kamailio sees them: ``uri``, ``flags`` (A active,
        I inactive, D disabled, T trying, P probing), ``active``."""
        return await self.queries.dispatcher_state()


class _Kamailio:
    """The supervisor's :class:`drivers.sip.process.Program`: what running Kamailio means."""

    def __init__(self, sup: KamailioSupervisor) -> None:
        self.sup = sup
        self.error_lines = 0

    async def launch(self) -> Launch:
        sup = self.sup
        sup.write_files()
        await sup.kill_orphans()
        for path in (sup.ctl_socket, sup.rpc_socket):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return Launch(tuple(sup.command()), cwd=str(sup.rundir))

    async def ready(self, proc: asyncio.subprocess.Process) -> None:
        sip = self.sup.sip
        while await sip_options(sip.host, sip.port, timeout=READY_PROBE_TIMEOUT) is None:
            await asyncio.sleep(0.05)

    def up(self, proc: asyncio.subprocess.Process) -> None:
        pass  # the supervisor logs its own start; the child process logs restarts

    def log_line(self, line: str, stopping: bool) -> LogLine:
        is_error = " ALERT:" in line or " CRITICAL:" in line or " ERROR:" in line
        if stopping:  # shutdown noise (children losing their parent's pipes)
            return LogLine("debug", "kamailio", {"line": line})
        if is_error:
            self.error_lines += 1
            return LogLine("error", "kamailio", {"line": line})
        if " WARNING:" in line:
            return LogLine("warning", "kamailio", {"line": line})
        if " NOTICE:" in line:
            return LogLine("info", "kamailio", {"line": line})
        return LogLine("debug", "kamailio", {"line": line})

    async def start_failed(self, failure: StartFailed) -> Exception:
        lines = [line for line in failure.lines if _is_error_line(line)] or failure.lines[-10:]
        check = await self.sup.check_config()
        detail = "\n".join(lines + [line for line in check if line not in lines])
        why = "did not answer" if failure.status is None else f"exited with status {failure.status}"
        self.sup.log.error("kamailio_start_failed", why=why, errors=detail[-4000:])
        return ChannelUnavailable(f"Kamailio {why} at start:\n{detail}".rstrip())

    def exited(self, status: int, uptime: float) -> None:
        self.sup.log.error(
            "kamailio_died",
            status=status,
            uptime=round(uptime, 1),
            last_lines=list(self.sup._child.tail)[-5:],
        )


def _socket_dir(rundir: Path) -> Path:
    """``rundir``, or a short private directory under /tmp when ``rundir`` is too deep
    for Unix socket paths (named after ``rundir``, so restarts find the same one)."""
    if len(str(rundir / RPC_SOCKET)) <= SUN_PATH_MAX - 12:  # room for rpc-<pid>-<n>.sock
        return rundir
    digest = hashlib.sha1(str(rundir).encode(), usedforsecurity=False).hexdigest()[:12]
    short = Path(tempfile.gettempdir()) / f"kamailio-{os.getuid()}-{digest}"
    short.mkdir(mode=0o700, exist_ok=True)
    if short.stat().st_uid != os.getuid():
        raise ChannelUnavailable(f"{short} belongs to another user")
    os.chmod(short, 0o700)
    return short


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


def _is_error_line(line: str) -> bool:
    return any(k in line for k in (" ERROR:", " CRITICAL:", " ALERT:", "error", "failed"))
