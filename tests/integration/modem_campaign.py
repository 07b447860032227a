"""The modem taken away while SMS flow both ways, counted: unplugged (its pty closed,
then back), or silent (it stops answering, then answers again).

A standalone simulated modem, `switch run` with it, and the traffic of
:mod:`tests.integration.sms_traffic`. ``faults`` times the modem goes away for a random
while; each time the campaign waits until the switch says so (the modem leaves
``ready`` in ``GET /api/v1/modems``, ``GET /api/v1/health`` is ``degraded`` with a line
naming it) and keeps what the health view said; then the fault clears and the modem
must come back by itself. The figures are :class:`Figures` (SMS ones).

A silent modem is noticed after two unanswered commands in a row. The driver's own
health poll gets there in 25-40 s; here a technician's raw ``AT`` (the same code path)
makes it seconds. Used by ``tests/integration/test_modem_unplug_traffic_e2e.py`` and
``benchmarks/fault_campaigns.py``.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any, Literal

from drivers.gsm.engine import LONG_TIMEOUT
from drivers.gsm.simulator import SimulatorProcess
from tests.conftest import free_port
from tests.integration.sms_traffic import TOKEN, Figures, Plan, SmsTraffic, wait_until
from tests.integration.switch_env import SwitchEnv
from tests.integration.switchproc import SwitchProcess

TECH = "tech-token-for-tests"
Fault = Literal["unplug", "silent"]


def switch_config(http: int, link: Path) -> str:
    return f"""
[store]
path = "data/switch.db"
[numbers]
default_region = "KH"
[http]
listen = "127.0.0.1:{http}"
[api]
tokens = ["{TOKEN}"]
technician_tokens = ["{TECH}"]
[[modems]]
id = "gsm1"
port = "{link}"
profile = "huawei_e173"
rate_per_minute = 1000
[sms]
default_modem = "gsm1"
reassembly_timeout = 120
"""


def modem(env: SwitchEnv) -> dict[str, Any]:
    status, body = env.api("GET", "/api/v1/modems")
    assert status == 200, body
    return dict(body[0])


def says_modem_is_down(env: SwitchEnv) -> dict[str, Any] | None:
    """The health view while gsm1 is not ready, once it names the modem."""
    status, health = env.api("GET", "/api/v1/health")
    assert status == 200, health
    lines = [p for p in health["problems"] if p.startswith("modem gsm1: ")]
    return dict(health) if health["status"] == "degraded" and lines else None


class ModemCampaign:
    def __init__(self, workdir: Path, fault: Fault, seed: int, faults: int = 3) -> None:
        self.workdir = workdir
        self.fault = fault
        self.seed = seed
        self.faults = faults
        self.seen: list[dict[str, Any]] = []  # the health view at each fault
        self.health_after: dict[str, Any] = {}

    def take_away(self, env: SwitchEnv, sim: SimulatorProcess) -> None:
        if self.fault == "unplug":
            sim.client.request_sync("unplug")
            return
        sim.client.request_sync("set_unresponsive", value=True)
        token, env.sw.token = env.sw.token, TECH
        try:
            for _ in range(2):
                env.sw.post("/api/v1/modems/gsm1/at", {"command": "AT"})
        finally:
            env.sw.token = token

    def give_back(self, sim: SimulatorProcess) -> None:
        if self.fault == "unplug":
            sim.client.request_sync("replug")
        else:
            sim.client.request_sync("set_unresponsive", value=False)

    def run(self) -> Figures:
        started = time.monotonic()
        sim = SimulatorProcess.spawn(
            self.workdir / "modem",
            profile="huawei",
            options={"storage_size": 40, "timing": {"report_delay": 0.1, "cmgs_delay": 0.02}},
        )
        http = free_port()
        sw = SwitchProcess(switch_config(http, sim.link), self.workdir, http, token=TOKEN)
        try:
            sw.start(timeout=30)
            env = SwitchEnv(sw, 0, 0, self.workdir)
            env.wait_api("/api/v1/modems", lambda ms: ms[0]["state"] == "ready", timeout=30)
            figures = self.traffic(env, sim)
            assert sw.terminate(timeout=30) == 0, sw.stderr_text()[-3000:]
            figures.seconds = round(time.monotonic() - started, 1)
            return figures
        finally:
            if sw.proc is not None and sw.proc.poll() is None:
                sw.kill9()
            sim.terminate()

    def traffic(self, env: SwitchEnv, sim: SimulatorProcess) -> Figures:
        rng = random.Random(self.seed)
        # a modem back from a silence sends its backlog at the network's pace: the drain
        # may take longer than a kill -9's (what is still queued then counts as lost)
        plan = Plan(seed=self.seed, settle_timeout=120.0)
        traffic = SmsTraffic(sim, env.sw.port, rng, plan)
        traffic.start()
        try:
            for _ in range(self.faults):
                time.sleep(rng.uniform(0.5, 1.5))
                self.take_away(env, sim)
                # A modem silent from the moment it took an SMS's PDU is noticed when the
                # network's answer is overdue (LONG_TIMEOUT); before that, in seconds.
                wait_until(
                    "gsm1 leaves ready",
                    lambda: modem(env)["state"] != "ready",
                    LONG_TIMEOUT + 30,
                )
                self.seen.append(
                    wait_until("the health says so", lambda: says_modem_is_down(env), 10)
                )
                time.sleep(rng.uniform(0.5, 2.0))  # the traffic goes on meanwhile
                self.give_back(sim)
                wait_until("gsm1 ready again", lambda: modem(env)["state"] == "ready", 40)
            traffic.stop()
        finally:
            traffic.inbound.stop.set()
            traffic.outbound.stop.set()
        traffic.settle(env, plan.settle_timeout)
        f = Figures(seed=self.seed, faults=self.faults)
        traffic.count_into(env, f)
        _, self.health_after = env.api("GET", "/api/v1/health")
        return f
