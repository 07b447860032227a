"""A discrete-event simulation of a contact center's day, for tests: no sleeping, no I/O.

It drives the real routing engine (:func:`actors.routing.decide`) and the agents' real
state machine (:mod:`actors.agent_state`) with a fake clock (a heap of timed events)
and simulated people drawn from a seeded RNG: customers arrive (voice, SMS, chat), wait
with a patience, are rung or assigned, talk or write for a handle time, sometimes answer
a survey; agents sign in and out, take breaks, now and then do not answer a ring (or
miss it, which puts them on break). The router restarts a few times a day: its state is
rebuilt from the queues' logs (:func:`actors.queue.replay`, as the router actor does)
and every agent reports again.

What the switch would write is written to :attr:`DaySim.log` as store events (queue
logs, journey entries, the agents' presence through the real :class:`PresenceLog`);
what happened is also kept apart, in the simulation's own records (:class:`Visit`,
per-agent time), so a test can compute the statistics both ways and compare.

Voice callers of the queue that offers callbacks may press 1 instead of hanging up, or
after the treatment's offer: their callbacks (:mod:`tests.unit.daysim_callbacks`) run
through the real callback state machine, keep their caller's place, ring an agent, then
dial the customer, with retries.

The owner of a voice item behaves like the call actor: an offer that comes while the
call already rings an agent is ignored (the router's offer timeout declines it); a ring
the agent cannot take is declined at once.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from actors.agent import AgentProfile
from actors.agent_state import AgentState, apply, can, close_chat, open_chat, set_intent
from actors.kpis import BUSY_STATUSES
from actors.queue import QueueSettings, QueueState, WorkItem, replay
from actors.routing import (
    Accepted,
    AgentUpdate,
    Declined,
    Enqueue,
    Offer,
    Persist,
    QueueJourney,
    RouterMessage,
    RouterState,
    RouterTimer,
    RoutingSettings,
    SetRouterTimer,
    Treat,
    Withdraw,
    decide,
)
from actors.store import Committed, StoredEvent, Write
from switch.center.presence import PresenceLog
from switch.center.queues import agent_view
from tests.unit.daysim_callbacks import PRESS_ONE, CallbackDesk

T0 = 1_777_000_000.0  # the day's start
RING_TIMEOUT = 20.0
OFFER_TIMEOUT = 50.0  # the router's: ring timeout + 30
SNAPSHOT_EVERY = 100
QUEUES = (
    QueueSettings("support", max_wait=300, callback=True, service_level=20, wrap_up=10),
    QueueSettings("sales", frozenset({"sales"}), max_wait=240, service_level=30, wrap_up=15),
    QueueSettings("chat", max_wait=900, service_level=60, wrap_up=0),
)
KIND_QUEUES = {"voice": ("support", "sales"), "sms": ("support", "chat"), "chat": ("chat",)}


@dataclass
class Visit:
    """One customer's stay in a queue, as the simulation saw it."""

    item: str
    contact: str
    kind: str
    queue: str
    arrived: float
    patience: float
    handle: float
    outcome: str | None = None  # answered | abandoned | treated | withdrawn (a callback)
    outcome_at: float | None = None
    agent: str | None = None
    ringing: str | None = None
    talk_end: float | None = None
    wrap_end: float | None = None
    score: int | None = None
    offers: list[tuple[str, float]] = field(default_factory=list)  # (agent, when)
    entered: float | None = None  # when it entered the queue, when not ``arrived``


class _Store:
    """Enough of a store for :class:`PresenceLog`: writes go straight to the log."""

    def __init__(self, sim: DaySim) -> None:
        self.sim = sim

    def submit(self, write: Write) -> Future[Committed]:
        for ev in write.events:
            self.sim.record(ev.actor, ev.kind, ev.at, dict(ev.data))
        done: Future[Committed] = Future()
        done.set_result(Committed(()))
        return done


