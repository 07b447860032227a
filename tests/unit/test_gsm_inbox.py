"""The sans-IO SIM inbox: store before delete, part by part, with a fake SIM and store.

:class:`World` plays the shell (drivers.gsm.modem.receiver) against an in-memory SIM,
network and store: it performs the inbox's actions in order and reports each outcome,
and it checks at every ``DeleteSlot`` / ``Acknowledge`` that the part given up is
durable in the store. A "crash" throws the inbox away and starts a new one from what
the store and the SIM still hold, as a restarted switch does.
"""

from __future__ import annotations

import hashlib
import random
from collections import deque
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from base.backoff import Backoff
from drivers.gsm.modem.inbox import (
    Acknowledge,
    Action,
    DeleteSlot,
    Deliver,
    Inbox,
    StorePart,
    read_part,
)
from drivers.gsm.pdu import encode_deliver, pdu_fingerprint
from drivers.gsm.types import InboundPart, InboundSms

ALICE = "+85512345678"
BOB = "+85598765432"
IDENTITY = "456061234567890"
STAMP = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
KHMER_2000 = "ក" * 2000  # 30 UCS-2 parts


def pdus(text: str, sender: str = ALICE, reference: int | None = None) -> list[str]:
    return encode_deliver(sender, text, timestamp=STAMP, reference=reference)


def new_inbox(timeout: float = 600.0) -> Inbox:
    inbox = Inbox("gsm1", timeout, Backoff(initial=5.0, maximum=60.0))
    inbox.identity = IDENTITY
    return inbox


class World:
    """A SIM of ``slots`` slots fed by a network queue, a store, and the inbox."""

    def __init__(self, slots: int = 10, *, cmt: bool = False) -> None:
        self.size = slots
        self.cmt = cmt  # the network pushes +CMT (one outstanding) instead of storing
        self.sim: dict[int, str] = {}
        self.network: deque[str] = deque()
        self.outstanding: str | None = None  # the +CMT waiting for AT+CNMA
        self.kept: dict[str, InboundPart] = {}  # the store's part records
        self.messages: dict[str, InboundSms] = {}  # recorded, by idempotency key
        self.recorded_parts: set[str] = set()
        self.handed_over: list[InboundSms] = []  # every sms_received call that stored
        self.fail_store = 0.0  # probability that a store (part or message) fails
        self.rng = random.Random(0)
        self.now = 0.0
        self.inbox = new_inbox()
        self.deleted: list[int] = []
        self.acks = 0

    # --- the network and the SIM

    def arrive(self, *items: str) -> None:
        self.network.extend(items)
        self.pump()

    def pump(self) -> None:
        while self.network:
            if self.cmt:
                if self.outstanding is not None:
                    return
                self.outstanding = self.network.popleft()
                self.step(
                    self.inbox.receive(
                        self.read(self.outstanding), None, *self.t(), **self.r(self.outstanding)
                    )
                )
                continue
            free = [i for i in range(self.size) if i not in self.sim]
            if not free:
                return
            self.sim[free[0]] = self.network.popleft()

    def t(self) -> tuple[float, float]:
        return self.now, 1_000_000.0 + self.now

    def r(self, pdu: str) -> dict[str, bool]:
        return {"recorded": self.read(pdu).key in self.recorded_parts}

    def read(self, pdu: str) -> InboundPart:
        part = read_part(pdu, modem_id="gsm1", identity=IDENTITY, wall=self.t()[1])
        assert isinstance(part, InboundPart)
        return part

    def sweep(self) -> None:
        for slot in sorted(self.sim):
            if slot in self.sim and not self.inbox.holds(slot):
                pdu = self.sim[slot]
                self.step(self.inbox.receive(self.read(pdu), slot, *self.t(), **self.r(pdu)))

    def durable(self, part_key: str) -> bool:
        return part_key in self.kept or part_key in self.recorded_parts

    # --- the shell

    def step(self, actions: list[Action]) -> None:
        queue: deque[Action] = deque(actions)
        while queue:
            action = queue.popleft()
            if isinstance(action, StorePart):
                if self.rng.random() < self.fail_store:
                    queue.extend(self.inbox.part_not_stored(action.part.key, self.now))
                else:
                    self.kept.setdefault(action.part.key, action.part)
                    queue.extend(self.inbox.part_stored(action.part.key))
            elif isinstance(action, Deliver):
                if self.rng.random() < self.fail_store:
                    queue.extend(self.inbox.not_delivered(action.token, self.now))
                else:
                    self.messages.setdefault(action.sms.idempotency_key, action.sms)
                    self.handed_over.append(action.sms)
                    self.recorded_parts.update(action.sms.part_keys)
                    for key in action.sms.part_keys:
                        self.kept.pop(key, None)
                    queue.extend(self.inbox.delivered(action.token))
            elif isinstance(action, DeleteSlot):
                pdu = self.sim.pop(action.slot)
                assert self.durable(self.read(pdu).key), "deleted a part the store lacks"
                self.deleted.append(action.slot)
            elif isinstance(action, Acknowledge):
                assert self.outstanding is not None
                assert self.durable(self.read(self.outstanding).key), "acknowledged too soon"
                self.outstanding = None
                self.acks += 1
        self.pump()

    def cmt_timeout(self) -> None:
        """The network gets no AT+CNMA: it delivers the same +CMT again later."""
        if self.outstanding is not None:
            self.network.appendleft(self.outstanding)
            self.outstanding = None
            self.pump()

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.step(self.inbox.due(*self.t()))

    def crash(self) -> None:
        """kill -9: memory is gone; the store and the SIM keep what they hold, and the
        network delivers again the +CMT nobody acknowledged."""
        if self.outstanding is not None:
            self.network.appendleft(self.outstanding)
            self.outstanding = None
        self.inbox = new_inbox()
        self.step(self.inbox.restore(list(self.kept.values()), *self.t()))
        self.sweep()


