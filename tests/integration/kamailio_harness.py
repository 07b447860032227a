"""What the Kamailio edge tests share: free ports, a running edge, sipp runs.

Every test starts its own Kamailio (``KamailioSupervisor``) on 127.0.0.1 with free
ports and a short run directory under /tmp (Unix socket paths are limited to 107
bytes), and stops it at the end. sipp plays trunks, media workers and agent phones with
the scenarios in ``tests/integration/sipp/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from drivers.sip.edge.supervisor import KamailioSupervisor
from switch.config import AgentConfig, SipConfig, TrunkConfig

SIPP_DIR = Path(__file__).with_name("sipp")
KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"
SIPP = shutil.which("sipp") or "/usr/bin/sipp"

needs_kamailio_and_sipp = pytest.mark.skipif(
    not (Path(KAMAILIO).exists() and Path(SIPP).exists()),
    reason="needs Debian's kamailio and sip-tester (sipp)",
)


def _free(port: int, kinds: Sequence[int]) -> bool:
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


# Ranges handed out lately: a block picked free now (a switch's RTP ports, say) is not
# bound until a call uses it, so a phone's ports picked a moment later could land in it
# and the two would fight over a port. Nothing handed out is handed out again for a
# while (a test's switch and phones live for less than that).
_HANDED: list[tuple[float, range]] = []
HOLD = 300.0  # seconds


def free_ports(n: int, *, tcp: bool = False) -> int:
    """The first of ``n`` consecutive free UDP (and TCP) ports on 127.0.0.1, none of
    them in a range this process handed out in the last :data:`HOLD` seconds."""
    kinds = [socket.SOCK_DGRAM, socket.SOCK_STREAM] if tcp else [socket.SOCK_DGRAM]
    now = time.monotonic()
    _HANDED[:] = [(at, r) for at, r in _HANDED if now - at < HOLD]
    for _ in range(500):
        base = random.randrange(20000, 60000 - n)
        if any(base < r.stop and r.start < base + n for _, r in _HANDED):
            continue
        if all(_free(base + i, kinds) for i in range(n)):
            _HANDED.append((now, range(base, base + n)))
            return base
    raise RuntimeError("no free ports")


@dataclass
class SippRun:
    proc: asyncio.subprocess.Process
    workdir: Path
    name: str
    port: int

    async def wait(self, timeout: float = 20.0) -> int:
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            return -9

    def log(self) -> str:
        path = self.workdir / f"{self.name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def errors(self) -> str:
        path = self.workdir / f"{self.name}.err"
        return path.read_text(errors="replace") if path.exists() else ""

    def messages(self) -> str:
        path = self.workdir / f"{self.name}.msg"
        return path.read_text(errors="replace") if path.exists() else ""

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


_counter = iter(range(1, 1_000_000))


async def sipp(
    scenario: str,
    port: int,
    *,
    workdir: Path,
    remote: str | None = None,
    service: str | None = None,
    auth: tuple[str, str] | None = None,
    keys: dict[str, str] | None = None,
    calls: int = 1,
    timeout: float = 10.0,
    extra: Sequence[str] = (),
) -> SippRun:
    """Start ``sipp -sf <scenario>.xml`` bound to 127.0.0.1:``port`` (a UAS when
    ``remote`` is None); it ends after ``calls`` calls or ``timeout`` seconds."""
    name = f"{scenario}-{port}-{next(_counter)}"
    args = [
        SIPP,
        "-sf",
        str(SIPP_DIR / f"{scenario}.xml"),
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-m",
        str(calls),
        "-mp",
        str(free_ports(4)),
        "-timeout",
        str(int(timeout)),
        "-timeout_error",
        "-nostdin",
        "-trace_err",
        "-error_file",
        str(workdir / f"{name}.err"),
        "-trace_logs",
        "-log_file",
        str(workdir / f"{name}.log"),
        "-trace_msg",
        "-message_file",
        str(workdir / f"{name}.msg"),
    ]
    if service is not None:
        args += ["-s", service]
    if auth is not None:
        args += ["-au", auth[0], "-ap", auth[1]]
    for key, value in (keys or {}).items():
        args += ["-key", key, value]
    args += list(extra)
    if remote is not None:
        args.append(remote)
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        cwd=str(workdir),
    )
    if remote is None:  # a UAS: ready once its port is taken
        for _ in range(200):
            if proc.returncode is not None or not _free(port, [socket.SOCK_DGRAM]):
                break
            await asyncio.sleep(0.01)
    return SippRun(proc, workdir, name, port)


@dataclass
class Edge:
    sup: KamailioSupervisor
    sip: SipConfig
    trunks: list[TrunkConfig]
    agents: list[AgentConfig]
    workdir: Path
    trunk_port: int
    worker_ports: list[int]
    runs: list[SippRun] = field(default_factory=list)

    @property
    def target(self) -> str:
        return self.sip.listen

    async def sipp(self, scenario: str, port: int, **kwargs: Any) -> SippRun:
        run = await sipp(scenario, port, workdir=self.workdir, **kwargs)
        self.runs.append(run)
        return run

    async def register(
        self, user: str, password: str, port: int, *, expires: int = 60, expect: int = 200
    ) -> SippRun:
        run = await self.sipp(
            f"register_{expect}",
            port,
            remote=self.target,
            service=user,
            auth=(user, password),
            keys={"expires": str(expires)},
        )
        return run


@contextlib.asynccontextmanager
async def running_edge(
    *,
    workers: int = 2,
    trunks: Sequence[dict[str, object]] = (),
    agents: Sequence[dict[str, object]] = (
        {"id": "alice", "sip_user": "1001", "sip_password": "s3cret-1001"},
    ),
    ping_interval: int = 600,
    sip_overrides: dict[str, Any] | None = None,
    **supervisor_args: Any,
) -> AsyncIterator[Edge]:
    """A Kamailio edge on free ports: one trunk "p1" at 127.0.0.1:<trunk_port> unless
    ``trunks`` says otherwise, agents as given, ``workers`` dispatcher entries."""
    workdir = Path(tempfile.mkdtemp(prefix="kam", dir="/tmp"))
    edge_port = free_ports(1, tcp=True)
    worker_base = free_ports(workers)
    trunk_port = free_ports(1)
    sip = SipConfig(
        listen=f"127.0.0.1:{edge_port}",
        workers=workers,
        worker_port_base=worker_base,
        kamailio=KAMAILIO,
        shm_mb=64,
        **(sip_overrides or {}),
    )
    trunk_cfgs = [
        TrunkConfig.model_validate(t)
        for t in (trunks or [{"id": "p1", "host": "127.0.0.1", "port": trunk_port}])
    ]
    agent_cfgs = [AgentConfig.model_validate(a) for a in agents]
    sup = KamailioSupervisor(
        sip,
        trunk_cfgs,
        agent_cfgs,
        rundir=workdir / "sip",
        ping_interval=ping_interval,
        children=2,
        **supervisor_args,
    )
    edge = Edge(
        sup,
        sip,
        trunk_cfgs,
        agent_cfgs,
        workdir,
        trunk_port,
        [worker_base + i for i in range(workers)],
    )
    await sup.start()
    try:
        yield edge
    finally:
        for run in edge.runs:
            await run.stop()
        await sup.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def describe(*runs: SippRun) -> str:
    """What sipp said, for assertion messages."""
    parts = []
    for run in runs:
        parts.append(f"--- {run.name} rc={run.proc.returncode}\n{run.errors()[-1500:]}")
        parts.append(run.messages()[-3000:])
    return "\n".join(parts)