class DaySim:
    def __init__(
        self, seed: int, contacts: int = 5000, agents: int = 20, hours: float = 10.0
    ) -> None:
        self.rng = random.Random(seed)
        self.now = T0
        self.heap: list[tuple[float, int, Callable[[], None]]] = []
        self.order = itertools.count()
        self.log: list[StoredEvent] = []
        self.snapshots: dict[str, tuple[int, dict[str, Any]]] = {}
        self.changes: dict[str, int] = {}
        self.settings = RoutingSettings(retry=2.0, sticky_wait=20.0)
        self.state = self._fresh_state()
        self.mail: list[RouterMessage] = []
        self.visits: dict[str, Visit] = {}
        self.hours = hours
        self.profiles = {
            f"a{n:02d}": AgentProfile(frozenset({"sales"} if n < 8 else set()), max_chats=3)
            for n in range(agents)
        }
        self.agents = {a: AgentState(a) for a in self.profiles}
        self.presence = PresenceLog(_Store(self))  # type: ignore[arg-type]
        self.time_in: dict[str, dict[str, float]] = {a: {} for a in self.profiles}
        self.last_change: dict[str, tuple[str, float]] = {}
        self.offer_since: dict[str, float] = {}
        self.wrapping: dict[str, Visit] = {}
        self.wrap_token: dict[str, int] = {}
        self.restarts = 0
        self.violations: list[str] = []
        self.offer_hook: Callable[[DaySim, str, str], None] | None = None
        self.steps = 0
        self.desk = CallbackDesk(self)
        self._plan_agents()
        self._plan_customers(contacts)
        for _ in range(5):
            self.at(T0 + self.rng.uniform(0.5, hours) * 3600, self.restart)

    # ------------------------------------------------------------- the clock

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self.heap, (when, next(self.order), action))

    def run(self, check: Callable[[DaySim], None] | None = None) -> None:
        while self.heap:
            when, _, action = heapq.heappop(self.heap)
            self.now = max(self.now, when)
            action()
            self.pump()
            self.steps += 1
            if check is not None:
                check(self)
        for agent, state in self.agents.items():
            self._account(agent, state.status)

    def record(self, actor: str, kind: str, at: float, data: dict[str, Any]) -> None:
        self.log.append(StoredEvent(len(self.log) + 1, actor, kind, at, data))

    # ------------------------------------------------------------ the router

    def _fresh_state(self) -> RouterState:
        return RouterState({q.id: QueueState(q) for q in QUEUES}, self.settings)

    def send(self, message: RouterMessage) -> None:
        self.mail.append(message)

    def pump(self) -> None:
        while self.mail:
            message = self.mail.pop(0)
            self.state, effects = decide(self.state, message, self.now)
            for effect in effects:
                self._effect(effect)

    def _effect(self, effect: Any) -> None:
        match effect:
            case Offer(item_id=item, agent=agent):
                if self.offer_hook is not None:
                    self.offer_hook(self, item, agent)
                self.offer_since[agent] = self.now
                self.at(self.now + OFFER_TIMEOUT, lambda: self._offer_timeout(item, agent))
                if item in self.desk.callbacks:
                    self.desk.offered(item, agent)
                else:
                    self._offered(self.visits[item], agent)
            case Treat(item_id=item, callback=callback):
                visit = self.visits.get(item)
                if visit is None or visit.outcome is not None:
                    self.violations.append(f"{item} treated after it left ({self.now})")
                    return
                self._gone(visit, "treated")
                if callback:
                    self.desk.treated(visit)
            case Persist(queue=queue, kind=kind, data=data):
                self._persist(queue, kind, data)
            case QueueJourney(contact_id=contact, kind=kind, queue=queue, item_id=item):
                entry: dict[str, Any] = {"channel": effect.channel, "via": queue, "item": item}
                if effect.agent is not None:
                    entry["agent"] = effect.agent
                if effect.waited is not None:
                    entry["waited"] = effect.waited
                self.record(f"contact:{contact}", kind, self.now, entry)
            case SetRouterTimer(timer=timer, delay=delay):
                self.at(self.now + delay, lambda: self.send(timer))

    def _persist(self, queue: str, kind: str, data: dict[str, Any]) -> None:
        self.record(f"queue:{queue}", kind, self.now, dict(data))
        count = self.changes.get(queue, 0) + 1
        self.changes[queue] = count
        if count % SNAPSHOT_EVERY == 0:
            q = self.state.queues[queue]
            items = [i.to_json() for i in q.in_order()]
            self.snapshots[queue] = (len(self.log), {"items": items, "next_seq": q.next_seq})

    def _offer_timeout(self, item_id: str, agent: str) -> None:
        item = self.state.item(item_id)
        if item is not None and item.state == "offered" and item.agent == agent:
            self.send(Declined(item_id, agent, "timeout"))

    def restart(self) -> None:
        """The router's actor restarts: its state is rebuilt from the queues' logs."""
        self.restarts += 1
        self.pump()
        state = self._fresh_state()
        for queue_id, queue in state.queues.items():
            snap_seq, snapshot = self.snapshots.get(queue_id, (0, None))
            events = (
                (e.kind, e.data)
                for e in self.log[snap_seq:]
                if e.actor == f"queue:{queue_id}" and e.kind in ("item_queued", "item_left")
            )
            items, queue.next_seq = replay(snapshot, events)
            for data in items:
                item = queue.add(WorkItem.from_json(data))
                state.where[item.id] = queue_id
                if not item.waits_forever and queue.settings.max_wait is not None:
                    delay = max(0.0, item.enqueued_at + queue.settings.max_wait - self.now)
                    state.timer_seq += 1
                    timer = RouterTimer("max_wait", item.id, state.timer_seq)
                    self.at(self.now + delay, lambda t=timer: self.send(t))  # type: ignore[misc]
        self.state = state
        self.offer_since.clear()
        for agent in self.agents:
            self._report(agent)

    # ------------------------------------------------------------ customers

    def _plan_customers(self, n: int) -> None:
        pool = [f"c{n:05d}" for n in range(int(n * 0.7))]  # some come back
        span = self.hours * 3600 - 1800
        for number in range(n):
            kind = self.rng.choices(("voice", "sms", "chat"), (0.6, 0.2, 0.2))[0]
            if self.rng.random() < 0.2:  # the lunch-time peak
                arrived = T0 + 4 * 3600 + self.rng.uniform(0, 3600)
            else:
                arrived = T0 + 600 + self.rng.uniform(0, span)
            if kind != "voice":
                patience = self.rng.expovariate(1 / 1200)
            elif self.rng.random() < 0.2:
                patience = self.rng.uniform(200, 1000)  # holds on, whatever it takes
            else:
                patience = self.rng.expovariate(1 / 90)
            visit = Visit(
                item=f"i{number:05d}",
                contact=self.rng.choice(pool),
                kind=kind,
                queue=self.rng.choice(KIND_QUEUES[kind]),
                arrived=arrived,
                patience=patience,
                handle=self.rng.lognormvariate(4.5, 0.5)
                if kind == "voice"
                else self.rng.uniform(60, 400),
            )
            self.visits[visit.item] = visit
            self.at(arrived, lambda v=visit: self._arrive(v))  # type: ignore[misc]

    def _arrive(self, visit: Visit) -> None:
        item = WorkItem(
            visit.item,
            f"owner:{visit.item}",
            visit.kind,  # type: ignore[arg-type]
            visit.contact,
            visit.queue,
            self.now,
        )
        self.send(Enqueue(item))
        self.at(visit.arrived + visit.patience, lambda: self._abandon(visit))

    def _abandon(self, visit: Visit) -> None:
        if visit.outcome is not None:
            return
        if (
            visit.kind == "voice"
            and visit.ringing is None  # (1 is no choice once an agent rings)
            and self.state.queues[visit.queue].settings.callback
            and self.rng.random() < PRESS_ONE
        ):
            self._gone(visit, "withdrawn")  # 1 pressed: a callback keeps the place
            self.send(Withdraw(visit.item, "withdrawn"))
            self.desk.pressed_one(visit)
            return
        self._stop_ringing(visit)
        self._gone(visit, "abandoned")
        self.send(Withdraw(visit.item, "abandoned"))

    def _gone(self, visit: Visit, outcome: str) -> None:
        if visit.outcome is None:
            self._stop_ringing(visit)
            visit.outcome, visit.outcome_at = outcome, self.now

    def _stop_ringing(self, visit: Visit) -> None:
        if visit.ringing is not None:
            agent, visit.ringing = visit.ringing, None
            self.set_agent(agent, apply(self.agents[agent], "no_answer", self.now))

    def _offered(self, visit: Visit, agent: str) -> None:
        visit.offers.append((agent, self.now))
        state = self.agents[agent]
        if visit.outcome is not None:
            return
        if visit.kind == "voice":
            if visit.ringing is not None:
                return  # already ringing someone (after a restart): the offer times out
            if not can(state, "ring"):
                self.send(Declined(visit.item, agent, "busy"))
                return
            visit.ringing = agent
            self.set_agent(agent, apply(state, "ring", self.now, visit.item))
            luck = self.rng.random()
            if luck < 0.05:
                self.at(self.now + RING_TIMEOUT, lambda: self._no_answer(visit, agent, "no_answer"))
            elif luck < 0.08:
                self.at(self.now + RING_TIMEOUT, lambda: self._no_answer(visit, agent, "missed"))
            else:
                self.at(self.now + self.rng.uniform(2, 8), lambda: self._answer(visit, agent))
            return
        if not state.can_take_chat(self.profiles[agent].max_chats):
            self.send(Declined(visit.item, agent, "busy"))
            return
        self.set_agent(agent, open_chat(state, visit.item, self.now))
        self._answered(visit, agent)
        self.at(self.now + visit.handle, lambda: self._close_chat(visit, agent))

    def _answered(self, visit: Visit, agent: str) -> None:
        visit.outcome, visit.outcome_at, visit.agent = "answered", self.now, agent
        self.send(Accepted(visit.item, agent))

    def _no_answer(self, visit: Visit, agent: str, event: str) -> None:
        if visit.ringing != agent:
            return
        visit.ringing = None
        self.set_agent(agent, apply(self.agents[agent], event, self.now))
        self.send(Declined(visit.item, agent, "no_answer"))
        if event == "missed":
            self.at(self.now + 60, lambda: self.intent(agent, "ready", None))

    def _answer(self, visit: Visit, agent: str) -> None:
        if visit.ringing != agent:
            return
        visit.ringing = None
        self.set_agent(agent, apply(self.agents[agent], "answered", self.now))
        self._answered(visit, agent)
        self.record(
            f"contact:{visit.contact}",
            "call_answered",
            self.now,
            {"channel": "voice", "call_id": visit.item, "agent": agent},
        )
        self.at(self.now + visit.handle, lambda: self._hangup(visit, agent))

    def _hangup(self, visit: Visit, agent: str) -> None:
        visit.talk_end = self.now
        self.set_agent(agent, apply(self.agents[agent], "hangup", self.now))
        self.record(
            f"contact:{visit.contact}",
            "call_ended",
            self.now,
            {"channel": "voice", "call_id": visit.item, "agent": agent, "cause": "normal"},
        )
        self.wrapping[agent] = visit
        self.wrap_up(agent, visit.queue)
        if self.rng.random() < 0.3:
            self.at(self.now + 60, lambda: self._survey(visit, agent))

    def wrap_up(self, agent: str, queue: str) -> None:
        """The agent hung up: their wrap-up ends after the queue's time."""
        self.wrap_token[agent] = token = self.wrap_token.get(agent, 0) + 1
        wrap = self.state.queues[queue].settings.wrap_up
        self.at(self.now + wrap, lambda: self._wrap_up_done(agent, token))

    def _wrap_up_done(self, agent: str, token: int) -> None:
        if self.agents[agent].work == "wrap_up" and self.wrap_token[agent] == token:
            self.set_agent(agent, apply(self.agents[agent], "wrap_up_done", self.now))

    def _close_chat(self, visit: Visit, agent: str) -> None:
        self.set_agent(agent, close_chat(self.agents[agent], visit.item, self.now))

    def _survey(self, visit: Visit, agent: str) -> None:
        visit.score = self.rng.randint(1, 5)
        data = {"channel": "sms", "score": visit.score, "agent": agent, "queue": visit.queue}
        self.record(f"contact:{visit.contact}", "csat", self.now, data)

    # --------------------------------------------------------------- agents

    def _plan_agents(self) -> None:
        for agent in self.profiles:
            start = T0 + self.rng.uniform(0, 1800)
            self.at(start, lambda a=agent: self._sign_in(a))  # type: ignore[misc]
            for _ in range(2):
                leave = start + self.rng.uniform(3600, self.hours * 3600 - 3600)
                back = leave + self.rng.uniform(600, 1800)
                self.at(leave, lambda a=agent: self.intent(a, "break", "coffee"))  # type: ignore[misc]
                self.at(back, lambda a=agent: self.intent(a, "ready", None))  # type: ignore[misc]
            end = T0 + self.hours * 3600 + self.rng.uniform(0, 1800)
            self.at(end, lambda a=agent: self.intent(a, "offline", None))  # type: ignore[misc]

    def _sign_in(self, agent: str) -> None:
        state = apply(self.agents[agent], "registered", self.now)
        self.set_agent(agent, set_intent(state, "ready", None, self.now))

    def intent(self, agent: str, intent: Any, reason: str | None) -> None:
        state = self.agents[agent]
        signing_out = state.intent == "offline" or (state.pending or ("",))[0] == "offline"
        if intent != "offline" and signing_out:
            return  # signed out for the day, or about to be
        self.set_agent(agent, set_intent(state, intent, reason, self.now))

    def set_agent(self, agent: str, new: AgentState) -> None:
        old = self.agents[agent]
        self.agents[agent] = new
        if old.work == "wrap_up" and new.work != "wrap_up":
            wrapped = self.wrapping.pop(agent, None)
            if wrapped is not None:
                wrapped.wrap_end = self.now
        if new.status != old.status:
            self._account(agent, old.status)
        self.presence.changed(new)
        if new != old:
            self._report(agent)

    def _report(self, agent: str) -> None:
        self.send(AgentUpdate(agent_view(self.agents[agent], self.profiles[agent])))

    def _account(self, agent: str, status: str) -> None:
        """The simulation's own clock of each agent's time per status."""
        _, since = self.last_change.get(agent, (status, T0))
        spent = self.time_in[agent]
        spent[status] = spent.get(status, 0.0) + self.now - since
        self.last_change[agent] = (self.agents[agent].status, self.now)

    def busy_and_signed_in(self) -> tuple[float, float]:
        busy = sum(
            t for spent in self.time_in.values() for s, t in spent.items() if s in BUSY_STATUSES
        )
        signed = sum(
            t for spent in self.time_in.values() for s, t in spent.items() if s != "offline"
        )
        return busy, signed
