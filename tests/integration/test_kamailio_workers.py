"""The edge in front of the real media workers (pjsua2, drivers/sip/media/pool.py): the
conventions both sides rely on: worker ports, dispatcher probing, X-Switch-Origin."""

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


async def test_a_trunk_call_reaches_a_pjsua2_worker_which_answers_it() -> None:
    async with running_edge(workers=2, ping_interval=1) as edge:
        pool = WorkerPool(
            2,
            socket_dir=edge.workdir / "w",
            proxy=edge.sip.listen,
            sip_port_base=edge.sip.worker_port_base,
            rtp_port_base=edge.worker_ports[0] + 1000,
        )
        await pool.start()
        try:
            # the workers answer the dispatcher's OPTIONS probes: all stay active
            await asyncio.sleep(2.5)
            assert all(d["active"] for d in await edge.sup.dispatcher_state())
            caller = await edge.sipp(
                "uac_call", edge.trunk_port, remote=edge.target, service="+85523900100"
            )
            while True:
                worker, event = await asyncio.wait_for(pool.events.get(), 10)
                if event.name == "incoming":
                    break
            assert event.args["headers"] == {"X-Switch-Origin": "trunk;id=p1"}
            assert event.args["to_user"] == "+85523900100"
            await pool.command(worker, "answer", call=event.call)
            assert await caller.wait() == 0, describe(caller)
        finally:
            await pool.stop()
