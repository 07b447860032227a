"""`switch run` with [mqtt] against a real mosquitto, seen by a fleet operator.

One broker (users, ACL and TLS made by the test), one standalone simulated modem, one
switch: telemetry arrives and says what the box has; retained ``online``; commands are
answered, audited, and refused when the box's allow-list or the broker's ACL says no; an
unplugged modem is reported lost, then recovered; a broker restart is survived. A kill
-9 of the switch leaves ``offline`` (the last will) as the retained status.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from drivers.gsm.simulator import SimulatorProcess
from tests.conftest import free_port
from tests.integration.mosquitto import Broker, Watcher, password
from tests.integration.switchproc import SwitchProcess

pytestmark = pytest.mark.integration

BOX = "shop-12"
ROOT = f"edge/{BOX}"


def switch_config(broker: Broker, http: int, modem_link: str, *, tls: bool = False) -> str:
    url = (
        f'url = "mqtts://127.0.0.1:{broker.tls_port}"\ntls_ca = "{broker.ca}"'
        if tls
        else f'url = "mqtt://127.0.0.1:{broker.port}"'
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
port = "{modem_link}"
profile = "huawei_e173"
[mqtt]
{url}
box_id = "{BOX}"
username = "box"
password = "{password("box")}"
telemetry_interval = 2
commands = ["modem.diagnose", "backup.now", "config.reload"]
[backup]
dir = "data/backups"
keep = 2
"""


@dataclass
class Env:
    broker: Broker
    ops: Watcher
    sw: SwitchProcess
    sim: SimulatorProcess
    tmp: Path

    def command(self, name: str, command_id: str, args: Any = None) -> dict[str, Any]:
        body: dict[str, Any] = {"id": command_id}
        if args is not None:
            body["args"] = args
        self.ops.publish(f"{ROOT}/cmd/{name}", json.dumps(body).encode())
        _, payload, _ = self.ops.wait_for(
            lambda t, p, r: t == f"{ROOT}/reply/{command_id}", what=f"reply {command_id}"
        )
        return dict(json.loads(payload))

    def telemetry(self, check: Any = lambda r: True, what: str = "telemetry") -> dict[str, Any]:
        _, payload, _ = self.ops.wait_for(
            lambda t, p, r: t == f"{ROOT}/telemetry" and check(json.loads(p)), what=what
        )
        return dict(json.loads(payload))

    def event(self, kind: str) -> dict[str, Any]:
        _, payload, _ = self.ops.wait_for(
            lambda t, p, r: t == f"{ROOT}/events" and json.loads(p)["kind"] == kind,
            timeout=60,
            what=f"event {kind}",
        )
        return dict(json.loads(payload))

    def audit(self) -> list[dict[str, Any]]:
        return [e for e in self.sw.log_events() if e.get("event") == "audit"]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("fleet")
    broker = Broker(tmp).start()
    sim = SimulatorProcess.spawn(tmp / "m1", profile="huawei", options={"csq": 20})
    ops = Watcher(broker)
    http = free_port()
    sw = SwitchProcess(switch_config(broker, http, str(sim.link)), tmp, http)
    try:
        sw.start()
        yield Env(broker, ops, sw, sim, tmp)
        assert sw.terminate() == 0, sw.stderr_text()[-3000:]
        ops.wait_for(lambda t, p, r: t == f"{ROOT}/status" and p == b"offline", what="offline")
    finally:
        if sw.proc is not None and sw.proc.poll() is None:
            sw.kill9()
        ops.close()
        sim.terminate()
        broker.stop()


def test_status_is_online_and_retained(env: Env) -> None:
    env.ops.wait_for(lambda t, p, r: t == f"{ROOT}/status" and p == b"online", what="online")
    late = Watcher(env.broker, user="viewer", topics=(f"{ROOT}/status",))
    try:  # a client that subscribes later gets the retained status
        _, payload, retained = late.wait_for(lambda t, p, r: t == f"{ROOT}/status")
        assert (payload, retained) == (b"online", True)
    finally:
        late.close()


def test_telemetry_says_what_the_box_has(env: Env) -> None:
    report = env.telemetry(
        lambda r: r["modems"] and r["modems"][0]["state"] == "ready", "a ready modem"
    )
    modem = report["modems"][0]
    assert modem["id"] == "gsm1" and modem["registered"] is True
    assert modem["signal"] == -113 + 2 * 20 and modem["sms_queued"] == 0
    assert "operator" in modem
    assert report["box_id"] == BOX and report["version"]
    assert report["queues"] == [] and report["trunks"] == []
    assert set(report["agents"]) >= {"offline", "available", "busy"}
    assert report["disk"]["free_bytes"] > 0 and report["memory"]["rss_bytes"] > 0
    assert report["mqtt"]["dropped"] == 0


def test_an_allowed_command_is_answered_and_audited(env: Env) -> None:
    reply = env.command("modem.diagnose", "diag-1", {"modem": "gsm1"})
    assert reply["ok"] is True and reply["id"] == "diag-1"
    assert {c["name"] for c in reply["result"]["checks"]} and reply["result"]["modem"] == "gsm1"
    reply = env.command("backup.now", "backup-1")
    assert reply["ok"] is True, reply
    assert (env.tmp / "data" / "backups" / reply["result"]["file"]).is_file()
    entries = {e["command_id"]: e for e in env.audit()}
    assert entries["diag-1"]["outcome"] == "ok" and entries["diag-1"]["action"] == "modem.diagnose"
    assert entries["backup-1"]["source"] == "mqtt"


