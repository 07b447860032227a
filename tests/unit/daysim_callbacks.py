"""Callbacks in the simulated day (tests/unit/daysim.py): the shell around the real
callback state machine (:func:`actors.callback.decide`), as switch/center/callbacks.py
is in the switch, with the calls it places simulated.

A voice caller asks for a callback as the switch lets them (actors/call/callback_offer.py):
by pressing 1 while waiting in a queue that offers callbacks (their item leaves as
``withdrawn``) or after the queue's treatment offered one (their item already left as
``treated``). Either way the callback joins the same queue at the caller's first join
time; a number that already waits for a callback in that queue keeps the one it has.

When the router offers the callback to an agent, the agent is rung (a click call, so the
agent's own state machine rings, then talks), the item leaves the queue with them at
once (``CallPlaced``), and once the agent answers the customer is dialled: they answer
and talk, or not (busy, no answer), and the callback's call ends with the outcome the
call actor would report (``CallOutcome``). The state machine decides the rest: an agent
who does not answer is put on break and the callback goes back to its place; a customer
who does not answer is tried again after ``spacing`` seconds, then ``failed``.

What happened is kept in :class:`SimCallback` records (each stay in the queue is a
:class:`Stay`), apart from the log, so a test can compute the statistics both ways.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from actors import callback as cb
from actors.agent_state import apply, can
from actors.queue import QueueOffer
from actors.routing import Accepted, Declined, Enqueue

if TYPE_CHECKING:
    from tests.unit.daysim import DaySim, Visit

PRESS_ONE = 0.15  # callers whose patience runs out who press 1 instead of hanging up
AFTER_TREATMENT = 0.3  # callers who press 1 when the treatment offers a callback
AGENT_AWAY = 0.08  # an agent who does not answer a callback's ring
CUSTOMER_AWAY = 0.3  # a customer who does not answer a callback's call
RING_TIMEOUT = 20.0
MISSED_BREAK = 60.0  # an agent put on break by a missed ring is back after it


@dataclass
class Stay:
    """One stay of a callback in its queue: from joining to its call placed."""

    entered: float
    left: float | None = None
    agent: str | None = None


@dataclass
class SimCallback:
    """A callback as the simulation saw it; ``state`` is the real state machine's."""

    state: cb.CallbackState
    visit: str  # the caller's item the callback replaces
    stays: list[Stay] = field(default_factory=list)
    notified: bool = False  # the "failed" SMS

    @property
    def id(self) -> str:
        return self.state.id


