"""A simulated day (tests/unit/daysim.py) through the real routing engine, agent
state machine and callback state machine: 5,000 contacts, 20 agents, voice/SMS/chat,
callbacks, breaks, missed rings and router restarts. What must hold:

- every customer gets an outcome (an agent, the queue's treatment, or they leave), and
  none later than ``max_wait`` after joining, unless an offer was out at that moment:
  then by the end of that offer (at most the router's offer timeout later);
- no agent is stuck: at the end every agent is signed out with no work; during the
  day no agent's offer stays open longer than the offer timeout, and no agent who is
  available (by their own state machine) and not on offer is left with a waiting item
  they may take (not declined by them within ``retry``, of a kind they can take now);
- first come, first served per queue: when an item is offered to an agent, every item of
  the same queue and priority that came earlier is, at that moment, already on offer to
  someone, or declined by this agent less than ``retry`` seconds ago, or of a kind this
  agent cannot take now (a call while they have chats open, a chat above ``max_chats``);
  callbacks are items like the others there, in their place;
- callbacks keep their place: a callback's item is in its queue at the time its caller
  first joined (not when they asked, nor when it comes back after a missed attempt), so
  it is offered before the callers who joined after that; and every callback ends
  (``done`` or ``failed``, the customer told by SMS), none left waiting;
- the statistics (actors.kpis.compute over the log the switch would have written) equal
  the ones computed independently from the simulation's own records.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from actors.kpis import FCR_WINDOW, SHORT_ABANDON, Window, compute
from actors.queue import WorkItem
from actors.routing import AgentView
from tests.unit.daysim import OFFER_TIMEOUT, QUEUES, T0, DaySim, Visit

SETTINGS = {q.id: q for q in QUEUES}


def capable(view: AgentView, item: WorkItem) -> bool:
    return view.can_call if item.kind in ("voice", "callback") else view.can_chat


class Checks:
    def __init__(self) -> None:
        self.offers_seen = 0
        self.problems: list[str] = []
        self.ahead = 0  # callbacks offered while someone who joined after their caller waited

    def __call__(self, sim: DaySim) -> None:
        state, now = sim.state, sim.now
        for agent, since in sim.offer_since.items():
            if agent in state.offered and now - since > OFFER_TIMEOUT + 1e-6:
                self.problems.append(f"{agent} held by an offer since {since - T0:.0f}")
        # work conservation: an available agent, not on offer, with an item for them
        for view in state.agents.values():
            if view.id in state.offered or not (view.can_call or view.can_chat):
                continue
            for queue in state.queues.values():
                if not queue.settings.eligible(view.id, view.skills):
                    continue
                for item in queue.in_order():
                    if (
                        item.state == "waiting"
                        and capable(view, item)
                        and not item.declined_by(view.id, now)
                    ):
                        self.problems.append(
                            f"{view.id} idle while {item.id} waits ({now - T0:.0f})"
                        )
                        break

    def offered(self, sim: DaySim, item_id: str, agent: str) -> None:
        """FCFS at the moment of an offer (called by the simulation on each Offer)."""
        self.offers_seen += 1
        state, now = sim.state, sim.now
        item = state.item(item_id)
        assert item is not None
        view = state.agents[agent]
        if item.kind == "callback":
            self._callback_place(sim, item)
        for other in state.queues[item.queue].in_order():
            if other.id == item_id:
                break
            if other.priority != item.priority or other.state != "waiting":
                continue
            if other.declined_by(agent, now) or not capable(view, other):
                continue
            self.problems.append(f"{item_id} offered to {agent} before {other.id} ({now - T0:.0f})")

    def _callback_place(self, sim: DaySim, item: WorkItem) -> None:
        callback = sim.desk.callbacks[item.id]
        joined = sim.visits[callback.visit].arrived  # when the caller first joined
        if item.enqueued_at != joined:
            self.problems.append(f"{item.id} lost its place: {item.enqueued_at} != {joined}")
        entered = callback.stays[-1].entered  # when it (re)entered the queue
        if any(
            other.state == "waiting" and joined < other.enqueued_at < entered
            for other in sim.state.queues[item.queue].in_order()
        ):
            self.ahead += 1


def callback_stays(sim: DaySim) -> list[Visit]:
    """Each stay of a callback in its queue, as an answered visit: it left with the agent
    its call rang (a callback leaves its queue no other way in the day), having waited
    since its caller first joined."""
    return [
        Visit(
            item=callback.id,
            contact=callback.state.contact_id,
            kind="callback",
            queue=callback.state.queue,
            arrived=sim.visits[callback.visit].arrived,
            patience=0.0,
            handle=0.0,
            outcome="answered",
            outcome_at=stay.left,
            agent=stay.agent,
            entered=stay.entered,
        )
        for callback in sim.desk.callbacks.values()
        for stay in callback.stays
    ]


def independent_stats(sim: DaySim) -> dict[str, float | int | None]:
    # a caller who pressed 1 is no offer (withdrawn); each stay of their callback is one
    stays = callback_stays(sim)
    visits = [v for v in sim.visits.values() if v.outcome != "withdrawn"] + stays
    answered = [v for v in visits if v.outcome == "answered"]

    def waited(v: Visit) -> float:  # from when the customer first joined
        return (v.outcome_at or 0.0) - v.arrived

    abandoned = [v for v in visits if v.outcome == "abandoned" and waited(v) >= SHORT_ABANDON]
    short = [v for v in visits if v.outcome == "abandoned" and waited(v) < SHORT_ABANDON]
    treated = [v for v in visits if v.outcome == "treated"]
    closed = len(answered) + len(abandoned) + len(treated)
    in_sl = [v for v in answered if waited(v) <= SETTINGS[v.queue].service_level]
    calls = [v for v in answered if v.kind == "voice"]  # (a callback's call has its own id)
    handle = [
        (v.talk_end - v.outcome_at) + (v.wrap_end - v.talk_end)
        for v in calls
        if v.talk_end is not None and v.wrap_end is not None and v.outcome_at is not None
    ]
    arrivals: dict[str, list[float]] = defaultdict(list)  # every entry into a queue
    for v in [*sim.visits.values(), *stays]:
        arrivals[v.contact].append(v.arrived if v.entered is None else v.entered)
    resolved = [
        v
        for v in answered
        if not any(
            v.outcome_at is not None and v.outcome_at < t <= v.outcome_at + FCR_WINDOW
            for t in arrivals[v.contact]
        )
    ]
    scores = [v.score for v in visits if v.score is not None]
    busy, signed_in = sim.busy_and_signed_in()
    return {
        "offered": len(visits),
        "answered": len(answered),
        "abandoned": len(abandoned),
        "short_abandoned": len(short),
        "treated": len(treated),
        "service_level": len(in_sl) / closed,
        "abandon_rate": len(abandoned) / closed,
        "asa": sum(waited(v) for v in answered) / len(answered),
        "aht": sum(handle) / len(handle),
        "fcr": len(resolved) / len(answered),
        "csat": sum(scores) / len(scores),
        "occupancy": busy / signed_in,
        "voice_offered": sum(1 for v in visits if v.kind in ("voice", "callback")),
        "sms_answered": sum(1 for v in answered if v.kind == "sms"),
        "chat_abandoned": sum(1 for v in abandoned if v.kind == "chat"),
    }


@pytest.mark.parametrize("seed", [1, 2])
def test_a_simulated_day_keeps_its_promises_and_its_statistics(seed: int) -> None:
    checks = Checks()
    sim = DaySim(seed)
    sim.offer_hook = checks.offered
    sim.run(checks)
    assert sim.restarts == 5 and checks.offers_seen > 4000 and len(sim.visits) == 5000
    assert sim.violations == []
    assert checks.problems[:10] == []
    # every customer got an outcome, in time
    late = []
    for visit in sim.visits.values():
        assert visit.outcome is not None, visit
        max_wait = SETTINGS[visit.queue].max_wait
        assert max_wait is not None
        deadline = visit.arrived + max_wait
        assert visit.outcome_at is not None
        if visit.outcome_at > deadline + 1e-6:
            open_at_deadline = [t for _, t in visit.offers if t <= deadline]
            if not open_at_deadline or visit.outcome_at > max(open_at_deadline) + OFFER_TIMEOUT:
                late.append(visit.item)
    assert late == []
    # no agent stuck: signed out, no work, nothing on offer
    assert all(a.status == "offline" and not a.chats for a in sim.agents.values())
    assert sim.state.offered == {} and sim.state.where == {}
    outcomes = {v.outcome for v in sim.visits.values()}
    assert outcomes == {"answered", "abandoned", "treated", "withdrawn"}  # the day saw all
    check_callbacks(sim, checks)

    stats = compute(
        sim.log,
        Window(
            T0,
            T0 + 86400,
            service_levels={q: s.service_level for q, s in SETTINGS.items()},
            now=sim.now,
        ),
    )
    mine = independent_stats(sim)
    assert stats.offered == mine["offered"]
    assert stats.waiting == 0 and stats.lost == 0
    for name in ("answered", "abandoned", "short_abandoned", "treated"):
        assert getattr(stats, name) == mine[name], name
    for name in ("service_level", "abandon_rate", "asa", "aht", "fcr", "csat", "occupancy"):
        assert getattr(stats, name) == pytest.approx(mine[name], rel=1e-9), name
    assert stats.channels["voice"].offered == mine["voice_offered"]
    assert stats.channels["sms"].answered == mine["sms_answered"]
    assert stats.channels["chat"].abandoned == mine["chat_abandoned"]


def check_callbacks(sim: DaySim, checks: Checks) -> None:
    """Every callback ended, as its state machine and its journey say, and kept its place."""
    callbacks = list(sim.desk.callbacks.values())
    ends = {c.state.state for c in callbacks}
    assert len(callbacks) > 30 and ends == {"done", "failed"}  # none left, both seen
    assert any(len(c.stays) > 1 for c in callbacks)  # some came back to their place
    assert checks.ahead > 10  # ... and were offered before callers who joined later
    journey: defaultdict[str, list[str]] = defaultdict(list)
    for event in sim.log:
        if event.kind.startswith("callback_"):
            journey[str(event.data["callback"])].append(event.kind)
    for c in callbacks:
        assert all(stay.left is not None and stay.agent for stay in c.stays), c
        dialed = ["callback_dialed"] * len(c.stays)
        assert journey[c.id] == ["callback_requested", *dialed, f"callback_{c.state.state}"]
        assert c.state.queued_at == sim.visits[c.visit].arrived
        assert c.notified == (c.state.state == "failed")
        if c.state.state == "failed":
            assert c.state.attempts == c.state.policy.attempts and c.state.reason
