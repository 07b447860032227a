"""Fleet reports of the SIP side: a registering trunk's state in the telemetry (a sipp
registrar plays the provider), and a media worker killed -9 reported as crashed."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.integration.kamailio_harness import SIPP, SIPP_DIR, free_ports
from tests.integration.mosquitto import Broker, Watcher, password
from tests.integration.switchproc import SwitchProcess

pytestmark = pytest.mark.integration

ROOT = "edge/shop-12"


@pytest.fixture
def registrar(tmp_path: Path) -> Iterator[int]:
    port = free_ports(1)
    proc = subprocess.Popen(
        [SIPP, "-sf", str(SIPP_DIR / "provider_registrar.xml"), "-i", "127.0.0.1",
         "-p", str(port), "-m", "1", "-mp", str(free_ports(4)), "-timeout", "60",
         "-nostdin"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    yield port
    if proc.poll() is None:
        proc.terminate()
    proc.wait(10)


def test_trunk_registration_and_a_worker_crash_reach_the_fleet(
    tmp_path: Path, registrar: int
) -> None:
    broker = Broker(tmp_path).start()
    ops = Watcher(broker)
    http, edge, base, rtp = free_port(), free_ports(1, tcp=True), free_ports(1), free_ports(60)
    config = f"""
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
[[trunks]]
id = "prov"
host = "127.0.0.1"
port = {registrar}
username = "edge-user"
password = "secret-pw"
register = true
[[trunks]]
id = "peer"
host = "127.0.0.1"
port = {registrar + 1}
[[agents]]
id = "alice"
sip_user = "1001"
sip_password = "secret-1001"
[mqtt]
url = "mqtt://127.0.0.1:{broker.port}"
box_id = "shop-12"
username = "box"
password = "{password("box")}"
telemetry_interval = 2
"""
    sw = SwitchProcess(config, tmp_path, http)
    try:
        sw.start(timeout=40)
        _, payload, _ = ops.wait_for(
            lambda t, p, r: (
                t == f"{ROOT}/telemetry"
                and json.loads(p)["trunks"][0]["registration"] == "registered"
            ),
            timeout=40,
            what="the trunk registered",
        )
        report = json.loads(payload)
        assert report["trunks"] == [
            {"id": "prov", "register": True, "registration": "registered"},
            {"id": "peer", "register": False, "registration": "peering"},
        ]
        assert report["agents"]["offline"] == 1
        status, listed = sw.request("GET", "/api/v1/trunks")  # the console's words come from it
        assert status == 200, listed
        assert {t["id"]: t["registration"] for t in listed} == {
            "prov": "registered",
            "peer": "peering",
        }
        pids = subprocess.run(
            ["pgrep", "-f", f"drivers.sip.media.worker .*--sip-port {base} "],
            capture_output=True,
            text=True,
        ).stdout.split()
        assert pids, "no media worker"
        subprocess.run(["kill", "-9", pids[0]], check=True)
        _, payload, _ = ops.wait_for(
            lambda t, p, r: t == f"{ROOT}/events" and json.loads(p)["kind"] == "worker_crashed",
            timeout=40,
            what="worker_crashed",
        )
        assert json.loads(payload)["worker"] == 0
        assert sw.terminate(timeout=30) == 0, sw.stderr_text()[-3000:]
    finally:
        if sw.proc is not None and sw.proc.poll() is None:
            sw.kill9()
        ops.close()
        broker.stop()
