"""The worker pool's bookkeeping, with no I/O: slots, legs, reservations, pending
commands, health, and which worker to give up on.

Theory of operation
-------------------
:class:`PoolState` knows, for each worker ``i`` (a :class:`Slot`): its state
(``stopped`` -> ``starting`` -> ``up`` on its ``hello`` -> ``down`` when it dies or does
not start -> ``starting`` ...; ``stopped`` again when the pool stops), its legs, the
highest leg number it used (a restarted worker numbers on from there), its reservation,
the ids of the commands waiting for its reply, and when it last said anything.

Everything that happens is fed in as a method call with the clock's value ``now``; the
answers are data: :meth:`PoolState.died` gives the pending command ids to fail and the
synthetic ``ended`` events of the legs that died with the worker;
:meth:`PoolState.received` gives :data:`Notice` values to log; :meth:`PoolState.silent`
names the workers that stayed silent for three health intervals (the shell kills them;
the shared process supervisor restarts them with its backoff).

Leg bookkeeping: a leg is the worker's from its ``incoming`` event or its ``dial`` (or
``pcm_leg``) command until its ``ended`` event; a failed one forgets it again. A reservation
(:meth:`PoolState.reserve`) keeps :meth:`PoolState.free_worker` away from a worker
until ``until``, the first ``dial`` on it, :meth:`PoolState.unreserve`, or its death.

Capacity: a worker holds at most :data:`MAX_LEGS` legs. With ``max_inbound`` 1 it holds
one conversation; with 2 or 3 it parks that many inbound callers, the rest of its legs
left for their agents (the worker itself refuses the INVITEs beyond).
:meth:`PoolState.free_worker` names a worker with room for a conversation the core
places itself (for a reservation: no leg, or with parking at most 2);
:meth:`PoolState.place` names the worker a new outgoing leg goes to: the one given (the
worker of the leg it will be bridged with) when it has a leg free, else the least
loaded one that has. Two legs bridged on different workers are joined by a
:class:`Link` (each worker adds a port that carries the leg's audio to the other,
:mod:`drivers.sip.media.link`); :meth:`PoolState.forget_links` drops the links of a leg
that ended and names the other ends to close.

No asyncio, no socket, no process, no clock of its own; must not import the pool's
shell (:mod:`drivers.sip.media.pool`), the worker process, or the edge.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from base.errors import ChannelUnavailable, Rejected
from drivers.sip.media.protocol import Command, Event, Message, Reply, check_command

__all__ = [
    "INVITE_RATE_WARNING",
    "MAX_LEGS",
    "RTP_PORTS_PER_WORKER",
    "HelloPidMismatch",
    "InviteRateHigh",
    "Link",
    "Notice",
    "PoolState",
    "Slot",
]

RTP_PORTS_PER_WORKER = 50
MAX_LEGS = 4  # calls per worker process (the pjsua2 wheel's PJSUA_MAX_CALLS)
INVITE_RATE_WARNING = 40.0  # INVITEs/s into one worker; it aborts somewhere past 60
SILENT_HEALTH_INTERVALS = 3  # a worker this many health intervals silent is hung

SlotState: TypeAlias = Literal["stopped", "starting", "up", "down"]


@dataclass(eq=False, slots=True)
class Slot:
    index: int
    state: SlotState = "stopped"
    pid: int | None = None
    started_at: float = 0.0
    last_seen: float = 0.0  # when it last sent anything (health comes periodically)
    last_health: dict[str, Any] = field(default_factory=dict)
    legs: set[str] = field(default_factory=set)
    last_leg: int = 0  # highest N of the w<i>-<N> legs seen: a restart numbers on
    reserved_until: float = 0.0  # picked for a call the core is about to dial
    pending: set[int] = field(default_factory=set)  # command ids awaiting a reply


@dataclass(frozen=True, slots=True)
class InviteRateHigh:
    """A worker takes INVITEs near the rate at which it aborts (see docs)."""

    worker: int
    invites_per_s: float
    limit: float


@dataclass(frozen=True, slots=True)
class HelloPidMismatch:
    """A hello on worker ``worker``'s socket from another process than the one spawned."""

    worker: int
    pid: Any


Notice: TypeAlias = InviteRateHigh | HelloPidMismatch


@dataclass(frozen=True, slots=True)
class Link:
    """Two legs on two workers whose audio is joined (one port on each worker)."""

    id: str
    a: str
    worker_a: int
    b: str
    worker_b: int

    def other(self, leg: str) -> tuple[int, str]:
        """The (worker, leg) of the end that is not ``leg``."""
        return (self.worker_b, self.b) if leg == self.a else (self.worker_a, self.a)