def test_refused_commands_get_an_error_reply(env: Env) -> None:
    reply = env.command("sms.send", "sms-1", {"to": "+85512345678", "text": "hi"})
    assert reply == {
        "id": "sms-1",
        "ok": False,
        "error": {
            "code": "forbidden",
            "message": "sms.send is not allowed on this box (its [mqtt] commands)",
        },
    }
    assert env.command("reboot.now", "x-1")["error"]["code"] == "unknown_command"
    bad = env.command("modem.diagnose", "diag-bad", {"modem": "gsm1", "rm": 1})
    assert bad["error"]["code"] == "invalid_args" and "rm" in bad["error"]["message"]
    missing = env.command("modem.diagnose", "diag-404", {"modem": "nope"})
    assert missing["error"]["code"] == "not_found"
    env.ops.publish(f"{ROOT}/cmd/modem.diagnose", b"{not json")
    event = env.event("command_refused")
    assert event["code"] == "malformed"
    outcomes = {e["command_id"]: e["outcome"] for e in env.audit()}
    assert outcomes["sms-1"] == "forbidden" and outcomes["x-1"] == "unknown_command"
    assert env.sw.get("/healthz")[0] == 200  # nothing crashed


def test_a_command_outside_the_broker_acl_never_reaches_the_box(env: Env) -> None:
    viewer = Watcher(env.broker, user="viewer", topics=(f"{ROOT}/reply/#",))
    try:
        viewer.publish(f"{ROOT}/cmd/modem.diagnose", b'{"id":"viewer-1","args":{"modem":"gsm1"}}')
        # the operator's command after it is answered; the viewer's was dropped by the ACL
        assert env.command("modem.diagnose", "after-viewer", {"modem": "gsm1"})["ok"] is True
    finally:
        viewer.close()
    ids = {e["command_id"] for e in env.audit()}
    assert "after-viewer" in ids and "viewer-1" not in ids


def test_an_unplugged_modem_is_reported_lost_then_recovered(env: Env) -> None:
    env.sim.client.request_sync("unplug")
    lost = env.event("modem_lost")
    assert lost["modem"] == "gsm1" and lost["state"] in ("disconnected", "failed")
    env.telemetry(lambda r: r["modems"][0]["state"] != "ready", "telemetry with the modem down")
    env.sim.client.request_sync("replug")
    recovered = env.event("modem_recovered")
    assert recovered["modem"] == "gsm1" and recovered["state"] == "ready"


def test_a_broker_restart_is_survived(env: Env) -> None:
    env.broker.restart()
    env.ops.wait_for(lambda t, p, r: t == f"{ROOT}/status" and p == b"online", what="online again")
    report = env.telemetry(lambda r: r["mqtt"]["connects"] >= 2, "telemetry after the restart")
    assert report["modems"][0]["id"] == "gsm1"
    assert env.command("modem.diagnose", "after-restart", {"modem": "gsm1"})["ok"] is True
    assert env.sw.proc is not None and env.sw.proc.poll() is None
    assert env.sw.get("/healthz")[0] == 200


def test_kill9_leaves_the_last_will_offline_over_tls(tmp_path: Path) -> None:
    broker = Broker(tmp_path).start()
    sim = SimulatorProcess.spawn(tmp_path / "m", profile="huawei")
    http = free_port()
    sw = SwitchProcess(switch_config(broker, http, str(sim.link), tls=True), tmp_path, http)
    watcher = Watcher(broker, user="viewer", topics=(f"{ROOT}/status",))
    try:
        sw.start()
        watcher.wait_for(lambda t, p, r: p == b"online", what="online over TLS")
        sw.kill9()
        watcher.wait_for(lambda t, p, r: p == b"offline", what="the last will")
        late = Watcher(broker, user="viewer", topics=(f"{ROOT}/status",))
        try:  # and it stays, retained, for whoever looks later
            _, payload, retained = late.wait_for(lambda t, p, r: True)
            assert (payload, retained) == (b"offline", True)
        finally:
            late.close()
    finally:
        if sw.proc is not None and sw.proc.poll() is None:
            sw.kill9()
        watcher.close()
        sim.terminate()
        broker.stop()


def test_config_reload_is_answered_evented_and_refuses_an_invalid_file(env: Env) -> None:
    original = env.sw.config.read_text()
    try:
        env.sw.config.write_text(original + '[[queues]]\nid = "support"\n')
        reply = env.command("config.reload", "reload-1")
        assert reply["ok"] is True, reply
        assert reply["result"]["applied"] == ["queues[support] (added)"]
        assert reply["result"]["needs_restart"] == []
        event = env.event("config_reloaded")
        assert event["applied"] == ["queues[support] (added)"]

        env.sw.config.write_text(original + '[[queues]]\nid = "support"\nmax_wait = -1\n')
        reply = env.command("config.reload", "reload-2")
        assert reply["ok"] is False and reply["error"]["code"] == "invalid_config", reply
        assert "queues[0].max_wait" in reply["error"]["message"]
        refused = env.event("config_reload_refused")
        assert refused["errors"][0]["key"] == "queues[0].max_wait"
        assert env.sw.get("/api/v1/queues/support")[0] == 200  # the running config stays
        outcomes = {e["command_id"]: e["outcome"] for e in env.audit() if e.get("command_id")}
        assert outcomes["reload-1"] == "ok" and outcomes["reload-2"] == "invalid_config"
    finally:
        env.sw.config.write_text(original)
