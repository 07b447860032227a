"""A media worker's leg rules and audio wiring, without pjsua2
(drivers/sip/media/worker/legs.py, conference.py, commands.py)."""

from __future__ import annotations

import pytest

from drivers.sip.media.protocol import COMMANDS
from drivers.sip.media.worker.commands import Commands
from drivers.sip.media.worker.conference import wanted_connections
from drivers.sip.media.worker.legs import CommandFailed, Leg, Legs


class Port:
    """Anything the conference bridge knows by its slot number."""

    def __init__(self, slot: int) -> None:
        self.slot = slot

    def getPortId(self) -> int:  # pjsua2's name
        return self.slot


def leg(leg_id: str, direction: str = "in", port: int | None = None) -> Leg:
    return Leg(id=leg_id, call=object(), direction=direction, created=0.0, port=port)


def test_one_conversation_per_worker() -> None:
    legs = Legs(3, first_leg=5)
    first = legs.offer(now=0.0)
    assert first == "w3-5"
    legs.add(leg(first))
    assert legs.offer(now=0.0) is None  # busy: 486
    assert (legs.invites, legs.busy_refused) == (2, 1)
    legs.remove(legs.leg(first))
    assert legs.offer(now=0.0) == "w3-6"


def test_a_reservation_refuses_inbound_calls_until_it_ends() -> None:
    legs = Legs(0)
    legs.reserve(5.0, now=10.0)
    assert legs.reserved(12.0) and legs.offer(now=12.0) is None
    assert legs.offer(now=15.0) == "w0-1"  # expired
    legs.add(leg("w0-1"))
    with pytest.raises(CommandFailed, match="busy: 1 leg"):
        legs.reserve(5.0, now=15.0)
    other = Legs(1)
    for seconds in (0.0, 61.0):
        with pytest.raises(CommandFailed, match=r"\(0, 60\]"):
            other.reserve(seconds, now=0.0)
    other.reserve(60.0, now=0.0)
    other.release()
    assert other.offer(now=1.0) == "w1-1"


def test_an_unknown_leg_is_a_failed_command() -> None:
    with pytest.raises(CommandFailed, match="no such call 'w0-9'"):
        Legs(0).leg("w0-9")


def test_unanswered_incoming_legs_are_overdue_once() -> None:
    legs = Legs(0)
    a, b = leg("w0-1"), leg("w0-2")
    a.deadline, b.deadline = 10.0, 20.0
    legs.add(a)
    legs.add(b)
    assert legs.overdue(9.0) == []
    assert legs.overdue(10.0) == [a]
    assert legs.overdue(30.0) == [b]
    assert legs.overdue(40.0) == []


def test_removing_a_leg_unbridges_its_peers() -> None:
    legs = Legs(0)
    a, b = leg("a"), leg("b")
    a.peers.add("b")
    b.peers.add("a")
    legs.add(a)
    legs.add(b)
    legs.remove(a)
    assert "a" not in legs and b.peers == set() and a.peers == set()


def test_bridged_legs_hear_each_other_and_a_recorder_hears_the_mix() -> None:
    legs = Legs(0)
    a, b = leg("a", port=1), leg("b", port=2)
    a.peers.add("b")
    b.peers.add("a")
    a.player, a.recorder = Port(7), Port(9)
    legs.add(a)
    legs.add(b)
    media = {1: Port(1), 2: Port(2)}
    wanted, objs = wanted_connections(legs, media)
    assert wanted == {(1, 2), (2, 1), (7, 1), (2, 9), (1, 9), (7, 9)}
    assert set(objs) == {1, 2, 7, 9}


def test_a_pcm_port_and_its_leg_hear_each_other_and_silent_legs_connect_nothing() -> None:
    legs = Legs(0)
    a, quiet = leg("a", port=1), leg("q")  # "q" has no media yet
    a.pcm = Port(5)
    quiet.peers.add("a")
    legs.add(a)
    legs.add(quiet)
    wanted, _ = wanted_connections(legs, {1: Port(1)})
    assert wanted == {(1, 5), (5, 1)}


def test_every_protocol_command_has_a_handler() -> None:
    assert set(Commands.HANDLERS) == set(COMMANDS)
    for name in Commands.HANDLERS.values():
        assert callable(getattr(Commands, name))