class PoolState:
    def __init__(
        self,
        size: int,
        *,
        sip_port_base: int,
        rtp_port_base: int,
        health_interval: float = 5.0,
        max_inbound: int = 1,
    ) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one worker")
        if not 1 <= max_inbound < MAX_LEGS:
            raise ValueError(f"max_inbound must be 1..{MAX_LEGS - 1}, got {max_inbound}")
        self.size = size
        self.max_inbound = max_inbound
        self.sip_port_base = sip_port_base
        self.rtp_port_base = rtp_port_base
        self.health_interval = health_interval
        self.slots = [Slot(i) for i in range(size)]
        self._ids = itertools.count(1)
        self._rr = 0
        self._link_ids = itertools.count(1)
        self.links: dict[str, Link] = {}

    # ------------------------------------------------------------ addresses

    def sip_port(self, i: int) -> int:
        return self.sip_port_base + i

    def rtp_port(self, i: int) -> int:
        return self.rtp_port_base + RTP_PORTS_PER_WORKER * i

    def first_leg(self, i: int) -> int:
        """The number a (re)started worker ``i`` gives its first incoming leg."""
        return self.slots[i].last_leg + 1

    # ------------------------------------------------------------ lifecycle

    def starting(self, i: int) -> None:
        self.slots[i].state = "starting"

    def spawned(self, i: int, pid: int, now: float) -> None:
        slot = self.slots[i]
        slot.pid = pid
        slot.started_at = now

    def start_failed(self, i: int) -> None:
        self.slots[i].state = "down"

    def died(self, i: int) -> tuple[list[int], list[Event]]:
        """Worker ``i`` is gone: the command ids to fail, and an ``ended`` event
        (``code`` 500, ``reason`` ``worker_died``) for each leg it had."""
        slot = self.slots[i]
        slot.state = "down"
        slot.reserved_until = 0.0
        pending, slot.pending = sorted(slot.pending), set()
        legs, slot.legs = sorted(slot.legs), set()
        ended = [
            Event("ended", {"call": leg, "code": 500, "reason": "worker_died"}) for leg in legs
        ]
        return pending, ended

    def stopped(self) -> list[int]:
        """The pool stops: every slot ``stopped``; the command ids to fail."""
        pending: list[int] = []
        for slot in self.slots:
            pending += sorted(slot.pending)
            slot.pending = set()
            slot.state = "stopped"
        return pending

    # ------------------------------------------------------------ what workers say

    def received(self, i: int, msg: Message, now: float) -> list[Notice]:
        """Bookkeeping for a message from worker ``i`` (a reply's command is no longer
        pending); what is worth a log line."""
        slot = self.slots[i]
        slot.last_seen = now
        if isinstance(msg, Reply):
            slot.pending.discard(msg.id)
            return []
        if not isinstance(msg, Event):
            return []  # a command from a worker: the shell logs it
        notices: list[Notice] = []
        if msg.name == "hello":
            pid = msg.args.get("pid")
            if slot.pid is not None and pid != slot.pid:
                notices.append(HelloPidMismatch(i, pid))
            if slot.state == "starting":
                slot.state = "up"  # its hello is what makes a worker ready
        elif msg.name == "worker_health":
            slot.last_health = dict(msg.args)
            rate = msg.args.get("invites_per_s")
            if isinstance(rate, int | float) and rate > INVITE_RATE_WARNING:
                # Each INVITE costs the worker 2 ioqueue keys, held 0.5 s after the call;
                # the wheel's select ioqueue has 64: past ~60 INVITEs/s a worker aborts.
                notices.append(InviteRateHigh(i, float(rate), INVITE_RATE_WARNING))
        elif msg.name == "incoming" and msg.call:
            slot.legs.add(msg.call)
            _, _, n = msg.call.rpartition("-")
            if n.isdigit():
                slot.last_leg = max(slot.last_leg, int(n))
        elif msg.name == "ended" and msg.call:
            slot.legs.discard(msg.call)
        return notices

    def silent(self, now: float) -> list[tuple[int, float]]:
        """Up workers that said nothing for three health intervals (a hung loop), with
        how long; each is named once per silence."""
        limit = SILENT_HEALTH_INTERVALS * self.health_interval + 1.0
        found = []
        for slot in self.slots:
            if slot.state == "up" and now - slot.last_seen > limit:
                found.append((slot.index, now - slot.last_seen))
                slot.last_seen = now  # once
        return found

    # ------------------------------------------------------------ commands

    def command(self, worker: int, op: str, args: Mapping[str, Any]) -> Command:
        """A command for ``worker``, now pending (Rejected: no such worker or a bad
        command; ChannelUnavailable: the worker is not up). A ``dial`` (or ``pcm_leg``)
        makes its leg the worker's and ends its reservation."""
        if not 0 <= worker < self.size:
            raise Rejected("no_such_worker", f"no media worker {worker}")
        cmd = Command(next(self._ids), op, dict(args))
        problem = check_command(cmd)
        if problem is not None:
            raise Rejected("bad_command", problem)
        slot = self.slots[worker]
        if slot.state != "up":
            raise ChannelUnavailable(f"media worker {worker} is {slot.state}")
        slot.pending.add(cmd.id)
        if op in ("dial", "pcm_leg"):
            slot.legs.add(args["call"])
            slot.reserved_until = 0.0  # the leg keeps the worker taken from now on
        return cmd

    def command_failed(self, worker: int, cmd: Command) -> None:
        """No good reply to ``cmd`` (refused, timed out, cancelled): a dial's leg is not
        the worker's after all."""
        slot = self.slots[worker]
        slot.pending.discard(cmd.id)
        if cmd.op in ("dial", "pcm_leg"):
            slot.legs.discard(cmd.args["call"])

    def shutdown_command(self) -> Command:
        return Command(next(self._ids), "shutdown", {})

    # ------------------------------------------------------------ routing

    def worker_of(self, leg: str) -> int | None:
        for slot in self.slots:
            if leg in slot.legs:
                return slot.index
        return None

    def free_worker(self, now: float, skip: frozenset[int] = frozenset()) -> int | None:
        """An up worker with room for a conversation (no leg; with parking, at most 2)
        and no reservation, the least loaded (round robin among equals), or None."""
        most = 0 if self.max_inbound == 1 else MAX_LEGS - 2
        best: int | None = None
        for k in range(self.size):
            i = (self._rr + k) % self.size
            slot = self.slots[i]
            if (
                i not in skip
                and slot.state == "up"
                and len(slot.legs) <= most
                and slot.reserved_until <= now
                and (best is None or len(slot.legs) < len(self.slots[best].legs))
            ):
                best = i
        if best is not None:
            self._rr = (best + 1) % self.size
        return best

    def place(self, near: int | None, now: float, skip: frozenset[int] = frozenset()) -> int | None:
        """The worker a new outgoing leg goes to: ``near`` (the worker of the leg it
        will be bridged with) while it has a leg free, else the up worker with the
        fewest legs that has one (reserved workers last); None when all are full."""

        def room(i: int) -> bool:
            slot = self.slots[i]
            return i not in skip and slot.state == "up" and len(slot.legs) < MAX_LEGS

        if near is not None and 0 <= near < self.size and room(near):
            return near
        candidates = [i for i in range(self.size) if room(i)]
        if not candidates:
            return None
        return min(
            candidates,
            key=lambda i: (self.slots[i].reserved_until > now, len(self.slots[i].legs), i),
        )

    # ------------------------------------------------------------ links

    def link_of(self, a: str, b: str) -> Link | None:
        for link in self.links.values():
            if {link.a, link.b} == {a, b}:
                return link
        return None

    def add_link(self, a: str, worker_a: int, b: str, worker_b: int) -> Link:
        link = Link(f"k{next(self._link_ids)}", a, worker_a, b, worker_b)
        self.links[link.id] = link
        return link

    def drop_link(self, link_id: str) -> None:
        self.links.pop(link_id, None)

    def forget_links(self, leg: str) -> list[tuple[int, str, str]]:
        """``leg`` ended (or its worker died): its links are gone; the (worker, leg,
        link id) of each other end still to close."""
        ends = []
        for link in [k for k in self.links.values() if leg in (k.a, k.b)]:
            del self.links[link.id]
            worker, other = link.other(leg)
            if other in self.slots[worker].legs:
                ends.append((worker, other, link.id))
        return ends

    def reserve(self, i: int, until: float) -> None:
        self.slots[i].reserved_until = until

    def unreserve(self, i: int) -> None:
        self.slots[i].reserved_until = 0.0

    # ------------------------------------------------------------ health

    def health(self, now: float, restarts: Sequence[int]) -> list[dict[str, Any]]:
        return [
            {
                "worker": s.index,
                "state": s.state,
                "pid": s.pid,
                "sip_port": self.sip_port(s.index),
                "legs": sorted(s.legs),
                "reserved": s.reserved_until > now,
                "restarts": restarts[s.index],
                "uptime": round(now - s.started_at, 1) if s.state == "up" else 0.0,
                "last_health": s.last_health,
            }
            for s in self.slots
        ]
