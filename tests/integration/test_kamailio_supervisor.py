"""The switch runs Kamailio: start, query, restart after a crash, clean stop, and a
start failure that says why in Kamailio's own words."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import stat
import tempfile
from pathlib import Path

import pytest

from base.errors import ChannelUnavailable
from drivers.sip.edge.probe import sip_options
from drivers.sip.edge.supervisor import KamailioSupervisor
from switch.config import AgentConfig, SipConfig
from tests.integration.kamailio_harness import (
    KAMAILIO,
    describe,
    free_ports,
    needs_kamailio_and_sipp,
    running_edge,
)

pytestmark = [pytest.mark.integration, needs_kamailio_and_sipp]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.faults
async def test_kamailio_killed_is_restarted_and_phones_can_register_again() -> None:
    async with running_edge(workers=1) as edge:
        first = edge.sup.pid
        assert first is not None
        reg = await edge.register("1001", "s3cret-1001", free_ports(1))
        assert await reg.wait() == 0, describe(reg)
        os.kill(first, signal.SIGKILL)
        for _ in range(100):
            await asyncio.sleep(0.1)
            if edge.sup.running and edge.sup.pid != first:
                break
        assert edge.sup.running and edge.sup.restarts == 1
        assert edge.sup.pid != first
        # registrations live in memory: gone with the old process, and phones re-register
        assert await edge.sup.registered_contacts() == {}
        again = await edge.register("1001", "s3cret-1001", free_ports(1))
        assert await again.wait() == 0, describe(again)
        assert list(await edge.sup.registered_contacts()) == ["1001"]


async def test_stop_leaves_no_kamailio_process_and_frees_the_port() -> None:
    async with running_edge(workers=1) as edge:
        pid = edge.sup.pid
        assert pid is not None
        children = [int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(int(p)) == pid]
        assert children, "Kamailio forks its workers"
        await edge.sup.stop()
        assert not edge.sup.running
        assert not alive(pid)
        assert not any(alive(c) for c in children)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((edge.sip.host, edge.sip.port))
        assert await sip_options(edge.sip.host, edge.sip.port, timeout=0.3) is None


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


async def test_state_is_queryable_by_rpc_and_kamcmd() -> None:
    async with running_edge(workers=3) as edge:
        state = await edge.sup.dispatcher_state()
        assert sorted(d["uri"] for d in state) == sorted(
            f"sip:127.0.0.1:{p}" for p in edge.worker_ports
        )
        assert all(d["active"] and d["set"] == 1 for d in state)
        assert await edge.sup.trunk_registrations() == []
        text = await edge.sup.kamcmd("dispatcher.list")
        assert f"sip:127.0.0.1:{edge.worker_ports[0]}" in text
        await edge.sup.reload_dispatcher()
        assert len(await edge.sup.dispatcher_state()) == 3


async def test_a_start_that_fails_raises_with_kamailios_own_words() -> None:
    port = free_ports(1, tcp=True)
    rundir = Path(tempfile.mkdtemp(prefix="kam", dir="/tmp")) / "sip"
    sip = SipConfig(
        listen=f"127.0.0.1:{port}", workers=1, worker_port_base=free_ports(1), kamailio=KAMAILIO
    )
    agents = [AgentConfig(id="a", sip_user="1001", sip_password="secret")]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", port))
        sup = KamailioSupervisor(sip, [], agents, rundir=rundir, start_timeout=5)
        with pytest.raises(ChannelUnavailable) as err:
            await sup.start()
    assert "Address already in use" in str(err.value) or "bind" in str(err.value)
    assert not sup.running

    missing = KamailioSupervisor(
        sip.model_copy(update={"kamailio": "/nonexistent/kamailio"}), [], agents, rundir=rundir
    )
    with pytest.raises(ChannelUnavailable, match="cannot run"):
        await missing.start()


async def test_a_deep_run_directory_gets_its_sockets_in_a_short_private_dir() -> None:
    port = free_ports(1, tcp=True)
    base = Path(tempfile.mkdtemp(prefix="kam", dir="/tmp"))
    rundir = base / ("deep-" * 20) / "sip"
    sip = SipConfig(
        listen=f"127.0.0.1:{port}", workers=1, worker_port_base=free_ports(1), kamailio=KAMAILIO
    )
    sup = KamailioSupervisor(sip, [], [], rundir=rundir)
    try:
        await sup.start()
        assert sup.socket_dir != rundir.resolve() and len(str(sup.ctl_socket)) < 100
        assert stat.S_IMODE(sup.socket_dir.stat().st_mode) == 0o700
        assert (rundir / "kamailio.cfg").exists()
        assert "kamailio" in str(await sup.rpc("core.version"))
        assert "kamailio" in await sup.kamcmd("core.version")
    finally:
        await sup.stop()
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(sup.socket_dir, ignore_errors=True)
