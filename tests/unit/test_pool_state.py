"""The worker pool's bookkeeping without processes or sockets
(drivers/sip/media/pool_state.py): a fake clock, messages fed in, decisions out."""

from __future__ import annotations

import pytest

from base.errors import ChannelUnavailable, Rejected
from drivers.sip.media.pool_state import HelloPidMismatch, InviteRateHigh, PoolState
from drivers.sip.media.protocol import Command, Event, Reply


def up_pool(size: int = 2, now: float = 100.0) -> PoolState:
    state = PoolState(size, sip_port_base=5100, rtp_port_base=20000, health_interval=1.0)
    for i in range(size):
        state.starting(i)
        state.spawned(i, 1000 + i, now)
        state.received(i, Event("hello", {"worker": i, "pid": 1000 + i, "version": "1.1"}), now)
    return state


def incoming(leg: str) -> Event:
    return Event("incoming", {"call": leg, "from": "", "to": "", "ruri": "", "call_id": ""})


def test_a_pool_needs_a_worker() -> None:
    with pytest.raises(ValueError):
        PoolState(0, sip_port_base=5100, rtp_port_base=20000)


def test_addresses_per_worker() -> None:
    state = PoolState(3, sip_port_base=5100, rtp_port_base=20000)
    assert [state.sip_port(i) for i in range(3)] == [5100, 5101, 5102]
    assert [state.rtp_port(i) for i in range(3)] == [20000, 20050, 20100]


def test_a_worker_is_up_from_its_hello_and_a_stranger_hello_is_noticed() -> None:
    state = PoolState(1, sip_port_base=5100, rtp_port_base=20000)
    state.starting(0)
    state.spawned(0, 42, 1.0)
    assert state.slots[0].state == "starting"
    with pytest.raises(ChannelUnavailable, match="media worker 0 is starting"):
        state.command(0, "stats", {"call": "w0-1"})
    notices = state.received(0, Event("hello", {"worker": 0, "pid": 43, "version": "1"}), 2.0)
    assert notices == [HelloPidMismatch(0, 43)]
    assert state.slots[0].state == "up"


def test_commands_are_checked_and_routed_only_to_up_workers() -> None:
    state = up_pool(1)
    with pytest.raises(Rejected, match="no media worker"):
        state.command(5, "answer", {"call": "w0-1"})
    with pytest.raises(Rejected, match="missing 'call'"):
        state.command(0, "answer", {})
    cmd = state.command(0, "answer", {"call": "w0-1"})
    assert cmd.op == "answer" and cmd.id in state.slots[0].pending
    state.received(0, Reply(cmd.id, True, None, {}), 101.0)
    assert not state.slots[0].pending
    state.died(0)
    with pytest.raises(ChannelUnavailable, match="media worker 0 is down"):
        state.command(0, "answer", {"call": "w0-1"})


def test_a_dial_takes_the_worker_and_a_failed_one_gives_it_back() -> None:
    state = up_pool(1)
    state.reserve(0, until=200.0)
    cmd = state.command(0, "dial", {"call": "c1", "uri": "sip:x@y"})
    assert state.worker_of("c1") == 0
    assert state.slots[0].reserved_until == 0.0  # the first dial ends the reservation
    assert state.free_worker(now=101.0) is None  # the leg keeps it taken
    state.command_failed(0, cmd)
    assert state.worker_of("c1") is None and not state.slots[0].pending
    assert state.free_worker(now=101.0) == 0


def test_legs_come_with_incoming_and_go_with_ended() -> None:
    state = up_pool(2)
    state.received(1, incoming("w1-7"), 101.0)
    assert state.worker_of("w1-7") == 1
    assert state.first_leg(1) == 8  # a restart numbers on
    state.received(1, Event("ended", {"call": "w1-7", "code": 200, "reason": "BYE"}), 102.0)
    assert state.worker_of("w1-7") is None
    assert state.first_leg(1) == 8


def test_free_workers_go_round_robin_and_skip_reserved_busy_and_down_ones() -> None:
    state = up_pool(3)
    assert [state.free_worker(now=101.0) for _ in range(4)] == [0, 1, 2, 0]
    state.reserve(1, until=110.0)
    state.received(2, incoming("w2-1"), 101.0)
    assert [state.free_worker(now=101.0) for _ in range(2)] == [0, 0]
    assert state.free_worker(now=101.0, skip=frozenset({0})) is None
    assert state.free_worker(now=111.0, skip=frozenset({0})) == 1  # the reservation expired
    state.unreserve(1)
    state.died(0)
    assert state.free_worker(now=101.0) == 1


def test_a_dead_worker_fails_its_commands_and_ends_its_legs() -> None:
    state = up_pool(2)
    state.received(0, incoming("w0-1"), 101.0)
    dial = state.command(0, "dial", {"call": "c9", "uri": "sip:x@y"})
    stats = state.command(0, "stats", {"call": "w0-1"})
    other = state.command(1, "stats", {"call": "w1-1"})
    state.reserve(0, until=500.0)
    pending, ended = state.died(0)
    assert pending == sorted([dial.id, stats.id])
    assert ended == [
        Event("ended", {"call": "c9", "code": 500, "reason": "worker_died"}),
        Event("ended", {"call": "w0-1", "code": 500, "reason": "worker_died"}),
    ]
    slot = state.slots[0]
    assert slot.state == "down" and not slot.legs and slot.reserved_until == 0.0
    assert state.slots[1].pending == {other.id}
    assert state.stopped() == [other.id]
    assert {s.state for s in state.slots} == {"stopped"}