class CallbackDesk:
    """The callbacks of the simulated day."""

    def __init__(self, sim: DaySim) -> None:
        self.sim = sim
        self.callbacks: dict[str, SimCallback] = {}
        self.live: dict[tuple[str, str], str] = {}  # (contact, queue) -> callback
        self.calls = 0

    # ------------------------------------------------------------ requests

    def pressed_one(self, visit: Visit) -> None:
        """The caller asks for a callback at the place their call took."""
        sim = self.sim
        known = self.live.get((visit.contact, visit.queue))
        if known is not None and self.callbacks[known].state.state in cb.LIVE:
            return  # the number already waits for one in this queue: it keeps it
        number = len(self.callbacks) + 1
        state = cb.CallbackState(
            id=f"cb{number:04d}",
            phone=f"+8551{visit.contact[1:]}",
            queue=visit.queue,
            contact_id=visit.contact,
            queued_at=visit.arrived,
            requested_at=sim.now,
        )
        callback = SimCallback(state, visit.item)
        self.callbacks[state.id] = callback
        self.live[(visit.contact, visit.queue)] = state.id
        self._record(callback, "requested")
        data = {"via": state.queue, "callback": state.id, "phone": state.phone}
        sim.record(f"contact:{state.contact_id}", "callback_requested", sim.now, data)
        self._enqueue(callback)

    def treated(self, visit: Visit) -> None:
        """The treatment offered a callback: some callers take it within the offer's wait."""
        if visit.kind == "voice" and self.sim.rng.random() < AFTER_TREATMENT:
            self.sim.at(self.sim.now + self.sim.rng.uniform(4, 10), lambda: self.pressed_one(visit))

    # ------------------------------------------------------- the machine

    def offered(self, item_id: str, agent: str) -> None:
        self._decide(self.callbacks[item_id], QueueOffer(item_id, agent))

    def _decide(self, callback: SimCallback, message: cb.CallbackMessage) -> None:
        pending: list[cb.CallbackMessage] = [message]
        while pending:
            callback.state, effects = cb.decide(callback.state, pending.pop(0), self.sim.now)
            for effect in effects:
                pending += self._perform(callback, effect)

    def _perform(self, callback: SimCallback, effect: cb.CallbackEffect) -> list[Any]:
        sim, state = self.sim, callback.state
        match effect:
            case cb.Record(kind=kind):
                self._record(callback, kind)
            case cb.TakeFromQueue(agent=agent):
                stay = callback.stays[-1]
                stay.left, stay.agent = sim.now, agent
                sim.send(Accepted(state.id, agent))
            case cb.BackInQueue():
                self._enqueue(callback)
            case cb.LeaveQueue():
                raise AssertionError("the simulation cancels no callback")
            case cb.DeclineOffer(agent=agent):
                sim.send(Declined(state.id, agent, "not_waiting"))
            case cb.PlaceCall(agent=agent):
                return [self._place(callback, agent)]
            case cb.Journey(kind=kind, data=data):
                sim.record(
                    f"contact:{state.contact_id}", kind, sim.now, {"via": state.queue, **data}
                )
            case cb.Notify():
                callback.notified = True
            case cb.AgentMissed(agent=agent):
                sim.intent(agent, "break", "missed")
                sim.at(sim.now + MISSED_BREAK, lambda: sim.intent(agent, "ready", None))
            case cb.WakeAfter(seconds=seconds, attempt=attempt):
                sim.at(sim.now + seconds, lambda: self._decide(callback, cb.Retry(attempt)))
        return []

    def _record(self, callback: SimCallback, kind: str) -> None:
        self.sim.record(f"callback:{callback.id}", kind, self.sim.now, callback.state.to_json())

    def _enqueue(self, callback: SimCallback) -> None:
        callback.stays.append(Stay(self.sim.now))
        self.sim.send(Enqueue(callback.state.item()))

    # ------------------------------------------------------------ the call

    def _place(self, callback: SimCallback, agent: str) -> cb.CallbackMessage:
        """A click call: ring the agent, then (once they answer) dial the customer."""
        sim = self.sim
        if not can(sim.agents[agent], "ring"):
            return cb.CallNotPlaced("the agent is busy")
        self.calls += 1
        call = f"{callback.id}-call{self.calls}"
        sim.set_agent(agent, apply(sim.agents[agent], "ring", sim.now, call))
        if sim.rng.random() < AGENT_AWAY:
            sim.at(sim.now + RING_TIMEOUT, lambda: self._agent_away(callback, agent, call))
        else:
            sim.at(
                sim.now + sim.rng.uniform(2, 8), lambda: self._agent_answers(callback, agent, call)
            )
        return cb.CallPlaced(call)

    def _agent_away(self, callback: SimCallback, agent: str, call: str) -> None:
        self.sim.set_agent(agent, apply(self.sim.agents[agent], "no_answer", self.sim.now))
        self._decide(callback, cb.CallOutcome(call, False, False, "no_answer"))

    def _agent_answers(self, callback: SimCallback, agent: str, call: str) -> None:
        sim = self.sim
        sim.set_agent(agent, apply(sim.agents[agent], "answered", sim.now))
        if sim.rng.random() < CUSTOMER_AWAY:
            cause = sim.rng.choice(("no_answer", "busy"))
            delay = 30.0 if cause == "no_answer" else sim.rng.uniform(1, 4)
            sim.at(sim.now + delay, lambda: self._ended(callback, agent, call, False, cause))
        else:
            sim.at(
                sim.now + sim.rng.uniform(3, 15),
                lambda: self._customer_answers(callback, agent, call),
            )

    def _customer_answers(self, callback: SimCallback, agent: str, call: str) -> None:
        sim = self.sim
        data = {"channel": "voice", "call_id": call, "agent": agent}
        sim.record(f"contact:{callback.state.contact_id}", "call_answered", sim.now, data)
        self._decide(callback, cb.CustomerAnswered(call))
        talk = sim.rng.lognormvariate(4.5, 0.5)
        sim.at(sim.now + talk, lambda: self._ended(callback, agent, call, True, "normal"))

    def _ended(
        self, callback: SimCallback, agent: str, call: str, answered: bool, cause: str
    ) -> None:
        sim = self.sim
        if answered:
            data = {"channel": "voice", "call_id": call, "agent": agent, "cause": cause}
            sim.record(f"contact:{callback.state.contact_id}", "call_ended", sim.now, data)
        sim.set_agent(agent, apply(sim.agents[agent], "hangup", sim.now))
        sim.wrap_up(agent, callback.state.queue)
        self._decide(callback, cb.CallOutcome(call, True, answered, cause))
