"""SMS flowing both ways through a standalone simulated modem and `switch run`, counted:
what the fault campaigns share (:mod:`tests.integration.kill9_campaign`,
:mod:`tests.integration.modem_campaign`).

- :class:`Inbound`: a thread has the network deliver SMS (GSM-7, Khmer, three parts out
  of order with a duplicated part, numbered like a handset numbers its long messages)
  from a few senders at random intervals, whether or not a switch is running;
- :class:`Outbound`: a thread is a client of ``POST /api/v1/messages`` as a real one is:
  each message has its own ``Idempotency-Key`` and is posted again (same key, same body)
  after a connection error or a 5xx, until it is answered 202;
- :meth:`SmsTraffic.count_into` reads the figures back through the API and the
  simulator: each inbound SMS in its sender's journey exactly once and the SIM empty;
  each message answered 202 submitted by the modem (a copy beyond the first is a
  duplicate: the at-least-once window between ``+CMGS`` and the commit of the message
  references, docs/gsm.md), ``sent``/``delivered`` in the API, one ``message_out`` in its
  journey; one contact per number.
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
from typing import Any

from drivers.gsm.simulator import Delivery, SimulatorProcess
from tests.integration.switch_env import SwitchEnv

TOKEN = "secret-token-for-tests"
SENDERS = ("+85512000601", "+85512000602", "+85512000603")
RECIPIENTS = ("+85512000701", "+85512000702", "+85512000703")


@dataclass(frozen=True, slots=True)
class Plan:
    """What one fault run does (the kills and their delays are the kill -9 campaign's)."""

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
    faults: int = 0  # kills, unplugs... injected
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


# ------------------------------------------------------------------ counting


def journey(env: SwitchEnv, phone: str) -> list[dict[str, Any]] | None:
    """The journey of the one contact owning ``phone`` (None: not exactly one)."""
    status, found = env.api("GET", "/api/v1/contacts?phone=" + urllib.parse.quote(phone))
    if status != 200 or len(found) != 1:
        return None
    status, page = env.api("GET", f"/api/v1/contacts/{found[0]['id']}/journey?limit=1000")
    assert status == 200, page
    return list(page)


def one_contact(env: SwitchEnv, phone: str) -> bool:
    status, found = env.api("GET", "/api/v1/contacts?phone=" + urllib.parse.quote(phone))
    return status == 200 and len(found) == 1


class SmsTraffic:
    """SMS both ways through a simulated modem: the two threads and their counting."""

    def __init__(self, sim: SimulatorProcess, http: int, rng: random.Random, plan: Plan):
        self.sim = sim
        self.inbound = Inbound(sim, rng, plan.inbound_gap)
        self.outbound = Outbound(http, rng, plan.outbound_gap)

    def start(self) -> None:
        self.inbound.start()
        self.outbound.start()

    def stop(self) -> None:
        """No new messages; wait for the client's last answer."""
        self.inbound.stop.set()
        self.outbound.stop.set()
        self.inbound.join(15)
        self.outbound.join(30)
        assert not self.outbound.is_alive(), "the API client never got its last answer"

    def settle(self, env: SwitchEnv, timeout: float) -> None:
        """Wait until the traffic has drained (SIM empty, every SMS in, every one out),
        at most ``timeout``: what is still missing then is counted as lost."""
        expected = Counter(self.inbound.delivered)

        def drained() -> bool:
            if self.sim.client.state_sync()["storage"]["used"]:
                return False
            if sum((self.received(env) & expected).values()) < len(self.inbound.delivered):
                return False
            for message_id, _, _ in self.outbound.acknowledged.values():
                status, body = env.api("GET", f"/api/v1/messages/{message_id}")
                if status != 200 or body["status"] not in ("sent", "delivered", "failed"):
                    return False
            return True

        with contextlib.suppress(AssertionError):
            wait_until("the traffic drained", drained, timeout)
        time.sleep(1.0)  # a late duplicate would show now

    def received(self, env: SwitchEnv) -> Counter[tuple[str, str]]:
        got: Counter[tuple[str, str]] = Counter()
        for sender in SENDERS:
            for e in journey(env, sender) or []:
                if e["kind"] == "message_in":
                    got[(sender, e["text"])] += 1
        return got

    def count_into(self, env: SwitchEnv, f: Figures) -> None:
        inbound, outbound = self.inbound, self.outbound
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
                for e in journey(env, sender) or []
                if e["kind"] == "message_in" and e.get("incomplete")
            )
        state = self.sim.client.state_sync()
        f.left_on_sim = int(state["storage"]["used"])
        # outbound: the network's view, the API's and the journeys'
        f.outbound_acknowledged = len(outbound.acknowledged)
        f.outbound_posts = outbound.posts
        f.outbound_retried = outbound.retried
        out_journeys = {
            to: Counter(e["text"] for e in journey(env, to) or [] if e["kind"] == "message_out")
            for to in RECIPIENTS
        }
        for message_id, to, text in outbound.acknowledged.values():
            n, resent = network_copies(state["sent"], to, text)
            f.outbound_sent += 1 if n else 0
            f.outbound_lost += 0 if n else 1
            f.outbound_duplicated += max(0, n - 1)
            f.outbound_parts_resent += resent
            if not n and len(f.missing) < 10:
                f.missing.append(f"out {message_id} {to} {text[:20]!r}")
            if out_journeys[to][text] != 1:
                f.outbound_journey_wrong += 1
            status, body = env.api("GET", f"/api/v1/messages/{message_id}")
            if status != 200 or body["status"] not in ("sent", "delivered"):
                f.outbound_not_final += 1
        for phone in (*SENDERS, *RECIPIENTS):
            if not one_contact(env, phone):
                f.contacts_not_one.append(phone)
