"""Child process for the kill -9 test: writes events, prints each one acknowledged.

Usage: python kill9_writer.py DB START  — writes event n = START, START+1, ... with
idempotency key "ev-<n>" to actor "contact:<n % 1000>", in concurrent bursts, and prints
"ACK <n>" (flushed) only after the write's future resolved, i.e. after its fsync'd commit.
"""

import asyncio
import sys

from switch.store import Event, Store, Write


async def main(path: str, start: int) -> None:
    store = await Store.open(path)
    n = start
    while True:
        burst = []
        for _ in range(50):
            ev = Event(f"contact:{n % 1000}", "message_in", float(n), {"n": n})
            burst.append((n, store.submit(Write(events=(ev,), idem=f"ev-{n}"))))
            n += 1
        for number, future in burst:
            await future
            sys.stdout.write(f"ACK {number}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
