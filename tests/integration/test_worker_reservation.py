"""Churn protection between the core and the edge: a worker the core reserved for a call
it is about to dial (click-to-call, trunk test) is not handed an inbound call by
Kamailio meanwhile. The reserved worker answers 486, the dispatcher fails over, and the
inbound caller lands on another worker.

Before reservations, ``free_worker()`` could pick worker 0 while Kamailio was handing it
an inbound call: the worker announced the inbound call and then also placed the core's
dial, two conversations in one worker.
"""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from drivers.sip.media.pool import WorkerPool
from tests.integration.kamailio_harness import describe, needs_kamailio_and_sipp, running_edge

pytestmark = [
    pytest.mark.integration,
    needs_kamailio_and_sipp,
    pytest.mark.skipif(importlib.util.find_spec("pjsua2") is None, reason="needs pjsua2"),
]


async def test_inbound_calls_skip_the_worker_reserved_for_a_core_call() -> None:
    async with running_edge(workers=2, ping_interval=1) as edge:
        pool = WorkerPool(
            2,
            socket_dir=edge.workdir / "w",
            proxy=edge.sip.listen,
            sip_port_base=edge.sip.worker_port_base,
            rtp_port_base=edge.worker_ports[0] + 1000,
            health_interval=0.5,
        )
        await pool.start()
        try:
            await asyncio.sleep(2.5)  # both workers answer the dispatcher's probes
            assert all(d["active"] for d in await edge.sup.dispatcher_state())
            reserved = await pool.reserve(seconds=30)
            assert reserved is not None
            other = 1 - reserved
            # Call-load dispatching sees no call on the reserved worker (the reservation is
            # the core's), so it may offer each call to it first: 486, then the other one.
            for _ in range(2):
                caller = await edge.sipp(
                    "uac_call", edge.trunk_port, remote=edge.target, service="+85523900100"
                )
                while True:
                    worker, event = await asyncio.wait_for(pool.events.get(), 10)
                    if event.name == "incoming":
                        break
                assert worker == other, event
                await pool.command(worker, "answer", call=event.call)
                assert await caller.wait() == 0, describe(caller)
                while not (event.name == "ended" and worker == other):
                    worker, event = await asyncio.wait_for(pool.events.get(), 10)
            await asyncio.sleep(0.7)  # a health report
            refused = pool.health()[reserved]["last_health"].get("busy_refused")
            assert refused in (1, 2), pool.health()
            assert pool.health()[reserved]["legs"] == []
            # The core's own call then goes out of the reserved worker as planned.
            await pool.command(reserved, "dial", call="click-1", uri="sip:1001@127.0.0.1:9")
            assert pool.worker_of("click-1") == reserved
            await pool.command(reserved, "hangup", call="click-1")
        finally:
            await pool.stop()
