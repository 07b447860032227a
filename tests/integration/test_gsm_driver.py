"""The GSM driver against the simulated modem on a real pty (no switch core)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from drivers.gsm.gsm_modem import Modem
from drivers.gsm.simulator import SimulatedModem
from drivers.gsm.values import (
    DeliveryReport,
    GsmCallEvent,
    InboundSms,
    ModemStatus,
    SmsSendError,
)
from switch.config import ModemConfig
from switch.errors import ChannelUnavailable


class Sink:
    def __init__(self) -> None:
        self.sms: list[InboundSms] = []
        self.reports: list[DeliveryReport] = []
        self.statuses: list[ModemStatus] = []
        self.calls: list[GsmCallEvent] = []
        self.fail_next = 0

    async def sms_received(self, sms: InboundSms) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("store unavailable")
        self.sms.append(sms)

    def part_stored(self, part_key: str) -> bool:
        return any(part_key in s.part_keys for s in self.sms)

    async def status_report(self, modem_id: str, report: DeliveryReport) -> None:
        self.reports.append(report)

    async def modem_status(self, status: ModemStatus) -> None:
        self.statuses.append(status)

    async def call_event(self, event: GsmCallEvent) -> None:
        self.calls.append(event)


async def until(check: Callable[[], object], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


class Rig:
    def __init__(self, sim: SimulatedModem, modem: Modem, sink: Sink) -> None:
        self.sim, self.modem, self.sink = sim, modem, sink

    def ready(self) -> bool:
        return self.modem.status().state == "ready"


@pytest.fixture(params=["huawei", "simcom", "quectel"])
async def rig(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    sim = SimulatedModem(
        tmp_path / "ttySIM0",
        profile=request.param,
        timing={"report_delay": 0.05, "cnma_timeout": 1.0},
    )
    await sim.start()
    sink = Sink()
    modem = Modem(
        ModemConfig(id="gsm1", port=str(tmp_path / "ttySIM0"), profile=request.param),
        sink,
        poll_interval=0.5,
        reassembly_timeout=1.5,
        retry_delay=0.2,
        command_timeout=1.0,
        resweep_delay=0.5,
    )
    task = asyncio.create_task(modem.run())
    r = Rig(sim, modem, sink)
    try:
        await until(r.ready)
        yield r
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sim.stop()


async def test_identity_signal_and_registration(rig: Rig) -> None:
    st = rig.modem.status()
    assert st.imei == "861234567890123" and st.iccid == "8985501234567890123"
    assert st.operator == "Smart" and st.signal_dbm == -113 + 2 * 20 and st.registered


async def test_multipart_out_of_order_with_duplicate_is_delivered_once_then_deleted(
    rig: Rig,
) -> None:
    text = "សួស្តី ពិភពលោក! " * 12
    parts = await rig.sim.deliver_sms("+85512345678", text, order=[3, 1, 2], duplicate=[2])
    assert parts == 3
    await until(lambda: rig.sink.sms)
    await asyncio.sleep(0.3)
    [sms] = rig.sink.sms
    assert sms.text == text and sms.parts == 3 and not sms.incomplete
    assert sms.sender == "+85512345678"
    await until(lambda: rig.sim.state()["storage"]["used"] == 0)


async def test_missing_part_is_delivered_incomplete_after_the_timeout(rig: Rig) -> None:
    await rig.sim.deliver_sms("+85512345678", "x" * 400, drop=[2])
    await until(lambda: rig.sink.sms, timeout=10)
    [sms] = rig.sink.sms
    assert sms.incomplete and sms.missing == (2,)
    await until(lambda: rig.sim.state()["storage"]["used"] == 0)


async def test_a_store_failure_keeps_the_sms_on_the_sim_until_it_is_stored(rig: Rig) -> None:
    rig.sink.fail_next = 1
    await rig.sim.deliver_sms("+85512345678", "keep me")
    await until(lambda: rig.sink.sms, timeout=15)
    assert [s.text for s in rig.sink.sms] == ["keep me"]
    await until(lambda: rig.sim.state()["storage"]["used"] == 0)


async def test_same_sms_read_twice_has_the_same_idempotency_key(rig: Rig) -> None:
    rig.sink.fail_next = 1  # first read is not stored: the sweep reads it again
    await rig.sim.deliver_sms("+85512345678", "twice", order=[1])
    await until(lambda: rig.sink.sms, timeout=15)
    key = rig.sink.sms[0].idempotency_key
    assert len(key) == 64


async def test_send_multipart_gets_references_and_delivery_reports(rig: Rig) -> None:
    text = "Thai สวัสดีครับ and Persian سلام دنیا and emoji 🙂 " * 3
    refs = await rig.modem.send_sms("+85512345678", text, reference=200)
    sent = rig.sim.state()["sent_messages"]
    assert sent[-1]["text"] == text and sent[-1]["parts"] == len(refs) > 1
    await until(lambda: len(rig.sink.reports) == len(refs))
    assert {r.message_reference for r in rig.sink.reports} == set(refs)
    assert all(r.outcome == "delivered" for r in rig.sink.reports)


async def test_failed_delivery_and_submit_error(rig: Rig) -> None:
    rig.sim.set_outcome("+85599999999", "failed")
    await rig.modem.send_sms("+85599999999", "nope", reference=1)
    await until(lambda: rig.sink.reports)
    assert rig.sink.reports[0].outcome == "failed"
    rig.sim.set_outcome("+85588888888", "delivered", submit_error=38)
    with pytest.raises(SmsSendError) as info:
        await rig.modem.send_sms("+85588888888", "barred", reference=2)
    assert info.value.code == 38 and info.value.permanent


async def test_text_with_at_commands_goes_out_only_inside_the_pdu(rig: Rig) -> None:
    await rig.modem.send_sms("+85512345678", "hi\r\nAT+CFUN=0\x1a;AT+CFUN=1,1", reference=3)
    lines = rig.sim.transcript()
    assert not any("CFUN=0" in str(line) for line in lines)
    with pytest.raises(ValueError):
        await rig.modem.send_sms("+855\r\nAT+CFUN=0", "x", reference=4)
    with pytest.raises(ValueError):
        await rig.modem.raw_at("AT+CSQ\rAT+CFUN=0")


async def test_ussd_and_raw_at(rig: Rig) -> None:
    assert "2.50" in await rig.modem.ussd("*124#")
    assert (await rig.modem.raw_at("AT+CSQ"))[-1] == "OK"
    checks = {c.name: c.status for c in await rig.modem.diagnose()}
    assert checks["sim"] == "ok" and checks["registration"] == "ok"


async def test_unresponsive_modem_recovers_and_sending_waits(rig: Rig) -> None:
    rig.sim.set_unresponsive(True)
    await until(lambda: not rig.ready(), timeout=15)
    with pytest.raises(ChannelUnavailable):
        await rig.modem.send_sms("+85512345678", "later", reference=5)
    rig.sim.set_unresponsive(False)
    await until(rig.ready, timeout=20)
    assert await rig.modem.send_sms("+85512345678", "now", reference=6)


async def test_unplug_and_replug_comes_back_ready(rig: Rig) -> None:
    rig.sim.unplug()
    await until(lambda: not rig.ready(), timeout=10)
    await asyncio.sleep(0.5)
    rig.sim.replug()
    await until(rig.ready, timeout=20)
    await rig.sim.deliver_sms("+85512345678", "after replug")
    await until(lambda: rig.sink.sms)


async def test_incoming_call_events(rig: Rig) -> None:
    rig.sim.incoming_call("+85512345678")
    await until(lambda: rig.sink.calls, timeout=10)
    assert rig.sink.calls[0].kind == "incoming" and rig.sink.calls[0].number == "+85512345678"
    await rig.modem.answer()
    rig.sim.remote_hangup()
    await until(lambda: any(c.kind == "ended" for c in rig.sink.calls), timeout=10)
