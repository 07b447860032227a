"""drivers.gsm.Modem against the simulated modem on a pty: the reliability fixes.

- An SMS with more parts than the SIM has slots arrives whole, once, in order (each part
  is kept by the sink, then deleted), also across a restart of the driver between parts.
- ``+CMT`` parts are acknowledged only once the sink has them.
- ``ATZ`` (the modem's defaults: CNMI off, status reports dropped) is noticed by the
  health check, the settings are restored, an SMS that arrived meanwhile without any
  URC is found by the sweep, and diagnose says what it repaired.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from drivers.gsm import Modem, ModemSettings, SimulatedModem
from drivers.gsm.simulator import Delivery
from drivers.gsm.types import DeliveryReport, GsmCallEvent, InboundPart, InboundSms, ModemStatus

pytestmark = pytest.mark.faults

SENDER = "+85512345678"
KHMER_2000 = "ក" * 2000  # 30 UCS-2 parts


class Store:
    """What a core keeps: it outlives the driver (and its sink) across restarts."""

    def __init__(self) -> None:
        self.parts: dict[str, InboundPart] = {}
        self.recorded: set[str] = set()
        self.sms: dict[str, InboundSms] = {}  # by idempotency key
        self.handed_over = 0
        self.kept_parts = 0
        self.refuse_parts = False


class Sink:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.reports: list[DeliveryReport] = []

    async def sms_received(self, sms: InboundSms) -> None:
        self.store.handed_over += 1
        self.store.sms.setdefault(sms.idempotency_key, sms)
        self.store.recorded.update(sms.part_keys)
        for key in sms.part_keys:
            self.store.parts.pop(key, None)

    async def part_received(self, part: InboundPart) -> None:
        if self.store.refuse_parts:
            raise RuntimeError("store unavailable")
        if part.key not in self.store.recorded:
            self.store.parts[part.key] = part
            self.store.kept_parts += 1

    def stored_parts(self, modem_id: str) -> list[InboundPart]:
        return [p for p in self.store.parts.values() if p.modem_id == modem_id]

    def part_recorded(self, part_key: str) -> bool:
        return part_key in self.store.recorded

    async def status_report(self, modem_id: str, report: DeliveryReport) -> None:
        self.reports.append(report)

    async def modem_status(self, status: ModemStatus) -> None:
        pass

    async def call_event(self, event: GsmCallEvent) -> None:
        pass


async def until(check: Callable[[], object], timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.03)


class Rig:
    def __init__(self, sim: SimulatedModem, link: Path, profile: str) -> None:
        self.sim, self.link, self.profile = sim, link, profile
        self.store = Store()
        self.sink = Sink(self.store)
        self.modem: Modem | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self, **options: Any) -> Modem:
        self.sink = Sink(self.store)
        settings = ModemSettings(id="gsm1", port=str(self.link), profile=self.profile)
        options = {"retry_delay": 0.1, "max_backoff": 0.5, "command_timeout": 1.0, **options}
        self.modem = Modem(settings, self.sink, **options)
        self.task = asyncio.create_task(self.modem.run())
        modem = self.modem
        await until(lambda: modem.status().state == "ready")
        return modem

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            self.task = None

    def used(self) -> int:
        return int(self.sim.state()["storage"]["used"])

    def texts(self) -> list[str]:
        return [s.text for s in self.store.sms.values()]


async def rig_for(tmp_path: Path, profile: str, **sim_options: Any) -> AsyncIterator[Rig]:
    link = tmp_path / "ttySIM0"
    timing = {"report_delay": 0.05, "cnma_timeout": 0.5, "reboot_time": 0.2}
    sim = SimulatedModem(link, profile=profile, timing=timing, **sim_options)
    await sim.start()
    rig = Rig(sim, link, profile)
    try:
        yield rig
    finally:
        await rig.stop()
        await sim.stop()


@pytest.fixture(params=["huawei", "simcom"])
async def rig(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    async for r in rig_for(tmp_path, request.param, storage_size=10):
        yield r


@pytest.fixture
async def huawei(tmp_path: Path) -> AsyncIterator[Rig]:
    async for r in rig_for(tmp_path, "huawei", storage_size=10):
        yield r


# ------------------------------------------------------------------ long SMS


async def test_sms_longer_than_the_sim_arrives_whole_once_in_order(rig: Rig) -> None:
    await rig.start()
    parts = await rig.sim.deliver_sms(SENDER, KHMER_2000)
    assert parts == 30 and rig.sim.state()["storage"]["total"] == 10
    await until(lambda: rig.store.sms, timeout=60)
    [sms] = rig.store.sms.values()
    assert sms.text == KHMER_2000 and sms.parts == 30 and not sms.incomplete
    assert rig.store.handed_over == 1
    await until(lambda: rig.used() == 0 and rig.sim.state()["network_pending"] == 0)
    assert rig.store.parts == {}  # the parts' records went with the message
    assert rig.store.kept_parts == 29  # every part but the one that completed it


async def test_restart_between_parts_loses_nothing(huawei: Rig) -> None:
    rig = huawei
    await rig.start()
    await rig.sim.deliver_sms(SENDER, KHMER_2000, Delivery(interval=0.05))
    await until(lambda: len(rig.store.parts) >= 8, timeout=30)
    await rig.stop()  # the switch goes away between parts...
    await asyncio.sleep(0.3)  # ...while more arrive on the SIM
    assert rig.used() > 0 and not rig.store.sms
    await rig.start()
    await until(lambda: rig.store.sms, timeout=60)
    assert rig.texts() == [KHMER_2000]
    await until(lambda: rig.used() == 0)
    assert rig.store.parts == {}


async def test_cmt_parts_are_acknowledged_only_once_the_sink_has_them(huawei: Rig) -> None:
    rig = huawei
    await rig.start()
    rig.store.refuse_parts = True
    text = "ជំរាបសួរ " * 30  # 5 UCS-2 parts, pushed with +CMT
    await rig.sim.deliver_sms(SENDER, text, Delivery(mode="cmt"))
    await until(lambda: rig.sim.state()["cmt"]["unacked"] >= 2, timeout=10)
    assert rig.sim.state()["cmt"]["acked"] == 0  # nothing acknowledged while not durable
    assert rig.store.parts == {} and not rig.store.sms
    rig.store.refuse_parts = False  # the network delivers again; now they are kept
    await until(lambda: rig.store.sms, timeout=30)
    assert rig.texts() == [text]
    await until(
        lambda: (
            rig.sim.state()["cmt"]["acked"] == 5 and rig.sim.state()["cmt"]["outstanding"] is False
        )
    )
    assert rig.store.handed_over == 1 and rig.store.parts == {}


# ------------------------------------------------------------------ settings drift


async def test_atz_is_repaired_and_an_sms_stored_without_urc_is_found(huawei: Rig) -> None:
    rig = huawei
    modem = await rig.start(poll_interval=0.5)
    set_up = rig.sim.state()["settings"]["cnmi"]
    assert set_up == [2, 1, 0, 1, 0]
    assert (await modem.raw_at("ATZ"))[-1] == "OK"  # a technician, or a reset
    cmti = rig.sim.state()["counters"]["cmti_sent"]
    rig.sim.deliver_sms_now(SENDER, "arrived while CNMI was off")
    state = rig.sim.state()
    if state["settings"]["cnmi"] != set_up:  # the modem told nobody about it
        assert state["counters"]["cmti_sent"] == cmti and state["storage"]["used"] == 1
    await until(lambda: rig.texts() == ["arrived while CNMI was off"], timeout=15)
    assert rig.sim.state()["settings"]["cnmi"] == set_up  # restored
    await until(lambda: rig.used() == 0)
    # status reports flow again (CNMI <ds> was 0: the modem dropped them)
    [ref] = await modem.send_sms(SENDER, "report me", reference=1)
    await until(lambda: any(r.message_reference == ref for r in rig.sink.reports), timeout=10)
    checks = {c.name: c for c in await modem.diagnose()}
    assert checks["sms_settings"].status == "warn"
    assert "CNMI was 0,0,0,0,0 (set up as 2,1,0,1,0)" in checks["sms_settings"].detail


async def test_diagnose_itself_restores_lost_settings(huawei: Rig) -> None:
    rig = huawei
    modem = await rig.start(poll_interval=3600)  # no health round during the test
    checks = {c.name: c for c in await modem.diagnose()}
    assert checks["sms_settings"].status == "ok"
    await modem.raw_at("AT+CNMI=0,0,0,0,0")
    checks = {c.name: c for c in await modem.diagnose()}
    assert checks["sms_settings"].status == "warn"
    assert "restored 1 time(s)" in checks["sms_settings"].detail
    assert rig.sim.state()["settings"]["cnmi"] == [2, 1, 0, 1, 0]