def texts(world: World) -> list[str]:
    return sorted(m.text for m in world.messages.values())


# ------------------------------------------------------------------ part by part


def test_single_sms_is_handed_over_then_deleted() -> None:
    world = World()
    world.arrive(*pdus("hello"))
    world.sweep()
    assert texts(world) == ["hello"] and world.sim == {} and world.deleted == [0]
    [sms] = world.messages.values()
    assert sms.parts == 1 and not sms.incomplete and len(sms.part_keys) == 1


def test_each_part_of_a_longer_sms_leaves_the_sim_once_stored() -> None:
    world = World()
    first, second, third = pdus("x" * 400)
    world.arrive(first)
    world.sweep()
    assert world.sim == {} and len(world.kept) == 1  # stored, then deleted
    world.arrive(third)
    world.sweep()
    assert world.sim == {} and len(world.kept) == 2 and not world.messages
    world.arrive(second)  # completes it: the message is stored, not the part
    world.sweep()
    assert texts(world) == ["x" * 400] and world.sim == {} and world.kept == {}
    [sms] = world.messages.values()
    assert sms.parts == 3 and len(sms.part_keys) == 3


def test_message_longer_than_the_sim_arrives_whole_once_in_order() -> None:
    world = World(slots=10)
    parts = pdus(KHMER_2000)
    assert len(parts) == 30
    world.arrive(*parts)  # 10 go to the SIM, 20 wait in the network
    for _ in range(40):
        world.sweep()
    assert texts(world) == [KHMER_2000]
    assert len(world.handed_over) == 1 and world.sim == {} and not world.network
    assert world.kept == {}  # the parts' records went with the message


