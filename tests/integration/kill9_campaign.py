"""kill -9 of `switch run` while SMS flow both ways and calls are up, counted.

One campaign: a standalone simulated modem (its SIM and the network's view outlive every
switch that is killed), `switch run` with that modem and SIP (Kamailio, media workers,
two trunks, one agent), SMS flowing both ways (:mod:`tests.integration.sms_traffic`: the
network delivering, an API client posting with idempotency keys and retrying across the
kills), and calls: each round registers the agent's phone (sipp, digest auth), answers
it with a pjsua2 phone, and places two trunk calls, one bridged to the agent and one
waiting in the queue.

Once both calls are up the switch is killed (SIGKILL) a random moment later, the phones
are closed (their calls died with the media workers), and the next round starts a new
switch on the same store. After the last round a final switch runs until the traffic
settles, and the figures are read back: the SMS ones (:meth:`SmsTraffic.count_into`),
and each call that started has exactly one ``call_ended`` with a cause, and each call
that was up at a kill ended with ``switch_restarted``.

The random choices come from one seeded generator: the same seed gives the same texts,
intervals and kill delays (the moments the kills land still depend on the machine).
Used by ``tests/integration/test_kill9_mixed.py`` and ``benchmarks/fault_campaigns.py``.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.gsm.simulator import SimulatorProcess
from tests.conftest import free_port
from tests.integration.kamailio_harness import free_ports
from tests.integration.sms_traffic import (
    TOKEN,
    Figures,
    Plan,
    SmsTraffic,
    journey,
    one_contact,
)
from tests.integration.switch_env import SwitchEnv
from tests.integration.switchproc import SwitchProcess
from tests.sipphone import Phone

DIDS = ("+85523900101", "+85523900102")


def switch_config(http: int, link: Path, edge: int, trunks: tuple[int, int], base: int) -> str:
    rtp = free_ports(100)
    return f"""
