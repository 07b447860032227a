"""Reassembly of concatenated SMS with a fake clock (no sleeping)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.gsm.pdu import Concat, Deliver, decode_pdu, encode_deliver
from drivers.gsm.reassembly import MISSING_MARK, CompleteMessage, Reassembler

ALICE = "+85512345678"
BOB = "+85598765432"


def parts(reference: int, texts: list[str]) -> list[tuple[Concat, str]]:
    return [(Concat(reference, len(texts), i), t) for i, t in enumerate(texts, start=1)]


def test_single_part_message_is_returned_at_once() -> None:
    r = Reassembler(timeout=60)
    done = r.add(ALICE, None, "hello", now=0.0, meta=3)
    assert done == CompleteMessage(ALICE, "hello", 1, False, (), (3,), None)
    assert r.pending_count() == 0 and r.next_deadline() is None


def test_concat_with_total_one_is_a_single_message() -> None:
    r = Reassembler(timeout=60)
    done = r.add(ALICE, Concat(0xC3, 1, 1), "airtime", now=0.0, meta="slot-1")
    assert done is not None and done.text == "airtime" and done.metas == ("slot-1",)
    assert done.reference == 0xC3


def test_parts_in_order_complete_on_the_last() -> None:
    r = Reassembler(timeout=60)
    (c1, t1), (c2, t2) = parts(7, ["Hello ", "world"])
    assert r.add(ALICE, c1, t1, now=0.0, meta=1) is None
    assert r.pending_count() == 1
    done = r.add(ALICE, c2, t2, now=1.0, meta=2)
    assert done is not None
    assert (done.text, done.parts, done.incomplete, done.missing) == ("Hello world", 2, False, ())
    assert done.metas == (1, 2)
    assert r.pending_count() == 0


def test_multipart_sms_out_of_order_is_delivered_once() -> None:
    r = Reassembler(timeout=60)
    chunks = parts(42, ["a", "b", "c", "d"])
    order = [chunks[2], chunks[0], chunks[3], chunks[0], chunks[1], chunks[2]]
    results = [
        r.add(ALICE, c, t, now=float(i), meta=(c.sequence, i)) for i, (c, t) in enumerate(order)
    ]
    done = [m for m in results if m is not None]
    assert len(done) == 1
    assert done[0].text == "abcd"
    # Metas in sequence order, one per part that went in (the first copy of each).
    assert done[0].metas == ((1, 1), (2, 4), (3, 0), (4, 2))
    # The later copy of part 1 (before completion) and of part 3 (after it) were ignored;
    # their metas are handed over so the driver can delete those SIM slots too.
    assert r.take_discarded() == [(1, 3), (3, 5)]
    assert r.take_discarded() == []
    assert r.pending_count() == 0


def test_same_reference_from_two_senders_does_not_mix() -> None:
    r = Reassembler(timeout=60)
    (a1, _), (a2, _) = parts(5, ["x", "y"])
    assert r.add(ALICE, a1, "alice-1 ", now=0) is None
    assert r.add(BOB, a1, "bob-1 ", now=0) is None
    assert r.pending_count() == 2
    bob = r.add(BOB, a2, "bob-2", now=1)
    alice = r.add(ALICE, a2, "alice-2", now=1)
    assert bob is not None and bob.text == "bob-1 bob-2" and bob.sender == BOB
    assert alice is not None and alice.text == "alice-1 alice-2"


def test_same_reference_different_total_is_a_different_message() -> None:
    r = Reassembler(timeout=60)
    assert r.add(ALICE, Concat(9, 2, 1), "two-1 ", now=0) is None
    assert r.add(ALICE, Concat(9, 3, 1), "three-1 ", now=0) is None
    assert r.pending_count() == 2


def test_timeout_hands_out_what_arrived_marked_incomplete() -> None:
    r = Reassembler(timeout=30)
    chunks = parts(1, ["one ", "two ", "three ", "four"])
    r.add(ALICE, *chunks[0], now=0.0, meta="s0")
    r.add(ALICE, *chunks[2], now=10.0, meta="s2")
    assert r.next_deadline() == 40.0  # counted from the latest new part
    assert r.expire(39.9) == []
    [late] = r.expire(40.0)
    assert late.incomplete and late.missing == (2, 4)
    assert late.text == f"one {MISSING_MARK}three {MISSING_MARK}"
    assert late.metas == ("s0", "s2") and late.parts == 4
    assert r.pending_count() == 0 and r.next_deadline() is None


def test_expire_returns_oldest_deadline_first_and_keeps_the_rest() -> None:
    r = Reassembler(timeout=10)
    r.add(ALICE, Concat(1, 2, 1), "a", now=5.0)
    r.add(BOB, Concat(2, 2, 1), "b", now=0.0)
    r.add(ALICE, Concat(3, 2, 2), "c", now=20.0)
    expired = r.expire(16.0)
    assert [m.sender for m in expired] == [BOB, ALICE]
    assert r.pending_count() == 1 and r.next_deadline() == 30.0


def test_a_late_part_after_expiry_is_not_lost() -> None:
    r = Reassembler(timeout=10)
    r.add(ALICE, Concat(1, 2, 1), "first ", now=0.0)
    assert len(r.expire(10.0)) == 1
    assert r.add(ALICE, Concat(1, 2, 2), "second", now=11.0) is None
    [alone] = r.expire(21.0)
    assert alone.text == f"{MISSING_MARK}second" and alone.missing == (1,)


def test_reference_reused_later_with_new_text_is_a_new_message() -> None:
    r = Reassembler(timeout=10)
    for c, t in parts(8, ["old-1 ", "old-2"]):
        r.add(ALICE, c, t, now=0.0)
    # Within the duplicate window, same key but different content: a new message.
    assert r.add(ALICE, Concat(8, 2, 1), "new-1 ", now=5.0) is None
    done = r.add(ALICE, Concat(8, 2, 2), "new-2", now=6.0)
    assert done is not None and done.text == "new-1 new-2"
    # After the window an exact copy is a new message too (nothing is silently dropped).
    assert r.add(ALICE, Concat(8, 2, 1), "new-1 ", now=100.0) is None
    assert r.take_discarded() == []


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Reassembler(timeout=0)


@settings(max_examples=100, deadline=None)
@given(
    texts=st.lists(st.text(min_size=1, max_size=5), min_size=2, max_size=8),
    seed=st.integers(min_value=0, max_value=2**32),
    dup_count=st.integers(min_value=0, max_value=6),
)
def test_shuffled_and_duplicated_parts_give_the_message_once(
    texts: list[str], seed: int, dup_count: int
) -> None:
    rng = random.Random(seed)
    chunks = parts(200, texts)
    feed = chunks + [rng.choice(chunks) for _ in range(dup_count)]
    rng.shuffle(feed)
    r = Reassembler(timeout=60)
    done = [m for i, (c, t) in enumerate(feed) if (m := r.add(ALICE, c, t, float(i), c.sequence))]
    assert len(done) == 1
    assert done[0].text == "".join(texts) and not done[0].incomplete
    assert done[0].metas == tuple(range(1, len(texts) + 1))
    assert len(r.take_discarded()) == len(feed) - len(texts)
    assert r.pending_count() == 0 and r.expire(10**6) == []


def test_end_to_end_with_decoded_pdus() -> None:
    when = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
    text = "សួស្តី! " * 30
    pdus = encode_deliver(ALICE, text, timestamp=when, reference=77)
    assert len(pdus) > 2
    r = Reassembler(timeout=300)
    done: list[CompleteMessage] = []
    for slot, pdu in reversed(list(enumerate(pdus))):
        msg = decode_pdu(pdu)
        assert isinstance(msg, Deliver)
        got = r.add(msg.sender, msg.concat, msg.text, now=0.0, meta=slot)
        if got is not None:
            done.append(got)
    [whole] = done
    assert whole.text == text and whole.metas == tuple(range(len(pdus)))
