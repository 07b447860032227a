"""kill -9 of `switch run` while SMS flow both ways and calls are up, counted.

One campaign: a standalone simulated modem (its SIM and the network's view outlive every
switch that is killed), `switch run` with that modem and SIP (Kamailio, media workers,
two trunks, one agent), and at once:

- **inbound SMS**: a thread has the network deliver SMS (GSM-7, Khmer, three parts out
  of order with a duplicated part) from a few senders at random intervals, whether or
  not a switch is running;
- **outbound SMS**: a thread is a client of ``POST /api/v1/messages`` as a real one is:
  each message has its own ``Idempotency-Key`` and is posted again (same key, same body)
  after a connection error or a 5xx, until it is answered 202;
- **calls**: each round registers the agent's phone (sipp, digest auth), answers it with
  a pjsua2 phone, and places two trunk calls: one bridged to the agent, one waiting in
  the queue.

Once both calls are up the switch is killed (SIGKILL) a random moment later, the phones
are closed (their calls died with the media workers), and the next round starts a new
switch on the same store. After the last round a final switch runs until the traffic
settles, and :func:`count` reads every figure back through the API and the simulator:

- each inbound SMS is in its sender's journey exactly once, and the SIM is empty;
- each message answered 202 was submitted by the modem; a copy beyond the first is a
  duplicate (the at-least-once window between ``+CMGS`` and the commit of the message
  references, docs/gsm.md), and each message's journey has one ``message_out``;
- each phone number has exactly one contact;
- each call that started has exactly one ``call_ended`` with a cause, and each call that
  was up at a kill ended with ``switch_restarted``.

The random choices come from one seeded generator: the same seed gives the same texts,
intervals and kill delays (the moments the kills land still depend on the machine).
Used by ``tests/integration/test_kill9_mixed.py`` and ``benchmarks/fault_kill9_mixed.py``.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from drivers.gsm.simulator import Delivery, SimulatorProcess
from tests.conftest import free_port
from tests.integration.kamailio_harness import free_ports
from tests.integration.switch_env import SwitchEnv
from tests.integration.switchproc import SwitchProcess
from tests.sipphone import Phone

TOKEN = "secret-token-for-tests"
DIDS = ("+85523900101", "+85523900102")
SENDERS = ("+85512000601", "+85512000602", "+85512000603")
RECIPIENTS = ("+85512000701", "+85512000702", "+85512000703")


@dataclass(frozen=True, slots=True)
class Plan:
    """What one campaign does."""

    seed: int = 20261207
    kills: int = 4
    kill_delay: tuple[float, float] = (0.0, 1.5)  # s after both calls are up
    inbound_gap: tuple[float, float] = (0.1, 0.5)  # s between two network deliveries
    outbound_gap: tuple[float, float] = (0.05, 0.4)  # s between two new API messages
    settle_timeout: float = 45.0


@dataclass(slots=True)
class Figures:
    """What a campaign counted (see the module docstring)."""

    seed: int
    kills: int = 0
    inbound_sent: int = 0
    inbound_parts: int = 0
    inbound_received: int = 0
    inbound_lost: int = 0
    inbound_duplicated: int = 0
    inbound_incomplete: int = 0
    left_on_sim: int = 0
    outbound_acknowledged: int = 0
    outbound_posts: int = 0  # POSTs made, retries after a kill included
    outbound_retried: int = 0  # messages whose POST had to be repeated
    outbound_sent: int = 0  # acknowledged messages the modem submitted at least once
    outbound_lost: int = 0
    outbound_duplicated: int = 0  # network copies beyond the first, whole messages
    outbound_parts_resent: int = 0  # parts submitted twice (same concat reference)
    outbound_journey_wrong: int = 0  # messages without exactly one message_out
    outbound_not_final: int = 0  # acknowledged messages not sent/delivered in the API
    calls_started: int = 0
    calls_up_at_kill: int = 0
    calls_ended_once: int = 0
    calls_not_ended: int = 0
    calls_ended_twice: int = 0
    calls_up_not_restarted: int = 0  # up at a kill but not ended with switch_restarted
    contacts_not_one: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # the first few lost, for the record
    causes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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


# ------------------------------------------------------------------ the API client


def api(port: int, method: str, path: str, body: Any = None, key: str | None = None) -> Any:
    """One request; (status, body). Raises OSError / HTTPException when nobody answers."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        text = exc.read()
        return exc.code, (json.loads(text) if text.startswith(b"{") else text)