def test_the_message_key_is_identity_and_sorted_part_fingerprints() -> None:
    world = World()
    parts = pdus("y" * 300)
    world.arrive(*reversed(parts))
    world.sweep()
    [sms] = world.messages.values()
    fingerprints = sorted(pdu_fingerprint(p) for p in parts)
    expected = hashlib.sha256("|".join([IDENTITY, *fingerprints]).encode()).hexdigest()
    assert sms.idempotency_key == expected
    assert sms.part_keys == tuple(
        hashlib.sha256(f"{IDENTITY}|{pdu_fingerprint(p)}".encode()).hexdigest() for p in parts
    )


def test_a_part_the_store_refuses_stays_on_the_sim_and_is_retried() -> None:
    world = World()
    first, second = pdus("z" * 200)
    world.fail_store = 1.0
    world.arrive(first)
    world.sweep()
    assert list(world.sim) == [0] and world.inbox.holds(0) and world.kept == {}
    deadline = world.inbox.next_deadline()
    assert deadline == 5.0  # the backoff's first delay
    world.sweep()  # a held slot is not read again
    assert world.kept == {}
    world.fail_store = 0.0
    world.advance(5.0)
    assert world.sim == {} and len(world.kept) == 1 and not world.inbox.holds(0)
    world.arrive(second)
    world.sweep()
    assert texts(world) == ["z" * 200]


def test_a_message_the_store_refuses_keeps_every_copy_until_stored() -> None:
    world = World()
    first, second = pdus("w" * 200)
    world.arrive(first)
    world.sweep()
    world.fail_store = 1.0
    world.arrive(second)
    world.sweep()
    assert list(world.sim) == [0] and not world.messages  # the completing part stays
    world.fail_store = 0.0
    world.advance(5.0)
    assert texts(world) == ["w" * 200] and world.sim == {} and world.kept == {}


def test_a_recorded_part_read_again_is_only_deleted() -> None:
    world = World()
    (pdu,) = pdus("once")
    world.arrive(pdu)
    world.sweep()
    world.arrive(pdu)  # a copy left behind (its delete failed before a crash)
    world.crash()
    assert len(world.handed_over) == 1 and world.sim == {}


def test_duplicate_of_a_stored_part_is_deleted_at_once() -> None:
    world = World()
    first, _second = pdus("d" * 200)
    world.arrive(first)
    world.sweep()
    world.arrive(first)
    world.sweep()
    assert world.sim == {} and len(world.kept) == 1 and world.deleted == [0, 0]


def test_duplicate_of_a_part_not_stored_yet_waits_for_it() -> None:
    world = World()
    first, second = pdus("e" * 200)
    world.fail_store = 1.0
    world.arrive(first, first)
    world.sweep()
    assert sorted(world.sim) == [0, 1] and world.inbox.holds(0) and world.inbox.holds(1)
    world.fail_store = 0.0
    world.advance(5.0)
    assert world.sim == {} and len(world.kept) == 1
    world.arrive(second)
    world.sweep()
    assert texts(world) == ["e" * 200] and len(world.handed_over) == 1


def test_late_copy_after_the_message_is_recorded_is_deleted() -> None:
    world = World()
    first, second = pdus("f" * 200)
    world.arrive(first, second)
    world.sweep()
    world.arrive(second)
    world.sweep()
    assert world.sim == {} and len(world.handed_over) == 1


def test_missing_part_hands_over_what_arrived_after_the_timeout() -> None:
    world = World()
    first, _second, third = pdus("g" * 400)
    world.arrive(first, third)
    world.sweep()
    assert world.sim == {} and len(world.kept) == 2 and world.inbox.next_deadline() == 600.0
    world.advance(599.0)
    assert not world.messages
    world.advance(1.0)
    [sms] = world.messages.values()
    assert sms.incomplete and sms.missing == (2,) and len(sms.part_keys) == 2
    assert world.kept == {}


