"""drivers.gsm.Modem against the simulated modem on a real pty (no switch core).

The sink records what it gets and can be told to fail; assertions look at both sides:
what the core was handed, and what the SIM/simulator holds afterwards.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from base.errors import ChannelUnavailable
from drivers.gsm import Modem, SmsSendError
from drivers.gsm.pdu import encode_submit
from drivers.gsm.simulator import Delivery, SimulatedModem
from drivers.gsm.types import DeliveryReport, GsmCallEvent, InboundPart, InboundSms, ModemStatus
from switch.config import ModemConfig

SENDER = "+85512345678"


class Sink:
    """A ModemSink that records; ``fail_next`` makes sms_received raise that many times
    (and storing a part raise while it is not 0: the store is unavailable)."""

    def __init__(self) -> None:
        self.parts: dict[str, InboundPart] = {}  # kept until their message is recorded
        self.recorded: set[str] = set()  # part keys of recorded messages
        self.sms: list[InboundSms] = []
        self.reports: list[DeliveryReport] = []
        self.statuses: list[ModemStatus] = []
        self.calls: list[GsmCallEvent] = []
        self.fail_next = 0
        self.attempts = 0
        self.keys: list[str] = []

    async def sms_received(self, sms: InboundSms) -> None:
        self.attempts += 1
        self.keys.append(sms.idempotency_key)
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("store unavailable")
        self.sms.append(sms)
        self.recorded.update(sms.part_keys)
        for key in sms.part_keys:
            self.parts.pop(key, None)

    async def part_received(self, part: InboundPart) -> None:
        if self.fail_next:
            raise RuntimeError("store unavailable")
        self.parts[part.key] = part

    def stored_parts(self, modem_id: str) -> list[InboundPart]:
        return [p for p in self.parts.values() if p.modem_id == modem_id]

    def part_recorded(self, part_key: str) -> bool:
        return part_key in self.recorded

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
        await asyncio.sleep(0.03)


class Rig:
    def __init__(self, sim: SimulatedModem, modem: Modem, sink: Sink) -> None:
        self.sim, self.modem, self.sink = sim, modem, sink

    def ready(self) -> bool:
        return self.modem.status().state == "ready"

    def used(self) -> int:
        return int(self.sim.state()["storage"]["used"])


async def _rig(tmp_path: Path, profile: str, **sim_options: Any) -> AsyncGenerator[Rig, None]:
    link = tmp_path / "ttySIM0"
    sim = SimulatedModem(
        link,
        profile=profile,
        timing={"report_delay": 0.05, "cnma_timeout": 1.0, "reboot_time": 0.2},
        **sim_options,
    )
    await sim.start()
    sink = Sink()
    modem = Modem(
        ModemConfig(id="gsm1", port=str(link), profile=profile),
        sink,
        poll_interval=0.3,
        reassembly_timeout=1.0,
        retry_delay=0.1,
        max_backoff=0.5,
        command_timeout=0.5,
        resweep_delay=0.2,
    )
    task = asyncio.create_task(modem.run())
    rig = Rig(sim, modem, sink)
    try:
        await until(rig.ready)
        yield rig
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sim.stop()


@pytest.fixture(params=["huawei", "simcom", "quectel"])
async def rig(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    async for r in _rig(tmp_path, request.param):
        yield r


@pytest.fixture
async def one(tmp_path: Path) -> AsyncIterator[Rig]:
    async for r in _rig(tmp_path, "simcom"):
        yield r


# ------------------------------------------------------------------ core path


async def test_init_reaches_ready_with_identity_operator_and_signal(rig: Rig) -> None:
    st = rig.modem.status()
    assert st.state == "ready" and st.registered
    assert st.imei == "861234567890123"
    assert st.iccid == "8985501234567890123"  # digits only, F padding stripped
    assert st.imsi == "456061234567890"
    assert st.operator == "Smart" and st.signal_dbm == -113 + 2 * 20
    # every change went to the sink, ending with the ready status
    assert rig.sink.statuses[-1] == st
    assert rig.sink.statuses[0].state == "initialising"
    assert not rig.sim.state()["settings"]["echo"]


async def test_single_sms_is_stored_then_deleted(rig: Rig) -> None:
    await rig.sim.deliver_sms(SENDER, "hello € [x]")
    await until(lambda: rig.sink.sms)
    [sms] = rig.sink.sms
    assert (sms.sender, sms.text, sms.parts, sms.incomplete) == (SENDER, "hello € [x]", 1, False)
    assert sms.modem_id == "gsm1" and len(sms.idempotency_key) == 64
    assert sms.smsc_timestamp is not None
    await until(lambda: rig.used() == 0)


async def test_multipart_out_of_order_with_duplicate_is_one_sms_and_slots_emptied(
    rig: Rig,
) -> None:
    text = "សួស្តី ពិភពលោក! " * 12
    parts = await rig.sim.deliver_sms(SENDER, text, Delivery(order=(3, 1, 2), duplicate=(2,)))
    assert parts == 3
    await until(lambda: rig.sink.sms)
    await until(lambda: rig.used() == 0)
    await asyncio.sleep(0.3)
    [sms] = rig.sink.sms
    assert sms.text == text and sms.parts == 3 and not sms.incomplete


async def test_missing_part_is_delivered_incomplete_after_the_timeout(one: Rig) -> None:
    await one.sim.deliver_sms(SENDER, "x" * 400, Delivery(drop=(2,)))
    await until(lambda: one.sink.sms, timeout=10)
    [sms] = one.sink.sms
    assert sms.incomplete and sms.missing == (2,) and sms.parts == 3
    await until(lambda: one.used() == 0)


async def test_sink_raising_keeps_the_slot_until_the_next_sweep_stores_it(rig: Rig) -> None:
    rig.sink.fail_next = 1
    await rig.sim.deliver_sms(SENDER, "keep me")
    await until(lambda: rig.sink.attempts >= 1)
    assert rig.used() == 1  # the SIM still holds it while the core could not store it
    await until(lambda: rig.sink.sms, timeout=10)
    assert [s.text for s in rig.sink.sms] == ["keep me"]
    await until(lambda: rig.used() == 0)
    assert rig.sink.attempts == 2


async def test_sweep_at_start_delivers_what_the_sim_already_holds(tmp_path: Path) -> None:
    link = tmp_path / "ttySIM0"
    sim = SimulatedModem(link, profile="huawei")
    await sim.start()
    try:
        sim.deliver_sms_now(SENDER, "stored while the switch was down", Delivery(mode="cmti"))
        sim.deliver_sms_now(SENDER, "y" * 300, Delivery(mode="cmti"))
        assert sim.state()["storage"]["used"] == 3
        sink = Sink()
        modem = Modem(
            ModemConfig(id="m", port=str(link), profile="huawei"), sink, command_timeout=0.5
        )
        task = asyncio.create_task(modem.run())
        try:
            await until(lambda: len(sink.sms) == 2)
            await until(lambda: sim.state()["storage"]["used"] == 0)
            assert sorted(s.text for s in sink.sms) == sorted(
                ["stored while the switch was down", "y" * 300]
            )
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        await sim.stop()


async def test_prompt_left_open_by_a_killed_predecessor_is_left(tmp_path: Path) -> None:
    """The previous owner died between AT+CMGS and the Ctrl-Z: nothing must go out."""
    link = tmp_path / "ttySIM0"
    sim = SimulatedModem(link, profile="huawei")
    await sim.start()
    try:
        pdu = encode_submit(SENDER, "half sent", reference=1)[0]
        fd = os.open(link, os.O_RDWR | os.O_NOCTTY)
        try:
            os.write(fd, f"AT+CMGS={pdu.tpdu_length}\r".encode())
            await asyncio.sleep(0.2)
            os.write(fd, pdu.hex[:10].encode())  # killed mid-PDU
        finally:
            os.close(fd)
        sink = Sink()
        modem = Modem(
            ModemConfig(id="m", port=str(link), profile="huawei"), sink, command_timeout=0.5
        )
        task = asyncio.create_task(modem.run())
        try:
            await until(lambda: modem.status().state == "ready", timeout=5.0)
            assert sim.sent == []
            assert [s.state for s in sink.statuses if s.state == "failed"] == []
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        await sim.stop()


async def test_same_message_read_again_after_a_crash_has_the_same_key(tmp_path: Path) -> None:
    """A crash between store and delete: the next run delivers the same key again."""
    link = tmp_path / "ttySIM0"
    sim = SimulatedModem(link, profile="simcom")
    await sim.start()
    keys: list[str] = []
    try:
        sim.deliver_sms_now(SENDER, "z" * 200, Delivery(mode="cmti"))
        for _ in range(2):
            sink = Sink()
            sink.fail_next = 1_000  # never stored: the SIM keeps it
            modem = Modem(ModemConfig(id="m", port=str(link), profile="simcom"), sink)
            task = asyncio.create_task(modem.run())
            await until(lambda s=sink: s.attempts >= 1)  # type: ignore[misc]
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            keys.append(sink.keys[0])
        assert sim.state()["storage"]["used"] == 2  # never stored, never deleted
        assert keys[0] == keys[1]
    finally:
        await sim.stop()


async def test_cmt_is_stored_before_it_is_acknowledged(one: Rig) -> None:
    await one.sim.deliver_sms(SENDER, "direct", Delivery(mode="cmt"))
    await until(lambda: one.sink.sms)
    await until(lambda: one.sim.state()["cmt"]["acked"] >= 1)
    assert one.sink.sms[0].text == "direct"
    assert one.sim.state()["cmt"]["unacked"] == 0 or one.sim.state()["cmt"]["outstanding"] == 0


# ------------------------------------------------------------------ SMS out


async def test_send_multipart_references_text_and_delivery_reports(rig: Rig) -> None:
    text = "Thai สวัสดีครับ and Persian سلام دنیا and emoji 🙂 " * 3
    refs = await rig.modem.send_sms(SENDER, text, reference=200)
    sent = rig.sim.state()["sent_messages"]
    assert sent[-1]["text"] == text and sent[-1]["parts"] == len(refs) > 1
    assert sent[-1]["references"] == refs
    await until(lambda: len(rig.sink.reports) == len(refs))
    assert {r.message_reference for r in rig.sink.reports} == set(refs)
    assert all(r.outcome == "delivered" and r.recipient == SENDER for r in rig.sink.reports)


async def test_failed_delivery_report(one: Rig) -> None:
    one.sim.set_outcome("+85599999999", "failed")
    [ref] = await one.modem.send_sms("+85599999999", "nope", reference=1)
    await until(lambda: one.sink.reports)
    assert one.sink.reports[0].outcome == "failed"
    assert one.sink.reports[0].message_reference == ref


async def test_status_reports_stored_on_the_sim_are_read_and_deleted(tmp_path: Path) -> None:
    rigs = _rig(tmp_path, "quectel", status_reports="cdsi")
    r = await anext(rigs)
    try:
        [ref] = await r.modem.send_sms(SENDER, "via cdsi", reference=9)
        await until(lambda: r.sink.reports)
        assert r.sink.reports[0].message_reference == ref
        assert r.sink.reports[0].outcome == "delivered"
        await until(lambda: r.used() == 0)
    finally:
        await rigs.aclose()


async def test_cms_error_is_an_sms_send_error(one: Rig) -> None:
    one.sim.set_outcome("+85588888888", "delivered", submit_error=38)
    with pytest.raises(SmsSendError) as info:
        await one.modem.send_sms("+85588888888", "barred", reference=2)
    assert info.value.code == 38 and info.value.permanent
    one.sim.fail_next("+CMGS", "+CMS ERROR: 42")
    with pytest.raises(SmsSendError) as info2:
        await one.modem.send_sms(SENDER, "congestion", reference=3)
    assert info2.value.code == 42 and not info2.value.permanent
    assert await one.modem.send_sms(SENDER, "then fine", reference=4)


# ------------------------------------------------------------------ no injection


BAD_NUMBERS = ["+855\r\nAT+CFUN=0", "+855;AT+CFUN=0", "+855\x1a", "+855\nAT", "+855 12", "12a", ""]


async def test_numbers_with_control_or_at_text_are_rejected(one: Rig) -> None:
    before = len(one.sim.transcript())
    for number in BAD_NUMBERS:
        with pytest.raises(ValueError):
            await one.modem.send_sms(number, "x", reference=1)
        with pytest.raises(ValueError):
            await one.modem.dial(number)
    assert len(one.sim.transcript()) == before  # nothing was written


async def test_text_with_at_commands_only_travels_inside_the_pdu(one: Rig) -> None:
    text = "hi\r\nAT+CFUN=0\x1a;AT+CFUN=0\x1b"
    await one.modem.send_sms(SENDER, text, reference=3)
    assert one.sim.state()["sent_messages"][-1]["text"] == text
    assert one.sim.state()["cfun"] == 1
    assert not any("CFUN=0" in str(line) for line in one.sim.transcript())


BAD_LINES = ["AT+CSQ\rAT+CFUN=0", "AT+CSQ\n", "AT\x1a", "AT\x1b", "ATé", "CFUN=0", "AT+CMGS=20"]


async def test_raw_at_rejects_control_characters_and_hand_sent_sms(one: Rig) -> None:
    before = len(one.sim.transcript())
    for line in BAD_LINES:
        with pytest.raises(ValueError):
            await one.modem.raw_at(line)
    assert len(one.sim.transcript()) == before


async def test_dtmf_and_ussd_codes_are_validated(one: Rig) -> None:
    for digits in ("1;AT+CFUN=0", "1\r", "E"):
        with pytest.raises(ValueError):
            await one.modem.send_dtmf(digits)
    for code in ('*124#";AT+CFUN=0', "*1\r#"):
        with pytest.raises(ValueError):
            await one.modem.ussd(code)


# ------------------------------------------------------------------ USSD, AT, diagnose


async def test_ussd_raw_at_and_diagnose(rig: Rig) -> None:
    assert "2.50" in await rig.modem.ussd("*124#", timeout=5)
    answer = await rig.modem.raw_at("AT+CSQ")
    assert answer[-1] == "OK" and answer[0].startswith("+CSQ:")
    checks = {c.name: c for c in await rig.modem.diagnose()}
    assert checks["sim"].status == "ok" and checks["registration"].status == "ok"
    assert checks["signal"].status == "ok" and checks["smsc"].status == "ok"
    assert checks["storage"].status == "ok" and "of 10" in checks["storage"].detail


async def test_ussd_in_khmer_ucs2(one: Rig) -> None:
    answer = await one.modem.ussd("*100#", timeout=5)
    assert any("\u1780" <= ch <= "\u17ff" for ch in answer)


# ------------------------------------------------------------------ recovery


async def test_unresponsive_modem_leaves_ready_then_recovers(one: Rig) -> None:
    one.sim.set_unresponsive(True)
    await until(lambda: not one.ready(), timeout=10)
    with pytest.raises(ChannelUnavailable):
        await one.modem.send_sms(SENDER, "later", reference=5)
    await until(lambda: one.modem.status().state == "failed", timeout=10)
    one.sim.set_unresponsive(False)
    await until(one.ready, timeout=15)
    assert await one.modem.send_sms(SENDER, "now", reference=6)
    assert "disconnected" in [s.state for s in one.sink.statuses]


async def test_unplug_and_replug_comes_back_ready_and_sweeps(one: Rig) -> None:
    one.sim.unplug()
    await until(lambda: one.modem.status().state in ("disconnected", "failed"), timeout=10)
    one.sim.deliver_sms_now(SENDER, "while unplugged", Delivery(mode="cmti"))
    await asyncio.sleep(0.3)
    one.sim.replug()
    await until(one.ready, timeout=15)
    await until(lambda: one.sink.sms, timeout=10)
    assert one.sink.sms[0].text == "while unplugged"
    await until(lambda: one.used() == 0)


async def test_reboot_urc_triggers_reinit(one: Rig) -> None:
    assert (await one.modem.raw_at("AT+CFUN=1,1"))[-1] == "OK"
    cnmi = [2, 1, 0, 1, 0]
    await until(lambda: one.sim.state()["settings"]["cnmi"] != cnmi, timeout=5)  # forgotten
    await until(lambda: one.ready() and one.sim.state()["settings"]["cnmi"] == cnmi, timeout=15)


# ------------------------------------------------------------------ calls


async def test_incoming_call_answer_and_remote_hangup(rig: Rig) -> None:
    rig.sim.incoming_call(SENDER)
    await until(lambda: rig.sink.calls, timeout=10)
    first = rig.sink.calls[0]
    assert first.kind == "incoming" and first.number == SENDER
    await rig.modem.answer()
    rig.sim.remote_hangup()
    await until(lambda: any(c.kind == "ended" for c in rig.sink.calls), timeout=10)
    kinds = [c.kind for c in rig.sink.calls]
    assert kinds.index("answered") < kinds.index("ended")
    assert {c.call_id for c in rig.sink.calls} == {first.call_id}


def _lines_in(rig: Rig) -> list[str]:
    return [line["text"] for line in rig.sim.transcript() if line["dir"] == "in"]


async def test_enable_audio_is_sent_once_when_the_call_is_active(rig: Rig) -> None:
    enable = rig.modem.profile.enable_audio  # huawei: AT^DDSETEX=2, quectel: AT+QPCMV=1,0
    rig.sim.incoming_call(SENDER)
    await until(lambda: rig.sink.calls, timeout=10)
    assert enable is None or enable not in _lines_in(rig)  # not while it only rings
    await rig.modem.answer()
    await until(lambda: any(c.kind == "answered" for c in rig.sink.calls), timeout=10)
    lines = _lines_in(rig)
    if enable is None:  # SIM800: analog audio, nothing to switch on
        assert not any(t.startswith(("AT^DDSETEX", "AT+QPCMV", "AT+CPCMREG")) for t in lines)
    else:
        assert lines.count(enable) == 1
        assert lines.index(enable) > lines.index("ATA")
    rig.sim.remote_hangup()
    await until(lambda: any(c.kind == "ended" for c in rig.sink.calls), timeout=10)
    # an outgoing call answered by the far end switches the audio on as well
    rig.sim.set_call_behaviour("*", "answer", delay=0.1)
    await rig.modem.dial("+85587654321")
    await until(lambda: [c for c in rig.sink.calls if c.kind == "answered"][1:], timeout=10)
    if enable is not None:
        await until(lambda: _lines_in(rig).count(enable) == 2, timeout=10)
    await rig.modem.hangup()


async def test_outgoing_call_dtmf_and_hangup(rig: Rig) -> None:
    rig.sim.set_call_behaviour("*", "answer", delay=0.1)
    await rig.modem.dial("+85587654321")
    await until(lambda: any(c.kind == "answered" for c in rig.sink.calls), timeout=10)
    await rig.modem.send_dtmf("12#")
    await rig.modem.hangup()
    await until(lambda: rig.sink.calls and rig.sink.calls[-1].kind == "ended")
    log = rig.sim.state()["call_log"][-1]
    assert log["dtmf"] == "12#" and log["number"] == "+85587654321"


# ------------------------------------------------------------------ SIM, network, noise


async def _start(
    tmp_path: Path, config: dict[str, Any], **sim_options: Any
) -> tuple[SimulatedModem, Modem, Sink, asyncio.Task[None]]:
    link = tmp_path / "ttySIM0"
    sim = SimulatedModem(link, profile="simcom", **sim_options)
    await sim.start()
    sink = Sink()
    modem = Modem(
        ModemConfig(id="m", port=str(link), profile="simcom", **config),
        sink,
        poll_interval=0.2,
        retry_delay=0.1,
        command_timeout=0.5,
    )
    return sim, modem, sink, asyncio.create_task(modem.run())


async def _stop(sim: SimulatedModem, task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await sim.stop()


async def test_configured_pin_unlocks_the_sim(tmp_path: Path) -> None:
    sim, modem, _, task = await _start(tmp_path, {"pin": "1234"}, pin="1234")
    try:
        await until(lambda: modem.status().state == "ready")
    finally:
        await _stop(sim, task)


async def test_wrong_pin_is_tried_once_and_reported(tmp_path: Path) -> None:
    sim, modem, _, task = await _start(tmp_path, {"pin": "0000"}, pin="1234")
    try:
        await until(lambda: modem.status().state == "pin_required")
        await asyncio.sleep(0.6)  # several polls: never a second try (the SIM would lock)
        assert sim.state()["sim"] == "sim_pin"
        assert sum('AT+CPIN="' in str(line) for line in sim.transcript()) == 1
        checks = {c.name: c.status for c in await modem.diagnose()}
        assert checks["pin"] == "fail"
    finally:
        await _stop(sim, task)


async def test_no_sim_then_inserted(tmp_path: Path) -> None:
    link = tmp_path / "ttySIM0"
    sim = SimulatedModem(link, profile="simcom")
    await sim.start()
    sim.remove_sim()
    sink = Sink()
    modem = Modem(ModemConfig(id="m", port=str(link)), sink, poll_interval=0.2)
    task = asyncio.create_task(modem.run())
    try:
        await until(lambda: modem.status().state == "no_sim")
        with pytest.raises(ChannelUnavailable):
            await modem.send_sms(SENDER, "x", reference=1)
        sim.insert_sim()
        await until(lambda: modem.status().state == "ready")
    finally:
        await _stop(sim, task)


async def test_registration_denied_and_back(one: Rig) -> None:
    one.sim.set_registration(3)
    await until(lambda: one.modem.status().state == "denied")
    assert not one.modem.status().registered
    one.sim.set_registration(5)  # roaming counts as registered
    await until(one.ready)
    assert one.modem.status().registered


async def test_signal_changes_are_reported(one: Rig) -> None:
    one.sim.set_signal(31)
    await until(lambda: one.modem.status().signal_dbm == -51)
    one.sim.set_signal(99)
    await until(lambda: one.modem.status().signal_dbm is None)
    assert any(s.signal_dbm == -51 for s in one.sink.statuses)


async def test_interleaved_urcs_and_garbage_do_not_lose_messages(tmp_path: Path) -> None:
    rigs = _rig(tmp_path, "huawei", interleave_urcs=True)
    r = await anext(rigs)
    try:
        r.sim.garbage(b"\r\n\x00\xffnoise\r\n")
        sends = asyncio.gather(
            *(r.modem.send_sms(SENDER, f"out {i} " * 30, reference=i) for i in range(3))
        )
        await r.sim.deliver_sms(SENDER, "in " * 100, Delivery(order=(2, 1)))
        await r.sim.deliver_sms("+85511111111", "second")
        refs = await sends
        assert all(len(x) == 2 for x in refs)
        await until(lambda: len(r.sink.sms) == 2)
        assert sorted(s.text for s in r.sink.sms) == sorted(["in " * 100, "second"])
        await until(lambda: r.used() == 0)
        await until(lambda: len(r.sink.reports) == 6)
    finally:
        await rigs.aclose()


async def test_storage_full_is_swept(tmp_path: Path) -> None:
    rigs = _rig(tmp_path, "simcom", storage_size=3)
    r = await anext(rigs)
    try:
        for i in range(6):
            await r.sim.deliver_sms(SENDER, f"m{i}")
        await until(lambda: len(r.sink.sms) == 6)
        assert sorted(s.text for s in r.sink.sms) == [f"m{i}" for i in range(6)]
        await until(lambda: r.used() == 0)
    finally:
        await rigs.aclose()


async def test_outgoing_call_rings_then_local_hangup(rig: Rig) -> None:
    rig.sim.set_call_behaviour("*", "ring")
    await rig.modem.dial("+85587654321")
    await until(lambda: any(c.kind == "ringing" for c in rig.sink.calls), timeout=5)
    await rig.modem.hangup()
    await until(lambda: rig.sink.calls[-1].kind == "ended")
    kinds = [c.kind for c in rig.sink.calls]
    assert kinds[0] == "dialing" and "answered" not in kinds
    assert rig.sink.calls[-1].cause == "local_hangup"
    assert rig.sim.state()["call_log"][-1]["ended_at"] is not None
