"""The simulated modem through a real pty, with plain reads and writes: AT basics."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.gsm.simulator import SimulatedModem
from drivers.gsm.simulator.terminal import RawTerminal

FAST = {"cmgs_delay": 0.01, "report_delay": 0.05, "ussd_delay": 0.02, "reboot_time": 0.1}


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[SimulatedModem]:
    modem = SimulatedModem(tmp_path / "ttySIM0", timing=FAST)
    await modem.start()
    yield modem
    await modem.stop()


@pytest.fixture
async def term(sim: SimulatedModem) -> AsyncIterator[RawTerminal]:
    async with RawTerminal(sim.link_path) as t:
        yield t


async def test_link_is_a_symlink_to_a_raw_pty(sim: SimulatedModem) -> None:
    assert sim.link_path.is_symlink()
    target = os.readlink(sim.link_path)
    assert target.startswith("/dev/pts/") and target == sim.device
    assert stat.S_ISCHR(os.stat(sim.link_path).st_mode)


async def test_echo_is_on_at_power_on_and_ate0_turns_it_off(term: RawTerminal) -> None:
    assert await term.command("AT") == "AT\r\r\nOK\r\n"
    assert await term.command("ATE0") == "ATE0\r\r\nOK\r\n"
    assert await term.command("AT") == "\r\nOK\r\n"
    assert await term.command("ATE1") == "\r\nOK\r\n"
    assert await term.command("AT") == "AT\r\r\nOK\r\n"


async def test_init_sequence_answers_like_a_huawei(term: RawTerminal) -> None:
    await term.command("ATE0")
    assert await term.command("AT+CMEE=1") == "\r\nOK\r\n"
    assert await term.command("AT+CGMI") == "\r\nhuawei\r\n\r\nOK\r\n"
    assert await term.command("AT+CGMM") == "\r\nE173\r\n\r\nOK\r\n"
    assert await term.command("AT+CGSN") == "\r\n861234567890123\r\n\r\nOK\r\n"
    assert await term.command("AT+CIMI") == "\r\n456061234567890\r\n\r\nOK\r\n"
    assert await term.command("AT^ICCID?") == "\r\n^ICCID: 8985501234567890123F\r\n\r\nOK\r\n"
    assert await term.command("AT+CCID") == "\r\n+CCID: 8985501234567890123F\r\n\r\nOK\r\n"
    assert await term.command("AT+CPIN?") == "\r\n+CPIN: READY\r\n\r\nOK\r\n"
    assert await term.command("AT+CMGF=0") == "\r\nOK\r\n"
    assert await term.command("AT+CMGF=1") == "\r\nERROR\r\n"
    assert await term.command('AT+CPMS="SM","SM","SM"') == "\r\n+CPMS: 0,10,0,10,0,10\r\n\r\nOK\r\n"
    assert await term.command("AT+CPMS?") == (
        '\r\n+CPMS: "SM",0,10,"SM",0,10,"SM",0,10\r\n\r\nOK\r\n'
    )
    assert await term.command("AT+CNMI=2,1,0,2,0") == "\r\nOK\r\n"
    assert await term.command("AT+CNMI?") == "\r\n+CNMI: 2,1,0,2,0\r\n\r\nOK\r\n"
    assert await term.command("AT+CSCA?") == '\r\n+CSCA: "+85512000000",145\r\n\r\nOK\r\n'
    assert await term.command("AT+CSQ") == "\r\n+CSQ: 20,99\r\n\r\nOK\r\n"
    assert await term.command("AT+CREG?") == "\r\n+CREG: 0,1\r\n\r\nOK\r\n"
    assert await term.command("AT+COPS?") == '\r\n+COPS: 0,0,"Smart",2\r\n\r\nOK\r\n'
    assert await term.command("AT+CFUN?") == "\r\n+CFUN: 1\r\n\r\nOK\r\n"


async def test_chained_commands_stop_at_the_first_error(term: RawTerminal) -> None:
    await term.command("ATE0")
    assert await term.command("AT+CSQ;+CFUN?") == "\r\n+CSQ: 20,99\r\n+CFUN: 1\r\n\r\nOK\r\n"
    assert await term.command("AT+CSQ;+BOGUS;+CFUN?") == "\r\n+CSQ: 20,99\r\n\r\nERROR\r\n"


async def test_unknown_commands_and_noise_get_error_or_nothing(term: RawTerminal) -> None:
    await term.command("ATE0")
    assert await term.command("AT+NOSUCH") == "\r\nERROR\r\n"
    assert await term.command("AT+CSQ=?") == "\r\n+CSQ: (0-31,99),(0-7,99)\r\n\r\nOK\r\n"
    term.write("hello modem\r")  # not an AT command: ignored
    assert await term.command("AT") == "\r\nOK\r\n"


async def test_cmee_selects_error_format(term: RawTerminal, sim: SimulatedModem) -> None:
    await term.command("ATE0")
    sim.remove_sim()
    assert await term.command("AT+CPIN?") == "\r\n+CME ERROR: 10\r\n"
    await term.command("AT+CMEE=2")
    assert await term.command("AT+CPIN?") == "\r\n+CME ERROR: SIM not inserted\r\n"
    await term.command("AT+CMEE=0")
    assert await term.command("AT+CPIN?") == "\r\nERROR\r\n"


async def test_pin_unlocks_sim_and_registration_follows(tmp_path: Path) -> None:
    async with (
        SimulatedModem(tmp_path / "tty", pin="1234", profile="quectel", timing=FAST) as sim,
        RawTerminal(sim.link_path) as term,
    ):
        await term.command("ATE0")
        await term.command("AT+CREG=1")
        assert await term.command("AT+CPIN?") == "\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"
        assert await term.command("AT+CIMI") == "\r\n+CME ERROR: 11\r\n"
        assert await term.command("AT+CREG?") == "\r\n+CREG: 1,0\r\n\r\nOK\r\n"
        assert await term.command('AT+CPIN="0000"') == "\r\n+CME ERROR: 16\r\n"
        assert await term.command('AT+CPIN="1234"') == "\r\nOK\r\n"
        urcs = await term.read_until(b"+CREG: 1\r\n")
        assert b"+CPIN: READY" in urcs and b"+QIND: SMS DONE" in urcs
        assert await term.command("AT+CPIN?") == "\r\n+CPIN: READY\r\n\r\nOK\r\n"
        assert sim.state()["sim"] == "ready"


async def test_three_wrong_pins_need_the_puk(tmp_path: Path) -> None:
    async with (
        SimulatedModem(tmp_path / "tty", pin="1234", timing=FAST) as sim,
        RawTerminal(sim.link_path) as term,
    ):
        await term.command("ATE0")
        for _ in range(3):
            assert await term.command('AT+CPIN="9999"') == "\r\n+CME ERROR: 16\r\n"
        assert await term.command("AT+CPIN?") == "\r\n+CPIN: SIM PUK\r\n\r\nOK\r\n"
        assert await term.command('AT+CPIN="12345678","4321"') == "\r\nOK\r\n"
        assert await term.command("AT+CPIN?") == "\r\n+CPIN: READY\r\n\r\nOK\r\n"


@pytest.mark.parametrize(
    ("profile", "command", "expected"),
    [
        ("simcom", "AT+CCID", "\r\n8985501234567890123F\r\n\r\nOK\r\n"),
        ("simcom", "AT^ICCID?", "\r\nERROR\r\n"),
        ("quectel", "AT+QCCID", "\r\n+QCCID: 8985501234567890123F\r\n\r\nOK\r\n"),
        ("quectel", "AT+CEREG?", "\r\n+CEREG: 0,1\r\n\r\nOK\r\n"),
        ("simcom", "AT+CEREG?", "\r\nERROR\r\n"),
        ("quectel", "ATI", "\r\nQuectel\r\nEC25\r\nRevision: EC25EFAR06A06M4G\r\n\r\nOK\r\n"),
        ("simcom", "AT+CMGR=1", "\r\nOK\r\n"),  # empty slot: SIM800 says nothing
        ("quectel", "AT+CMGR=0", "\r\n+CMS ERROR: 321\r\n"),
        ("simcom", "AT+CMEE?", "\r\n+CMEE: 0\r\n\r\nOK\r\n"),
        ("huawei", "AT+CVHU=0", "\r\nERROR\r\n"),
        ("simcom", "AT+CVHU=0", "\r\nOK\r\n"),
    ],
)
async def test_profiles_differ_where_real_models_do(
    tmp_path: Path, profile: str, command: str, expected: str
) -> None:
    async with (
        SimulatedModem(tmp_path / "tty", profile=profile, timing=FAST) as sim,
        RawTerminal(sim.link_path) as term,
    ):
        await term.command("ATE0")
        await term.command("AT+CMEE=1") if "CMEE" not in command else None
        assert await term.command(command) == expected


async def test_creg_urcs_follow_registration_changes(
    term: RawTerminal, sim: SimulatedModem
) -> None:
    await term.command("ATE0")
    await term.command("AT+CREG=2")
    assert await term.command("AT+CREG?") == '\r\n+CREG: 2,1,"1A2B","01C3D4"\r\n\r\nOK\r\n'
    sim.set_registration(3)
    assert await term.read_until(b"\r\n+CREG: 3\r\n") == b"\r\n+CREG: 3\r\n"
    sim.set_registration(5)
    assert await term.read_until(b"\r\n") == b"\r\n"
    assert await term.read_until(b"\r\n") == b'+CREG: 5,"1A2B","01C3D4"\r\n'
    assert await term.command("AT+COPS?") == '\r\n+COPS: 0,0,"Smart",2\r\n\r\nOK\r\n'


async def test_signal_change_emits_huawei_rssi(term: RawTerminal, sim: SimulatedModem) -> None:
    await term.command("ATE0")
    sim.set_signal(7)
    assert await term.read_until(b"^RSSI: 7\r\n") == b"\r\n^RSSI: 7\r\n"
    assert await term.command("AT+CSQ") == "\r\n+CSQ: 7,99\r\n\r\nOK\r\n"


async def test_cfun_reset_is_silent_then_boots_with_defaults(
    term: RawTerminal, sim: SimulatedModem
) -> None:
    await term.command("ATE0")
    assert await term.command("AT+CFUN=1,1") == "\r\nOK\r\n"
    term.write("AT\r")  # swallowed while rebooting
    assert await term.read_until(b"^SYSSTART\r\n", timeout=2) == b"\r\n^SYSSTART\r\n"
    assert await term.command("AT") == "AT\r\r\nOK\r\n"  # echo is back on after a boot


async def test_cfun_reset_on_simcom_emits_rdy_and_ready_urcs(tmp_path: Path) -> None:
    async with (
        SimulatedModem(tmp_path / "tty", profile="simcom", timing=FAST) as sim,
        RawTerminal(sim.link_path) as term,
    ):
        await term.command("ATE0")
        assert await term.command("AT+CFUN=1,1") == "\r\nOK\r\n"
        urcs = await term.read_until(b"SMS Ready\r\n")
        assert urcs == (
            b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\nCall Ready\r\n\r\nSMS Ready\r\n"
        )


async def test_ussd_answers_with_a_urc_after_ok(term: RawTerminal, sim: SimulatedModem) -> None:
    from drivers.gsm.ussd import decode_ussd, encode_ussd_request

    await term.command("ATE0")
    payload, dcs = encode_ussd_request("*124#")
    assert await term.command(f'AT+CUSD=1,"{payload}",{dcs}') == "\r\nOK\r\n"
    urc = (await term.read_until(b"\r\n+CUSD: ")) + await term.read_until(b"\r\n")
    m, text, code = urc.decode().split("+CUSD: ")[1].strip().split(",")
    assert (m, code) == ("0", "15")
    assert decode_ussd(text.strip('"'), 15) == "Your balance is 2.50 USD, valid until 31/12/2026."
    await term.command('AT+CUSD=1,"*100#",15')
    urc = (await term.read_until(b"\r\n+CUSD: ")) + await term.read_until(b"\r\n")
    _, text, code = urc.decode().split("+CUSD: ")[1].strip().split(",")
    assert code == "72" and decode_ussd(text.strip('"'), 72).startswith("សមតុល្យ")
    assert [u["request"] for u in sim.state()["ussd"]] == ["*124#", "*100#"]


async def test_ussd_menu_keeps_the_session_open(tmp_path: Path) -> None:
    async with (
        SimulatedModem(tmp_path / "tty", profile="simcom", timing=FAST) as sim,
        RawTerminal(sim.link_path) as term,
    ):
        await term.command("ATE0")
        await term.command('AT+CUSD=1,"*888#",15')
        assert await term.read_until(b'+CUSD: 1,"1 Balance 2 Data",15\r\n')
        await term.command('AT+CUSD=1,"2",15')
        assert await term.read_until(b'+CUSD: 0,"Data: 1024 MB left",15\r\n')
        await term.command('AT+CUSD=1,"*999#",15')
        assert await term.read_until(b"\r\n+CUSD: 4\r\n")


async def test_many_commands_in_one_write_are_answered_in_order(term: RawTerminal) -> None:
    await term.command("ATE0")
    term.write("AT+CSQ\rAT+CFUN?\rAT\r")
    out = b""
    for _ in range(3):
        out += await term.read_until(b"OK\r\n")
    assert out == b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n\r\n+CFUN: 1\r\n\r\nOK\r\n\r\nOK\r\n"


async def test_partial_writes_are_assembled(term: RawTerminal) -> None:
    await term.command("ATE0")
    for piece in ("A", "T+C", "SQ"):
        term.write(piece)
        await asyncio.sleep(0.01)
    term.write("\r")
    assert await term.read_until(b"OK\r\n") == b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n"
