"""Where an inbound number leads first: ``[[routes]]`` as a pure lookup.

A route maps a number (a trunk's DID, or a modem's own number) to a target
(``ivr:<id>``, ``queue:<id>``, ``agent:<id>``); with ``hours`` it leads to ``closed_to``
outside them (no ``closed_to``: to its target all the same, whose queue then treats the
caller as closed if it has hours of its own). Pure: the time is an argument; imports
nothing of ours but :mod:`actors.schedule`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from actors.schedule import Schedule, is_open


@dataclass(frozen=True, slots=True)
class Route:
    number: str  # E.164
    to: str
    hours: Schedule | None = None
    closed_to: str | None = None


class RouteTable:
    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = {r.number: r for r in routes}

    def target(self, number: str | None, now: float) -> str | None:
        """The first target for a call to ``number`` now (None: no route)."""
        route = self.routes.get(number) if number else None
        if route is None:
            return None
        if route.hours is not None and not is_open(route.hours, now):
            return route.closed_to or route.to
        return route.to


def split_target(target: str) -> tuple[str, str]:
    """``"queue:sales"`` -> ``("queue", "sales")``."""
    kind, _, name = target.partition(":")
    return kind, name
