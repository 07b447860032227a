"""kill -9 of `switch run` with the SIP edge up: nothing of it keeps the SIP port.

Kamailio dies with the switch (PR_SET_PDEATHSIG); the children it forked, and anything
else left on the run directory's config, are killed by the next start, whose Kamailio
then owns the port and answers.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from drivers.sip.edge.probe import sip_options
from drivers.sip.edge.supervisor import kamailio_processes
from tests.conftest import free_port
from tests.integration.kamailio_harness import free_ports, needs_kamailio_and_sipp
from tests.integration.switchproc import SwitchProcess

pytestmark = [pytest.mark.integration, needs_kamailio_and_sipp, pytest.mark.faults]


def config(http: int, edge: int, base: int, rtp: int) -> str:
    return f"""
[store]
path = "data/switch.db"
[http]
listen = "127.0.0.1:{http}"
[api]
tokens = ["secret-token-for-tests"]
[sip]
listen = "127.0.0.1:{edge}"
workers = 1
worker_port_base = {base}
rtp_port_base = {rtp}
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/cmdline").read_bytes() != b""  # a zombie is dead


def wait_for(what: str, check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(what)
        time.sleep(0.05)


def test_kill9_leaves_no_kamailio_owning_the_port_after_restart(tmp_path: Path) -> None:
    http, edge = free_port(), free_ports(1, tcp=True)
    base, rtp = free_ports(1), free_ports(50)
    cfg = tmp_path / "data" / "sip" / "kamailio.cfg"
    sw = SwitchProcess(config(http, edge, base, rtp), tmp_path, http).start(timeout=40)
    first = kamailio_processes(cfg.resolve())
    assert len(first) > 1, "Kamailio and its forked children"
    main = min(first)
    sw.kill9()
    wait_for("the main Kamailio dies with the switch", lambda: not alive(main))

    sw = SwitchProcess(config(http, edge, base, rtp), tmp_path, http).start(timeout=40)
    try:
        now = kamailio_processes(cfg.resolve())
        assert now and not set(now) & set(first), (first, now)
        assert asyncio.run(sip_options("127.0.0.1", edge, timeout=2.0)) is not None
    finally:
        assert sw.terminate(timeout=30) == 0, sw.stderr_text()[-3000:]
    wait_for("no Kamailio after a clean stop", lambda: not kamailio_processes(cfg.resolve()))
