"""A media worker's legs: what each one is, and the rules that hold over all of them.

A :class:`Leg` is one SIP call of the worker (incoming: ``w<index>-<n>``, numbered by
the worker; outgoing: the id the core gave in ``dial``) with its audio state (bridged
peers, player, recorder, PCM port, links to legs of other workers), or a *modem leg*
(``pcm_leg``: the id the core gave) whose audio is a modem's PCM port itself, with no
SIP call. :class:`Legs` holds them and the worker's rules:

- at most :data:`MAX_LEGS` legs (the pjsua2 wheel's calls per process); a ``dial`` past
  that is refused (:meth:`Legs.room`);
- inbound calls up to ``max_inbound``: with the default of 1 a worker holds one
  conversation (while it has any leg an incoming INVITE is refused); with 2 or 3 it
  parks that many callers, the rest of its legs left for the agents who take them (an
  INVITE is refused once ``max_inbound`` incoming legs are there, or 4 legs in all).
  Refused INVITEs (486; so is one while the core holds a reservation) are counted
  (:meth:`Legs.offer`);
- a reservation (room for a conversation the core places itself) is refused while a
  one-conversation worker has a leg or another has more than 2, lasts at most 60 s, and
  ends at the first ``dial`` (:meth:`Legs.reserve`, :meth:`Legs.release`);
- an incoming leg the core leaves unanswered past its deadline is due for a 480
  (:meth:`Legs.overdue`).

Pure bookkeeping: the pjsua2 objects a leg holds are opaque here; no pjsua2 import, no
socket, no clock of its own (``now`` is an argument). Must not import the agent, the
commands or the pump.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_LEGS", "MAX_RESERVATION", "CommandFailed", "Leg", "Legs"]

MAX_RESERVATION = 60.0  # s
MAX_LEGS = 4  # calls per process in the pjsua2 wheel (PJSUA_MAX_CALLS)


class CommandFailed(Exception):
    """A command that cannot be carried out; its message goes back in the reply."""


@dataclass(eq=False)
class Leg:
    id: str
    call: Any  # LegCall (pjsua2)
    direction: str  # "in" | "out"
    created: float
    deadline: float | None = None  # auto-reject (incoming, not yet answered)
    answered: bool = False
    ringing_sent: bool = False
    early_sent: bool = False
    hung_up_locally: bool = False
    port: int | None = None  # conference slot of the leg's audio, when media is active
    peers: set[str] = field(default_factory=set)
    player: Any = None  # LegPlayer
    player_loop: bool = False
    recorder: Any = None
    record_path: str | None = None
    ended: bool = False
    pcm: Any = None  # PcmPort bridging the leg with a modem's PCM port
    account_key: str = ""  # the from_user whose pjsua2 Account placed an outgoing leg
    links: dict[str, Any] = field(default_factory=dict)  # link id -> LinkPort (other worker)
    keys: Any = None  # a modem leg's DtmfDetector (keys heard in band)

    @property
    def modem(self) -> bool:
        """A leg that is a modem's PCM port itself (``pcm_leg``): no SIP call."""
        return self.call is None


class Legs:
    """The legs of worker ``index`` by id, its reservation and its counters."""

    def __init__(self, index: int, *, first_leg: int = 1, max_inbound: int = 1) -> None:
        if not 1 <= max_inbound < MAX_LEGS:
            raise ValueError(f"max_inbound must be 1..{MAX_LEGS - 1}, got {max_inbound}")
        self.index = index
        self.max_inbound = max_inbound
        self.by_id: dict[str, Leg] = {}
        self.seq = first_leg - 1  # incoming legs are w<index>-<seq>
        self.invites = 0  # incoming INVITEs seen (answered or refused busy)
        self.busy_refused = 0
        self.reserved_until = 0.0  # incoming INVITEs get 486 until then

    def __len__(self) -> int:
        return len(self.by_id)

    def __bool__(self) -> bool:
        return bool(self.by_id)

    def __contains__(self, leg_id: object) -> bool:
        return leg_id in self.by_id

    def __iter__(self) -> Iterator[Leg]:
        return iter(list(self.by_id.values()))

    def get(self, leg_id: str | None) -> Leg | None:
        return self.by_id.get(leg_id) if leg_id else None

    def leg(self, leg_id: str) -> Leg:
        """The leg a command names (CommandFailed if there is none)."""
        leg = self.by_id.get(leg_id)
        if leg is None:
            raise CommandFailed(f"no such call {leg_id!r}")
        return leg

    def reserved(self, now: float) -> bool:
        return now < self.reserved_until

    def full(self) -> bool:
        """No room for another incoming call (see the module docstring)."""
        if self.max_inbound == 1:
            return bool(self.by_id)
        inbound = sum(1 for leg in self.by_id.values() if leg.direction in ("in", "modem"))
        return inbound >= self.max_inbound or len(self.by_id) >= MAX_LEGS

    def offer(self, now: float) -> str | None:
        """An incoming INVITE: the id its leg gets, or None when the worker is busy
        (:meth:`full`, or a reservation) and must refuse it."""
        self.invites += 1
        if self.full() or self.reserved(now):
            self.busy_refused += 1
            return None
        self.seq += 1
        return f"w{self.index}-{self.seq}"

    def add(self, leg: Leg) -> None:
        self.by_id[leg.id] = leg

    def remove(self, leg: Leg) -> None:
        """Forget ``leg`` and unbridge it from its peers."""
        for peer_id in leg.peers:
            peer = self.by_id.get(peer_id)
            if peer is not None:
                peer.peers.discard(leg.id)
        leg.peers.clear()
        self.by_id.pop(leg.id, None)

    def room(self) -> None:
        """A new outgoing leg fits (CommandFailed when the worker is full)."""
        if len(self.by_id) >= MAX_LEGS:
            raise CommandFailed(f"full: {len(self.by_id)} legs")

    def reserve(self, seconds: float, now: float) -> None:
        if self.by_id and (self.max_inbound == 1 or len(self.by_id) > MAX_LEGS - 2):
            raise CommandFailed(f"busy: {len(self.by_id)} leg(s)")
        if not 0 < seconds <= MAX_RESERVATION:
            raise CommandFailed("reserve: seconds must be in (0, 60]")
        self.reserved_until = now + seconds

    def release(self) -> None:
        self.reserved_until = 0.0

    def overdue(self, now: float) -> list[Leg]:
        """Incoming legs the core left unanswered past their deadline (each once)."""
        due = []
        for leg in self.by_id.values():
            if leg.deadline is not None and now >= leg.deadline and not leg.answered:
                leg.deadline = None
                due.append(leg)
        return due

    def account_keys(self) -> set[str]:
        """The ``from_user`` accounts live legs were placed with."""
        return {leg.account_key for leg in self.by_id.values()}
