"""Actor runtime: get-or-spawn, supervision with backoff and cut-off, hibernation."""

import asyncio
from typing import Any

import pytest

from actors.mailbox import MailboxFull
from actors.runtime import Actor, ActorFailed, Registry, ShuttingDown
from base.clock import FakeClock
from base.errors import ChannelUnavailable, Rejected

# A fake "durable store": what survives a crash.
DURABLE: dict[str, int] = {}
STARTS: list[str] = []


class Counter(Actor):
    __slots__ = ("value",)

    def __init__(self, actor_id: str, registry: Registry) -> None:
        super().__init__(actor_id, registry)
        self.value = 0

    async def start(self) -> None:
        STARTS.append(self.actor_id)
        self.value = DURABLE.get(self.actor_id, 0)

    async def handle(self, message: Any) -> Any:
        if message == "crash":
            self.value = -999  # in-memory damage that must not survive the restart
            raise RuntimeError("boom")
        if message == "refuse":
            raise Rejected("refused", "a bad request")
        if message == "disk_full":
            raise ChannelUnavailable("the disk holding the store is full")
        if message == "get":
            return self.value
        if message == "slow":
            await asyncio.sleep(0.01)
        self.value += 1
        DURABLE[self.actor_id] = self.value
        return self.value


@pytest.fixture(autouse=True)
def _reset() -> None:
    DURABLE.clear()
    STARTS.clear()


def make(clock: FakeClock, **kw: Any) -> Registry:
    reg = Registry(clock, **kw)
    reg.register_kind("counter", Counter)
    return reg


async def test_same_id_lands_in_same_actor(clock: FakeClock) -> None:
    reg = make(clock)
    assert await reg.ask("counter:a", "inc") == 1
    assert await reg.ask("counter:a", "inc") == 2
    assert await reg.ask("counter:b", "inc") == 1
    assert reg.live_count("counter") == 2
    assert STARTS == ["counter:a", "counter:b"]


async def test_unknown_kind_is_refused(clock: FakeClock) -> None:
    reg = make(clock)
    with pytest.raises(KeyError):
        reg.tell("nope:x", "inc")


async def test_crash_fails_that_message_and_restarts_from_durable_state(clock: FakeClock) -> None:
    reg = make(clock)
    await reg.ask("counter:a", "inc")
    await reg.ask("counter:a", "inc")
    with pytest.raises(RuntimeError):
        await reg.ask("counter:a", "crash")
    # the restarted actor reloaded 2 from the durable store, not the damaged -999
    assert await reg.ask("counter:a", "get") == 2
    assert STARTS.count("counter:a") == 2


async def test_a_refused_request_is_not_a_crash(clock: FakeClock) -> None:
    reg = make(clock, restart_max=2, restart_backoff=10.0)
    await reg.ask("counter:a", "inc")
    for _ in range(10):  # far past restart_max: a client sending bad requests
        with pytest.raises(Rejected):
            await reg.ask("counter:a", "refuse")
    assert await reg.ask("counter:a", "get") == 1  # no restart, no backoff, no cut-off
    assert STARTS == ["counter:a"]


async def test_an_unavailable_store_fails_the_message_but_is_not_a_crash(clock: FakeClock) -> None:
    reg = make(clock, restart_max=2, restart_backoff=10.0)
    await reg.ask("counter:a", "inc")
    for _ in range(10):  # the disk is full for a while
        with pytest.raises(ChannelUnavailable):
            await reg.ask("counter:a", "disk_full")
    assert await reg.ask("counter:a", "inc") == 2  # working again at once, state intact
    assert STARTS == ["counter:a"]


async def test_crash_loop_is_cut_off_then_retried_after_cutoff(clock: FakeClock) -> None:
    reg = make(clock, restart_max=2, restart_backoff=0.0, cutoff_seconds=30)
    for _ in range(3):
        with pytest.raises(RuntimeError):
            await reg.ask("counter:a", "crash")
    with pytest.raises(ActorFailed):
        reg.tell("counter:a", "inc")
    # the rest of the system keeps running
    assert await reg.ask("counter:b", "inc") == 1
    clock.advance(31)
    assert await reg.ask("counter:a", "inc") == 1


async def test_restart_backoff_waits_on_the_clock(clock: FakeClock) -> None:
    reg = make(clock, restart_max=10, restart_backoff=1.0)
    with pytest.raises(RuntimeError):
        await reg.ask("counter:a", "crash")
    with pytest.raises(RuntimeError):
        await reg.ask("counter:a", "crash")  # second crash: 1 s backoff before restart
    pending = asyncio.ensure_future(reg.ask("counter:a", "get"))
    await asyncio.sleep(0.01)
    assert not pending.done()
    clock.advance(1.0)
    assert await asyncio.wait_for(pending, 1) == 0


async def test_idle_actor_hibernates_and_wakes_with_its_state(clock: FakeClock) -> None:
    reg = make(clock, park_after=1, hibernate_after=10)
    await reg.ask("counter:a", "inc")
    clock.advance(2)
    reg.sweep()  # parks the task
    await asyncio.sleep(0)
    clock.advance(20)
    assert reg.sweep() == 1
    assert not reg.is_live("counter:a")
    assert await reg.ask("counter:a", "inc") == 2  # revived from "disk"
    assert STARTS == ["counter:a", "counter:a"]


async def test_full_mailbox_rejects_with_error(clock: FakeClock) -> None:
    reg = make(clock, mailbox_size=2)
    reg.tell("counter:a", "slow")
    reg.tell("counter:a", "slow")
    with pytest.raises(MailboxFull):
        reg.tell("counter:a", "slow")


async def test_close_drains_mailboxes_then_refuses(clock: FakeClock) -> None:
    reg = make(clock)
    for _ in range(50):
        reg.tell("counter:a", "slow")
    await reg.close()
    assert DURABLE["counter:a"] == 50
    with pytest.raises(ShuttingDown):
        reg.tell("counter:a", "inc")


async def test_timers_fire_on_the_injected_clock_only(clock: FakeClock) -> None:
    reg = make(clock)
    reg.schedule("counter:a", 30.0, "inc")
    await asyncio.sleep(0.01)
    assert "counter:a" not in DURABLE
    clock.advance(29.9)
    await asyncio.sleep(0.01)
    assert "counter:a" not in DURABLE
    clock.advance(0.2)
    assert await reg.ask("counter:a", "get") == 1
    handle = reg.schedule("counter:a", 5.0, "inc")
    handle.cancel()
    clock.advance(10)
    assert await reg.ask("counter:a", "get") == 1
