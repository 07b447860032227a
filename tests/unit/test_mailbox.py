import asyncio

import pytest

from actors.mailbox import Mailbox, MailboxFull


def test_reject_policy_refuses_when_full_and_keeps_what_it_has() -> None:
    box: Mailbox[int] = Mailbox(2, "reject")
    box.put(1)
    box.put(2)
    with pytest.raises(MailboxFull):
        box.put(3)
    assert [box.get_nowait(), box.get_nowait(), box.get_nowait()] == [1, 2, None]


def test_drop_oldest_policy_keeps_newest_and_counts_drops() -> None:
    box: Mailbox[int] = Mailbox(2, "drop_oldest")
    for i in range(5):
        box.put(i)
    assert box.dropped == 3
    assert box.drain() == [3, 4]


async def test_waiting_consumer_wakes_on_put() -> None:
    box: Mailbox[str] = Mailbox(4)
    waiter = asyncio.create_task(box.wait())
    await asyncio.sleep(0)
    assert not waiter.done()
    box.put("x")
    await asyncio.wait_for(waiter, 1)
    assert box.get_nowait() == "x"


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Mailbox(0)