class Outbound(threading.Thread):
    """A client sending SMS through the API, retrying each with its idempotency key."""

    def __init__(self, port: int, rng: random.Random, gap: tuple[float, float]) -> None:
        super().__init__(name="outbound-client", daemon=True)
        self.port = port
        self.rng = random.Random(rng.random())
        self.gap = gap
        self.stop = threading.Event()
        self.acknowledged: dict[str, tuple[str, str, str]] = {}  # key -> (id, to, text)
        self.posts = 0
        self.retried = 0
        self.refused: list[tuple[str, int, Any]] = []

    def message(self, i: int) -> tuple[str, str]:
        to = RECIPIENTS[i % len(RECIPIENTS)]
        kind = i % 3
        if kind == 0:
            return to, f"out #{i} plain GSM-7"
        if kind == 1:
            return to, f"out #{i} សួស្តី អតិថិជន"
        # three parts, each naming the message: two messages to one number may share
        # a concatenation reference (the switch draws it at random), never a part's text
        return to, f"out #{i} three parts " + f"y{i}." * (310 // len(f"y{i}."))

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            to, text = self.message(i)
            key = f"campaign-{i}"
            tries = 0
            while True:  # a real client: the same key and body until it has an answer
                tries += 1
                self.posts += 1
                try:
                    status, body = api(
                        self.port, "POST", "/api/v1/messages", {"to": to, "text": text}, key
                    )
                except (OSError, http.client.HTTPException):
                    status, body = 0, None
                if status == 202:
                    self.acknowledged[key] = (str(body["id"]), to, text)
                    break
                if status in (0, 502, 503, 504):
                    time.sleep(0.2)
                    continue
                self.refused.append((key, status, body))
                break
            if tries > 1:
                self.retried += 1
            i += 1
            self.stop.wait(self.rng.uniform(*self.gap))


class Inbound(threading.Thread):
    """The network delivering SMS to the simulated modem, switch or no switch."""

    def __init__(self, sim: SimulatorProcess, rng: random.Random, gap: tuple[float, float]):
        super().__init__(name="network", daemon=True)
        self.sim = sim
        self.rng = random.Random(rng.random())
        self.gap = gap
        self.stop = threading.Event()
        self.delivered: list[tuple[str, str]] = []
        self.parts = 0

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            sender = SENDERS[i % len(SENDERS)]
            kind = i % 3
            options: dict[str, Any] = {}
            if kind == 0:
                text = f"in #{i} plain €[]"
            elif kind == 1:
                text = f"in #{i} ខ្ញុំចង់ទិញ"
            else:
                order = [1, 2, 3]
                self.rng.shuffle(order)
                text = f"in #{i} long " + "x" * 400
                # a handset numbers its long messages: the reference is a counter
                options = {"order": order, "duplicate": [2], "reference": (i // 3) % 256}
            answer = self.sim.client.deliver_sms_sync(sender, text, Delivery(**options))
            self.delivered.append((sender, text))
            self.parts += int(answer.get("parts", 1))
            i += 1
            self.stop.wait(self.rng.uniform(*self.gap))


def network_copies(sent: list[dict[str, Any]], to: str, text: str) -> tuple[int, int]:
    """How many whole copies of ``text`` the network got for ``to`` (from the
    simulator's submitted parts), and how many parts it got beyond those copies."""
    groups: dict[tuple[Any, int], dict[int, Counter[str]]] = {}
    for p in sent:
        if p["destination"] == to:
            seqs = groups.setdefault((p["concat_reference"], p["parts"]), {})
            seqs.setdefault(p["part"], Counter())[p["text"]] += 1
    for (_, total), seqs in groups.items():
        numbers = range(1, total + 1)
        if any(n not in seqs for n in numbers):
            continue
        for combo in itertools.product(*(list(seqs[n]) for n in numbers)):
            if "".join(combo) == text:
                counts = [seqs[n][t] for n, t in zip(numbers, combo, strict=True)]
                return min(counts), sum(counts) - min(counts) * total
    return 0, 0


# ------------------------------------------------------------------ the campaign


def wait_until(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except (KeyError, IndexError, TypeError, OSError, http.client.HTTPException) as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")
        time.sleep(0.1)


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
        inbound = Inbound(self.sim, self.rng, self.plan.inbound_gap)
        outbound = Outbound(self.http, self.rng, self.plan.outbound_gap)
        inbound.start()
        outbound.start()
        try:
            for n in range(self.plan.kills):
                self.one_round(n)
            env = self.start_switch()
            inbound.stop.set()
            outbound.stop.set()
            inbound.join(15)
            outbound.join(30)
            assert not outbound.is_alive(), "the API client never got its last answer"
            self.settle(env, inbound, outbound)
            figures = self.count(env, inbound, outbound)
            assert self.sw is not None
            code = self.sw.terminate(timeout=30)
            assert code == 0, self.sw.stderr_text()[-3000:]
            return figures
        finally:
            inbound.stop.set()
            outbound.stop.set()
            if self.sw is not None and self.sw.proc is not None and self.sw.proc.poll() is None:
                self.sw.kill9()
            self.sim.terminate()

    # ---------------------------------------------------------------- counting

    def settle(self, env: SwitchEnv, inbound: Inbound, outbound: Outbound) -> None:
        """Wait until the traffic has drained (SIM empty, every SMS in, every one out),
        at most ``settle_timeout``: what is still missing then is counted as lost."""
        deadline = time.monotonic() + self.plan.settle_timeout
        expected = Counter(inbound.delivered)

        def drained() -> bool:
            if self.sim.client.state_sync()["storage"]["used"]:
                return False
            if sum((self.received(env) & expected).values()) < len(inbound.delivered):
                return False
            for message_id, _, _ in outbound.acknowledged.values():
                status, body = env.api("GET", f"/api/v1/messages/{message_id}")
                if status != 200 or body["status"] not in ("sent", "delivered", "failed"):
                    return False
            return True

        with contextlib.suppress(AssertionError):
            wait_until("the traffic drained", drained, max(0.0, deadline - time.monotonic()))
        time.sleep(1.0)  # a late duplicate would show now

    def journey(self, env: SwitchEnv, phone: str) -> list[dict[str, Any]] | None:
        status, found = env.api("GET", "/api/v1/contacts?phone=" + urllib.parse.quote(phone))
        if status != 200 or len(found) != 1:
            return None
        events: list[dict[str, Any]] = []
        path = f"/api/v1/contacts/{found[0]['id']}/journey?limit=1000"
        status, page = env.api("GET", path)
        assert status == 200, page
        events.extend(page)
        return events

    def received(self, env: SwitchEnv) -> Counter[tuple[str, str]]:
        got: Counter[tuple[str, str]] = Counter()
        for sender in SENDERS:
            for e in self.journey(env, sender) or []:
                if e["kind"] == "message_in":
                    got[(sender, e["text"])] += 1
        return got

    def count(self, env: SwitchEnv, inbound: Inbound, outbound: Outbound) -> Figures:
        f = Figures(seed=self.plan.seed, kills=len(self.rounds))
        # inbound
        expected = Counter(inbound.delivered)
        got = self.received(env)
        f.inbound_sent = len(inbound.delivered)
        f.inbound_parts = inbound.parts
        f.inbound_received = sum((got & expected).values())
        f.inbound_lost = sum((expected - got).values())
        f.inbound_duplicated = sum((got - expected).values())
        f.missing += [f"in {s} {t[:20]!r}" for s, t in list(expected - got)[:5]]
        for sender in SENDERS:
            f.inbound_incomplete += sum(
                1
                for e in self.journey(env, sender) or []
                if e["kind"] == "message_in" and e.get("incomplete")
            )
        state = self.sim.client.state_sync()
        f.left_on_sim = int(state["storage"]["used"])
        # outbound: the network's view
        f.outbound_acknowledged = len(outbound.acknowledged)
        f.outbound_posts = outbound.posts
        f.outbound_retried = outbound.retried
        out_journeys: dict[str, Counter[str]] = {}
        for to in RECIPIENTS:
            out_journeys[to] = Counter(
                e["text"] for e in self.journey(env, to) or [] if e["kind"] == "message_out"
            )
        for message_id, to, text in outbound.acknowledged.values():
            n, resent = network_copies(state["sent"], to, text)
            f.outbound_sent += 1 if n else 0
            f.outbound_lost += 0 if n else 1
            f.outbound_parts_resent += resent
            if not n and len(f.missing) < 10:
                f.missing.append(f"out {message_id} {to} {text[:20]!r}")
            f.outbound_duplicated += max(0, n - 1)
            if out_journeys[to][text] != 1:
                f.outbound_journey_wrong += 1
            status, body = env.api("GET", f"/api/v1/messages/{message_id}")
            if status != 200 or body["status"] not in ("sent", "delivered"):
                f.outbound_not_final += 1
        # calls
        causes: Counter[str] = Counter()
        for r in self.rounds:
            f.calls_up_at_kill += len(r.up)
            for caller in r.callers:
                voice = [e for e in self.journey(env, caller) or [] if e["channel"] == "voice"]
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
        # contacts: one per number
        for phone in (*SENDERS, *RECIPIENTS, *(c for r in self.rounds for c in r.callers)):
            status, found = env.api("GET", "/api/v1/contacts?phone=" + urllib.parse.quote(phone))
            if status != 200 or len(found) != 1:
                f.contacts_not_one.append(phone)
        f.seconds = round(time.monotonic() - self.started, 1)
        return f


def run_campaign(workdir: Path, plan: Plan) -> Figures:
    workdir.mkdir(parents=True, exist_ok=True)
    return Campaign(workdir, plan).run()
