"""The contact center's config as the calls use it: the call policy (IVR menus, what a
queue does for a waiting caller), the route table, and each call's first target.

A human, for a menu's ``"0"`` when it does not say: the first ``[[queues]]`` entry, else
the implicit ``default`` queue.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from actors.call.policy import DEFAULT_HUMAN, CallPolicy, Menu, Question, WaitPolicy
from actors.routes import Route, RouteTable
from actors.schedule import Schedule, parse_schedule
from switch.prompts import Prompts

if TYPE_CHECKING:
    from switch.config import Config


def schedules(config: Config) -> dict[str, Schedule]:
    return {s.id: parse_schedule(s.id, s.timezone, s.weekly, s.holidays) for s in config.schedules}


def menus(config: Config) -> dict[str, Menu]:
    return {
        m.id: Menu(m.id, m.prompt, m.timeout, m.retries, dict(m.options), m.language)
        for m in config.ivr
    }


def wait_policies(config: Config) -> dict[str, WaitPolicy]:
    out = {}
    for q in config.queues:
        questions = tuple(
            Question(x.id, x.prompt, x.kind, x.max_length, dict(x.options), x.timeout, x.retries)
            for x in q.questions
        )
        if q.announce_every is not None or questions:
            out[q.id] = WaitPolicy(q.announce_every, questions)
    return out


def human(config: Config) -> str:
    return f"queue:{config.queues[0].id}" if config.queues else DEFAULT_HUMAN


def call_policy(config: Config, **fields: Any) -> CallPolicy:
    """The calls' policy: ``fields`` (greeting, hold music, timings...) plus the center."""
    return CallPolicy(
        menus=menus(config), human=human(config), waiting=wait_policies(config), **fields
    )


def missing_prompts(policy: CallPolicy, prompts: Prompts) -> list[str]:
    """The prompts calls may need (menus, questions, announcements, treatments) that no
    language has: said at start."""
    names = {m.prompt for m in policy.menus.values()}
    for wait in policy.waiting.values():
        names |= {q.prompt for q in wait.questions}
        if wait.announce_every:
            names |= {"queue_position", "queue_wait", "minutes", "num_1"}
    names |= {"queue_max_wait", "queue_no_agents", "queue_closed"}
    return [name for name in sorted(names) if prompts.find(name, None) is None]


def route_table(config: Config) -> RouteTable:
    hours = schedules(config)
    return RouteTable(
        Route(r.number, r.to, hours.get(r.hours) if r.hours else None, r.closed_to)
        for r in config.routes
    )


def prompt_library(config: Config) -> Prompts:
    """``[routing].prompts`` by language; announcements cached beside the store."""
    cache = Path(config.store.path).parent / "prompts-cache"
    return Prompts(config.routing.prompts, config.routing.language, cache=cache)


class Entrances:
    """Where inbound calls go first: ``[[routes]]`` by the dialled number (a trunk's
    DID) or by the modem's own number (``[[modems]] number``), at the time of the call."""

    def __init__(self, config: Config) -> None:
        self.routes = route_table(config)
        self.modem_numbers = {m.id: m.number for m in config.modems if m.number}

    def of_number(self, number: str | None, now: float) -> tuple[str | None, dict[str, Any]]:
        """The route's target (None: no route) and the call's starting fields."""
        target = self.routes.target(number, now)
        return target, entry_fields(target)


def entry_fields(target: str | None) -> dict[str, Any]:
    """The call's starting fields for its first target: ``menu`` (an IVR) or ``queue``
    (no target: the implicit default queue)."""
    if target is None:
        return {}
    kind, _, name = target.partition(":")
    if kind == "ivr":
        return {"menu": name}
    if kind == "agent":
        return {"queue": f"agent:{name}"}
    return {"queue": name}
