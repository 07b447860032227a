"""The simulated modem's fault knobs and calls, through a real pty."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.gsm.simulator import SimulatedModem
from drivers.gsm.simulator.terminal import PortClosed, RawTerminal

FAST = {
    "cmgs_delay": 0.01,
    "reboot_time": 0.1,
    "ring_interval": 0.1,
    "dial_delay": 0.02,
    "answer_delay": 0.05,
    "cnma_timeout": 0.3,
}


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[SimulatedModem]:
    modem = SimulatedModem(tmp_path / "ttySIM0", timing=FAST)
    await modem.start()
    yield modem
    await modem.stop()


@pytest.fixture
async def term(sim: SimulatedModem) -> AsyncIterator[RawTerminal]:
    async with RawTerminal(sim.link_path) as t:
        await t.command("ATE0")
        yield t


async def test_unplug_closes_the_port_and_replug_keeps_the_path_and_the_sim(
    sim: SimulatedModem, term: RawTerminal
) -> None:
    await term.command("AT+CNMI=2,1,0,0,0")
    await sim.deliver_sms("+85512345678", "kept on the SIM")
    await term.read_until(b'+CMTI: "SM",0\r\n')
    old_device = sim.device

    sim.unplug()
    assert not sim.link_path.exists() and not sim.link_path.is_symlink()
    with pytest.raises(PortClosed):
        await term.read_until(b"never", timeout=1)
    with pytest.raises(PortClosed):
        term.write("AT\r")
    await sim.deliver_sms("+85512345678", "arrives while unplugged")
    assert sim.state()["network_pending"] == 1

    sim.replug()
    assert sim.link_path.is_symlink() and os.readlink(sim.link_path) == sim.device
    assert sim.device is not None and old_device is not None
    async with RawTerminal(sim.link_path) as again:
        assert await again.command("AT") == "AT\r\r\nOK\r\n"  # fresh boot: echo on
        await again.command("ATE0")
        listing = await again.command("AT+CMGL=4")
        assert listing.count("+CMGL:") == 2  # CNMI reset to 0: stored silently
    assert sim.state()["network_pending"] == 0


async def test_unresponsive_swallows_everything_until_cleared(
    sim: SimulatedModem, term: RawTerminal
) -> None:
    sim.set_unresponsive(True)
    term.write("AT\r")
    await sim.deliver_sms("+85512345678", "stored but not announced")
    assert await term.drain(0.2) == b""
    assert sim.state()["responsive"] is False
    sim.set_unresponsive(False)
    assert await term.command("AT") == "\r\nOK\r\n"
    assert sim.state()["storage"]["used"] == 1


async def test_garbage_is_written_raw(sim: SimulatedModem, term: RawTerminal) -> None:
    sim.garbage(b"\xff\x00noise\r\n")
    assert await term.read_until(b"noise\r\n") == b"\xff\x00noise\r\n"
    assert await term.command("AT") == "\r\nOK\r\n"


async def test_fail_next_with_empty_response_means_no_answer(
    sim: SimulatedModem, term: RawTerminal
) -> None:
    sim.fail_next("AT+CSQ", "")
    term.write("AT+CSQ\r")
    assert await term.drain(0.1) == b""
    assert await term.command("AT+CSQ") == "\r\n+CSQ: 20,99\r\n\r\nOK\r\n"


async def test_clear_failures_forgets_what_fail_next_left(
    sim: SimulatedModem, term: RawTerminal
) -> None:
    sim.fail_next("AT+CSQ", "ERROR", count=5)
    assert await term.command("AT+CSQ") == "\r\nERROR\r\n"
    assert sim.clear_failures() == 4
    assert await term.command("AT+CSQ") == "\r\n+CSQ: 20,99\r\n\r\nOK\r\n"
    assert sim.clear_failures() == 0


async def test_remove_sim_on_quectel_emits_cpin_urc(tmp_path: Path) -> None:
    async with (
        SimulatedModem(tmp_path / "tty", profile="quectel", timing=FAST) as sim,
        RawTerminal(sim.link_path) as term,
    ):
        await term.command("ATE0")
        sim.remove_sim()
        assert await term.read_until(b"+CPIN: NOT INSERTED\r\n")
        assert await term.command("AT+CPIN?") == "\r\n+CME ERROR: 10\r\n"
        assert await term.command("AT+CMGL=4") == "\r\n+CMS ERROR: 310\r\n"
        assert await term.command("AT+CREG?") == "\r\n+CREG: 0,0\r\n\r\nOK\r\n"
        sim.insert_sim()
        assert await term.read_until(b"+QIND: PB DONE\r\n")
        assert await term.command("AT+CPIN?") == "\r\n+CPIN: READY\r\n\r\nOK\r\n"


async def test_reset_replugs_makes_the_port_vanish_and_return(tmp_path: Path) -> None:
    async with SimulatedModem(tmp_path / "tty", timing=FAST, reset_replugs=True) as sim:
        async with RawTerminal(sim.link_path) as term:
            await term.command("ATE0")
            assert await term.command("AT+CFUN=1,1") == "\r\nOK\r\n"
            with pytest.raises(PortClosed):
                await term.read_until(b"never", timeout=1)
        for _ in range(50):
            if sim.link_path.exists():
                break
            await asyncio.sleep(0.02)
        async with RawTerminal(sim.link_path) as term:
            assert await term.command("AT") == "AT\r\r\nOK\r\n"


async def test_interleaved_urcs_can_land_inside_a_command(tmp_path: Path) -> None:
    async with (
        SimulatedModem(tmp_path / "tty", timing={"cmgs_delay": 0.2}, interleave_urcs=True) as sim,
        RawTerminal(sim.link_path) as term,
    ):
        from drivers.gsm.pdu import encode_submit

        await term.command("ATE0")
        await term.command("AT+CNMI=2,1,0,0,0")
        part = encode_submit("+85598765432", "hi", reference=1, request_status_report=False)[0]
        assert await term.command(f"AT+CMGS={part.tpdu_length}") == "\r\n> "
        term.write(part.hex + "\x1a")
        await asyncio.sleep(0.05)
        await sim.deliver_sms("+85512345678", "in the middle")
        out = await term.read_until(b"OK\r\n")
        assert out == b'\r\n+CMTI: "SM",0\r\n\r\n+CMGS: 0\r\n\r\nOK\r\n'


async def test_urcs_wait_for_the_final_result_by_default(
    sim: SimulatedModem, term: RawTerminal
) -> None:
    from drivers.gsm.pdu import encode_submit

    sim.set_timing(cmgs_delay=0.2)
    await term.command("AT+CNMI=2,1,0,0,0")
    part = encode_submit("+85598765432", "hi", reference=1, request_status_report=False)[0]
    assert await term.command(f"AT+CMGS={part.tpdu_length}") == "\r\n> "
    term.write(part.hex + "\x1a")
    await asyncio.sleep(0.05)
    await sim.deliver_sms("+85512345678", "after the OK")
    out = await term.read_until(b'+CMTI: "SM",0\r\n')
    assert out == b'\r\n+CMGS: 0\r\n\r\nOK\r\n\r\n+CMTI: "SM",0\r\n'


async def test_incoming_call_rings_with_clip_and_is_answered(
    sim: SimulatedModem, term: RawTerminal
) -> None:
    await term.command("AT+CLIP=1")
    call_id = sim.incoming_call("+85512345678")
    ring = b'\r\nRING\r\n\r\n+CLIP: "+85512345678",145,,,,0\r\n'
    assert await term.read_until(b'+CLIP: "+85512345678",145,,,,0\r\n') == ring
    assert await term.read_until(b'+CLIP: "+85512345678",145,,,,0\r\n') == ring  # again
    sim.set_timing(ring_interval=5.0)
    await asyncio.sleep(0.15)
    await term.drain(0)
    assert await term.command("AT+CLCC") == (
        f'\r\n+CLCC: {call_id},1,4,0,0,"+85512345678",145\r\n\r\nOK\r\n'
    )
    assert await term.command("ATA") == "\r\nOK\r\n"
    assert await term.read_until(b"^CONN:1,1\r\n")
    assert await term.command("AT+VTS=5") == "\r\nOK\r\n"
    assert '+CLCC: 1,1,0,0,0,"+85512345678",145' in await term.command("AT+CLCC")
    sim.remote_hangup()
    assert await term.read_until(b"\r\n^CEND:1,0,104,16\r\n")
    log = sim.state()["call_log"]
    assert log[0]["end_reason"] == "remote_hangup" and log[0]["dtmf"] == "5"
    assert await term.command("AT+CLCC") == "\r\nOK\r\n"


async def test_outgoing_call_on_huawei_reports_orig_conf_conn(
    sim: SimulatedModem, term: RawTerminal
) -> None:
    assert await term.command("ATD+85598765432;") == "\r\nOK\r\n"
    assert await term.read_until(b"^CONN:1,0\r\n") == (
        b"\r\n^ORIG:1,0\r\n\r\n^CONF:1\r\n\r\n^CONN:1,0\r\n"
    )
    assert await term.command("AT+CHUP") == "\r\nOK\r\n"
    assert await term.read_until(b"^CEND:1,0,104,16\r\n")


async def test_outgoing_call_busy_and_remote_hangup_on_simcom(tmp_path: Path) -> None:
    async with (
        SimulatedModem(tmp_path / "tty", profile="simcom", timing=FAST) as sim,
        RawTerminal(sim.link_path) as term,
    ):
        await term.command("ATE0")
        sim.set_call_behaviour("+85511111111", "busy")
        assert await term.command("ATD+85511111111;") == "\r\nOK\r\n"
        assert await term.read_until(b"\r\nBUSY\r\n")
        assert await term.command("ATD+85522222222;") == "\r\nOK\r\n"
        await asyncio.sleep(0.15)
        assert ",0,2," not in await term.command("AT+CLCC")  # answered: stat 0
        sim.remote_hangup()
        assert await term.read_until(b"\r\nNO CARRIER\r\n")
        assert [c["end_reason"] for c in sim.state()["call_log"]] == ["busy", "remote_hangup"]


async def test_caller_giving_up_ends_the_ringing(tmp_path: Path) -> None:
    async with (
        SimulatedModem(tmp_path / "tty", profile="quectel", timing=FAST) as sim,
        RawTerminal(sim.link_path) as term,
    ):
        await term.command("ATE0")
        await term.command("AT+CRC=1")
        sim.incoming_call("012345678", ring_for=0.15)
        assert await term.read_until(b"+CRING: VOICE\r\n")
        assert await term.read_until(b"\r\nNO CARRIER\r\n")
        assert await term.command("ATA") == "\r\nNO CARRIER\r\n"