[store]
path = "data/switch.db"
[numbers]
default_region = "KH"
[http]
listen = "127.0.0.1:{http}"
[api]
tokens = ["{TOKEN}"]
[[modems]]
id = "gsm1"
port = "{link}"
profile = "huawei_e173"
rate_per_minute = 1000
[sms]
default_modem = "gsm1"
reassembly_timeout = 120
[sip]
listen = "127.0.0.1:{edge}"
workers = 3
worker_port_base = {base}
rtp_port_base = {rtp}
ring_timeout = 8
[[trunks]]
id = "provider1"
host = "127.0.0.1"
port = {trunks[0]}
dids = ["{DIDS[0]}"]
[[trunks]]
id = "provider2"
host = "127.0.0.1"
port = {trunks[1]}
dids = ["{DIDS[1]}"]
[[agents]]
id = "alice"
name = "Alice"
sip_user = "1001"
sip_password = "secret-1001"
skills = ["voice"]
# SMS conversations go to the first queue, which needs a skill nobody has: the agent
# stays free for calls (an agent with open conversations takes no call)
[[queues]]
id = "messages"
skills = ["text"]
[[queues]]
id = "voice"
[[routes]]
number = "{DIDS[0]}"
to = "queue:voice"
[[routes]]
number = "{DIDS[1]}"
to = "queue:voice"
"""


# ------------------------------------------------------------------ the campaign


@dataclass
class Round:
    """The calls of one round (one switch, up to its kill)."""

    callers: list[str]
    up: list[dict[str, Any]]  # /api/v1/calls?active=true just before the kill


class Campaign:
    def __init__(self, workdir: Path, plan: Plan) -> None:
        self.workdir = workdir
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.http = free_port()
        self.edge = free_ports(1, tcp=True)
        self.trunks = (free_ports(1), free_ports(1))
        self.sim = SimulatorProcess.spawn(
            workdir / "modem",
            profile="huawei",
            options={"storage_size": 40, "timing": {"report_delay": 0.1, "cmgs_delay": 0.02}},
        )
        self.config = switch_config(self.http, self.sim.link, self.edge, self.trunks, free_ports(3))
        self.sw: SwitchProcess | None = None
        self.rounds: list[Round] = []
        self.started = time.monotonic()

    # ------------------------------------------------------------- one switch

    def start_switch(self) -> SwitchEnv:
        self.sw = SwitchProcess(self.config, self.workdir, self.http, token=TOKEN)
        self.sw.start(timeout=60)
        env = SwitchEnv(self.sw, self.edge, self.trunks[0], self.workdir)
        env.wait_api("/api/v1/modems", lambda ms: ms[0]["state"] == "ready", timeout=30)
        return env

    def calls_up(self, env: SwitchEnv, n: int) -> tuple[list[Phone], list[str]]:
        """Agent registered and answering; a trunk call bridged to her, one queued."""
        phones: list[Phone] = []
        agent_port = free_ports(1)
        env.register("1001", "secret-1001", agent_port)
        env.wait_api(
            "/api/v1/agents",
            lambda agents: any(a["id"] == "alice" and a["status"] == "available" for a in agents),
        )
        phones.append(
            Phone(
                "--port",
                str(agent_port),
                "--rtp-port",
                str(free_ports(4)),
                "--user",
                "1001",
                "--auto-answer",
            )
        )
        callers = []
        for k in range(2):
            caller = f"+8551230{n:02d}{k:02d}"
            callers.append(caller)
            phone = Phone(
                "--port",
                str(self.trunks[k]),
                "--rtp-port",
                str(free_ports(4)),
                "--user",
                caller.lstrip("+"),
                "--call",
                f"sip:{DIDS[k]}@127.0.0.1:{self.edge}",
            )
            phones.append(phone)
            phone.wait_for("state", timeout=20, state="CONFIRMED")
        return phones, callers

    def one_round(self, n: int) -> None:
        env = self.start_switch()
        phones: list[Phone] = []
        try:
            phones, callers = self.calls_up(env, n)
            status, up = env.api("GET", "/api/v1/calls?active=true")
            assert status == 200, up
            time.sleep(self.rng.uniform(*self.plan.kill_delay))
            assert self.sw is not None
            self.sw.kill9()
            self.rounds.append(Round(callers, list(up)))
        finally:
            for phone in phones:
                phone.close()
            if self.sw is not None and self.sw.proc is not None and self.sw.proc.poll() is None:
                self.sw.kill9()

    def run(self) -> Figures:
        traffic = SmsTraffic(self.sim, self.http, self.rng, self.plan)
        traffic.start()
        try:
            for n in range(self.plan.kills):
                self.one_round(n)
            env = self.start_switch()
            traffic.stop()
            traffic.settle(env, self.plan.settle_timeout)
            figures = self.count(env, traffic)
            assert self.sw is not None
            code = self.sw.terminate(timeout=30)
            assert code == 0, self.sw.stderr_text()[-3000:]
            return figures
        finally:
            traffic.inbound.stop.set()
            traffic.outbound.stop.set()
            if self.sw is not None and self.sw.proc is not None and self.sw.proc.poll() is None:
                self.sw.kill9()
            self.sim.terminate()

    # ---------------------------------------------------------------- counting

    def count(self, env: SwitchEnv, traffic: SmsTraffic) -> Figures:
        f = Figures(seed=self.plan.seed, faults=len(self.rounds))
        traffic.count_into(env, f)
        causes: Counter[str] = Counter()
        for r in self.rounds:
            f.calls_up_at_kill += len(r.up)
            for caller in r.callers:
                voice = [e for e in journey(env, caller) or [] if e["channel"] == "voice"]
                started = sum(1 for e in voice if e["kind"] == "call_started")
                ended = [e for e in voice if e["kind"] == "call_ended"]
                f.calls_started += started
                f.calls_ended_once += min(started, len(ended))
                f.calls_not_ended += max(0, started - len(ended))
                f.calls_ended_twice += max(0, len(ended) - started)
                causes.update(str(e.get("cause")) for e in ended)
            for call in r.up:
                status, record = env.api("GET", f"/api/v1/calls/{call['id']}")
                if status != 200 or record.get("cause") != "switch_restarted":
                    f.calls_up_not_restarted += 1
        f.causes = dict(causes)
        for phone in (c for r in self.rounds for c in r.callers):
            if not one_contact(env, phone):
                f.contacts_not_one.append(phone)
        f.seconds = round(time.monotonic() - self.started, 1)
        return f


def run_campaign(workdir: Path, plan: Plan) -> Figures:
    workdir.mkdir(parents=True, exist_ok=True)
    return Campaign(workdir, plan).run()
