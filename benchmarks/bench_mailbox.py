"""Mailbox ping-pong between two actors vs raw asyncio.Queue ping-pong, same run.

.venv/bin/python benchmarks/bench_mailbox.py [round_trips]
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from actors.runtime import Actor, Registry
from base.clock import RealClock


async def raw_queue(n: int) -> float:
    ping: asyncio.Queue[int] = asyncio.Queue(1000)
    pong: asyncio.Queue[int] = asyncio.Queue(1000)

    async def ponger() -> None:
        while True:
            v = await ping.get()
            if v < 0:
                return
            pong.put_nowait(v)

    task = asyncio.create_task(ponger())
    start = time.perf_counter()
    for i in range(n):
        ping.put_nowait(i)
        await pong.get()
    elapsed = time.perf_counter() - start
    ping.put_nowait(-1)
    await task
    return n / elapsed


class Pong(Actor):
    __slots__ = ()

    async def handle(self, message: Any) -> Any:
        self.registry.tell("ping:a", message)


class Ping(Actor):
    __slots__ = ("done", "left")

    def __init__(self, actor_id: str, registry: Registry) -> None:
        super().__init__(actor_id, registry)
        self.left = 0
        self.done: asyncio.Future[None] | None = None

    async def handle(self, message: Any) -> Any:
        if isinstance(message, tuple):
            self.left, self.done = message
            self.registry.tell("pong:b", 0)
            return
        self.left -= 1
        if self.left <= 0:
            assert self.done is not None
            self.done.set_result(None)
        else:
            self.registry.tell("pong:b", message + 1)


async def mailbox(n: int) -> float:
    reg = Registry(RealClock(), park_after=60)
    reg.register_kind("ping", Ping)
    reg.register_kind("pong", Pong)
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    start = time.perf_counter()
    reg.tell("ping:a", (n, done))
    await done
    elapsed = time.perf_counter() - start
    await reg.close()
    return n / elapsed


async def main(n: int) -> None:
    raws, boxes = [], []
    for _ in range(3):  # interleave to share whatever else the machine is doing
        raws.append(await raw_queue(n))
        boxes.append(await mailbox(n))
    raw, box = max(raws), max(boxes)
    print(f"round trips per run:        {n}")
    print(f"raw asyncio.Queue ping-pong: {raw:12,.0f} round trips/s")
    print(f"actor mailbox ping-pong:     {box:12,.0f} round trips/s")
    print(f"mailbox / raw:               {box / raw:12.0%}   (goal >= 70%)")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