def test_restart_between_parts_goes_on_from_the_store() -> None:
    world = World()
    parts = pdus("h" * 600)
    world.arrive(*parts[:3])
    world.sweep()
    assert len(world.kept) == 3 and world.sim == {}
    world.crash()
    world.arrive(*parts[3:])
    world.sweep()
    assert texts(world) == ["h" * 600] and world.kept == {} and len(world.handed_over) == 1


def test_restored_parts_keep_their_reassembly_deadline() -> None:
    world = World()
    first, _second = pdus("i" * 200)
    world.arrive(first)
    world.sweep()
    world.now = 500.0
    world.crash()  # the part was read at 0: 100 s of its 600 s wait are left
    deadline = world.inbox.next_deadline()
    assert deadline is not None and abs(deadline - 600.0) < 1e-6
    world.advance(100.0)
    [sms] = world.messages.values()
    assert sms.incomplete and sms.missing == (2,)


def test_store_interrupted_by_a_restart_of_the_worker_is_retried() -> None:
    inbox = new_inbox()
    first, _ = pdus("j" * 200)
    part = World().read(first)
    [action] = inbox.receive(part, 3, 0.0, 0.0, recorded=False)
    assert isinstance(action, StorePart)  # ...and the worker was cancelled here
    assert inbox.holds(3) and inbox.next_deadline() == 600.0
    inbox.resume(10.0)
    assert inbox.next_deadline() == 10.0
    [again] = inbox.due(10.0, 10.0)
    assert again == action
    assert inbox.part_stored(part.key) == [DeleteSlot(3)]


# ------------------------------------------------------------------ +CMT


def test_cmt_part_is_acknowledged_only_once_stored() -> None:
    world = World(cmt=True)
    parts = pdus("k" * 400)
    world.fail_store = 1.0
    world.arrive(*parts)
    assert world.acks == 0 and world.outstanding is not None and world.kept == {}
    world.fail_store = 0.0
    world.cmt_timeout()  # the network delivers it again: now stored, then acknowledged
    assert world.acks == 3 and texts(world) == ["k" * 400]
    assert world.kept == {} and len(world.handed_over) == 1


def test_cmt_recorded_or_duplicate_is_acknowledged_at_once() -> None:
    world = World(cmt=True)
    (pdu,) = pdus("single")
    world.arrive(pdu, pdu)
    assert world.acks == 2 and len(world.handed_over) == 1  # the copy: recorded already
    assert texts(world) == ["single"]


# ------------------------------------------------------------------ property


@pytest.mark.faults
@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    slots=st.integers(1, 6),
    cmt=st.booleans(),
    fail=st.sampled_from([0.0, 0.2, 0.5]),
)
def test_any_order_failures_and_crashes_lose_nothing_and_record_once(
    seed: int, slots: int, cmt: bool, fail: float
) -> None:
    rng = random.Random(seed)
    world = World(slots=slots, cmt=cmt)
    world.rng = random.Random(seed + 1)
    world.fail_store = fail
    sent = {
        ALICE: "ក" * rng.randint(1, 300),
        BOB: "long " * rng.randint(1, 90),
        "+85511111111": "short",
    }
    items = [p for sender, text in sent.items() for p in pdus(text, sender)]
    rng.shuffle(items)
    items += rng.sample(items, k=min(3, len(items)))  # the network repeats some
    for item in items:
        world.arrive(item)
        roll = rng.random()
        if roll < 0.1:
            world.crash()
        elif roll < 0.2 and cmt:
            world.cmt_timeout()
        else:
            world.sweep()
    world.fail_store = 0.0
    for _ in range(200):  # let retries and re-deliveries run
        world.cmt_timeout()
        world.crash() if rng.random() < 0.05 else world.sweep()
        world.advance(61.0)
        if not world.sim and not world.network and world.outstanding is None and not world.kept:
            break
    got = {m.sender: m.text for m in world.messages.values()}
    assert got == sent
    assert all(not m.incomplete for m in world.messages.values())
    assert world.sim == {} and world.kept == {} and not world.network