def test_a_worker_silent_for_three_health_intervals_is_named_once() -> None:
    state = up_pool(2, now=100.0)
    assert state.silent(103.5) == []
    state.received(1, Event("worker_health", {"worker": 1, "calls": 0, "uptime": 3.0}), 103.5)
    assert state.silent(104.5) == [(0, pytest.approx(4.5))]
    assert state.silent(104.6) == []  # once per silence
    assert state.silent(108.6) == [(0, pytest.approx(4.1)), (1, pytest.approx(5.1))]


def test_health_reports_are_kept_and_a_high_invite_rate_is_noticed() -> None:
    state = up_pool(1)
    args = {"worker": 0, "calls": 1, "uptime": 9.0, "invites_per_s": 55.0, "busy_refused": 3}
    notices = state.received(0, Event("worker_health", args), 105.0)
    assert notices == [InviteRateHigh(0, 55.0, 40.0)]
    assert state.received(0, Event("worker_health", {**args, "invites_per_s": 5}), 106.0) == []
    row = state.health(110.0, restarts=[2])[0]
    assert row == {
        "worker": 0,
        "state": "up",
        "pid": 1000,
        "sip_port": 5100,
        "legs": [],
        "reserved": False,
        "restarts": 2,
        "uptime": 10.0,
        "last_health": {**args, "invites_per_s": 5},
    }


def test_the_shutdown_command_is_a_fresh_command() -> None:
    state = up_pool(1)
    a, b = state.shutdown_command(), state.shutdown_command()
    assert isinstance(a, Command) and a.op == "shutdown" and a.id != b.id


def test_workers_take_callers_up_to_max_inbound_and_the_least_loaded_first() -> None:
    state = PoolState(2, sip_port_base=5100, rtp_port_base=20000, max_inbound=3)
    for i in range(2):
        state.starting(i)
        state.received(i, Event("hello", {"worker": i, "pid": 1, "version": "1"}), 100.0)
    state.received(0, incoming("w0-1"), 101.0)
    assert state.free_worker(now=101.0) == 1  # the emptier one
    state.received(1, incoming("w1-1"), 101.0)
    state.received(1, incoming("w1-2"), 101.0)
    assert state.free_worker(now=101.0) == 0
    state.received(0, incoming("w0-2"), 101.0)
    state.received(0, incoming("w0-3"), 101.0)
    assert state.free_worker(now=101.0) == 1
    state.received(1, incoming("w1-3"), 101.0)
    assert state.free_worker(now=101.0) is None  # 3 callers each: the 4th leg is kept
    with pytest.raises(ValueError):
        PoolState(1, sip_port_base=5100, rtp_port_base=20000, max_inbound=4)


def test_an_outgoing_leg_goes_near_its_peer_while_there_is_room_else_to_the_emptiest() -> None:
    state = PoolState(3, sip_port_base=5100, rtp_port_base=20000, max_inbound=3)
    for i in range(3):
        state.starting(i)
        state.received(i, Event("hello", {"worker": i, "pid": 1, "version": "1"}), 100.0)
    for leg in ("w0-1", "w0-2", "w0-3"):
        state.received(0, incoming(leg), 101.0)
    state.received(1, incoming("w1-1"), 101.0)
    assert state.place(0, now=101.0) == 0  # the caller's own worker: a local bridge
    state.command(0, "dial", {"call": "agent-1", "uri": "sip:a@b"})
    assert state.place(0, now=101.0) == 2  # worker 0 is full: the emptiest one
    state.reserve(2, until=200.0)
    assert state.place(0, now=101.0) == 1  # a reserved worker only when nothing else fits
    assert state.place(None, now=101.0, skip=frozenset({1})) == 2
    state.died(1)
    state.died(2)
    assert state.place(0, now=101.0) is None  # full or down: nowhere to dial


def test_a_link_joins_legs_of_two_workers_and_goes_with_either_leg() -> None:
    state = up_pool(2)
    state.received(0, incoming("w0-1"), 101.0)
    state.command(1, "dial", {"call": "agent-1", "uri": "sip:a@b"})
    state.command(1, "dial", {"call": "agent-2", "uri": "sip:a@b"})
    link = state.add_link("w0-1", 0, "agent-1", 1)
    other = state.add_link("w0-1", 0, "agent-2", 1)
    assert link.id != other.id
    assert state.link_of("agent-1", "w0-1") == link and state.link_of("w0-1", "x") is None
    state.received(0, Event("ended", {"call": "w0-1", "code": 200, "reason": "BYE"}), 102.0)
    # the caller's side closed with its leg: the agents' sides are left to close
    assert sorted(state.forget_links("w0-1")) == [(1, "agent-1", link.id), (1, "agent-2", other.id)]
    assert state.links == {}
    again = state.add_link("agent-1", 1, "gone", 0)
    assert state.forget_links("agent-1") == []  # the other end's leg is not there any more
    assert again.id not in state.links
    state.drop_link("k-unknown")  # nothing to drop: no error
