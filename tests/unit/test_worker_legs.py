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


def three_legs() -> tuple[Legs, Leg, Leg, Leg, dict[int, Port]]:
    legs = Legs(0)
    cust, agent, sup = leg("c", port=1), leg("a", "out", port=2), leg("s", "out", port=3)
    cust.peers.add("a")
    agent.peers.add("c")
    for one in (cust, agent, sup):
        legs.add(one)
    return legs, cust, agent, sup, {1: Port(1), 2: Port(2), 3: Port(3)}


def test_a_listener_hears_both_sides_and_is_heard_by_none() -> None:
    legs, _, _, sup, media = three_legs()
    sup.hears |= {"c", "a"}
    wanted, _ = wanted_connections(legs, media)
    assert wanted == {(1, 2), (2, 1), (1, 3), (2, 3)}  # nothing from 3


def test_a_whisper_is_heard_by_the_agent_only() -> None:
    legs, _, agent, sup, media = three_legs()
    sup.hears |= {"c", "a"}
    agent.hears.add("s")
    wanted, _ = wanted_connections(legs, media)
    assert (3, 2) in wanted and (3, 1) not in wanted


def test_removing_a_leg_stops_whoever_listened_to_it() -> None:
    legs, cust, agent, sup, media = three_legs()
    sup.hears |= {"c", "a"}
    agent.hears.add("s")
    legs.remove(sup)
    assert agent.hears == set() and sup.hears == set()
    legs.remove(cust)
    assert wanted_connections(legs, media)[0] == set()


def test_every_protocol_command_has_a_handler() -> None:
    assert set(Commands.HANDLERS) == set(COMMANDS)
    for name in Commands.HANDLERS.values():
        assert callable(getattr(Commands, name))


def test_a_worker_parks_up_to_max_inbound_callers_and_keeps_the_rest_for_dials() -> None:
    legs = Legs(0, max_inbound=3)
    for n in (1, 2, 3):
        got = legs.offer(now=0.0)
        assert got == f"w0-{n}"
        legs.add(leg(got))
    assert legs.offer(now=0.0) is None  # a 4th caller: 486, the edge tries another worker
    with pytest.raises(CommandFailed, match="busy: 3 leg"):
        legs.reserve(5.0, now=0.0)
    legs.room()  # an agent's leg still fits
    legs.add(leg("agent-1", "out"))
    with pytest.raises(CommandFailed, match="full: 4 legs"):
        legs.room()
    with pytest.raises(ValueError):
        Legs(0, max_inbound=4)


def test_a_parking_worker_counts_callers_and_a_one_conversation_worker_any_leg() -> None:
    parking = Legs(0, max_inbound=2)
    parking.add(leg("agent-1", "out"))
    parking.add(leg("agent-2", "out"))
    assert parking.offer(now=0.0) == "w0-1"  # agents' legs do not count as callers
    parking.add(leg("w0-1"))
    assert parking.offer(now=0.0) == "w0-2"
    parking.add(leg("w0-2"))
    assert parking.offer(now=0.0) is None  # 4 legs: full
    parking.remove(parking.leg("agent-1"))
    assert parking.offer(now=0.0) is None  # 2 callers: its limit
    single = Legs(1)
    single.add(leg("agent-1", "out"))  # a click-to-call's first leg
    assert single.offer(now=0.0) is None


def test_a_reservation_with_room_for_a_conversation_is_taken_beside_waiting_callers() -> None:
    legs = Legs(0, max_inbound=3)
    legs.add(leg(legs.offer(now=0.0) or ""))
    legs.reserve(5.0, now=0.0)  # one caller parked: two legs stay free
    assert legs.offer(now=1.0) is None


def test_a_linked_leg_and_its_link_port_hear_each_other_and_the_recorder_hears_it() -> None:
    legs = Legs(0)
    a = leg("a", port=1)
    a.links["k1"] = Port(6)
    a.recorder = Port(9)
    legs.add(a)
    wanted, objs = wanted_connections(legs, {1: Port(1)})
    assert wanted == {(1, 6), (6, 1), (1, 9), (6, 9)}
    assert set(objs) == {1, 6, 9}


def test_legs_waiting_to_the_same_music_share_one_player() -> None:
    from drivers.sip.media.worker.ua import MediaAgent

    created: list[tuple[str, int]] = []

    class Player(Port):
        def __init__(self) -> None:
            super().__init__(20 + len(created))

        def createPlayer(self, path: str, options: int) -> None:  # pjsua2's name
            created.append((path, options))

    agent = MediaAgent(
        None, index=0, emit=lambda *_: None, log=None, sip_port=1, rtp_port=2, proxy="x:1"
    )
    agent.classes = type("Classes", (), {"player": Player})()  # type: ignore[assignment]
    agent.conference.apply = lambda legs: None  # type: ignore[method-assign]
    a, b = leg("a", port=1), leg("b", port=2)
    agent.legs.add(a)
    agent.legs.add(b)
    a.player = agent.looping_player("/s/hold.wav")
    b.player = agent.looping_player("/s/hold.wav")
    assert a.player is b.player and created == [("/s/hold.wav", 0)]
    wanted, _ = wanted_connections(agent.legs, {1: Port(1), 2: Port(2)})
    assert wanted == {(20, 1), (20, 2)}  # one port feeds both legs
    agent.drop_player(a)
    assert agent.dead_players == [] and b.player is not None  # b still hears it
    agent.drop_player(b)
    assert len(agent.dead_players) == 1 and agent.shared_players == {}
    assert agent.looping_player("/s/hold.wav") is not b.player  # a fresh one next time
