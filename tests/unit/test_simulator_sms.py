"""The simulated modem's SMS side through a real pty: prompt flow, storage, +CMT, reports."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.gsm.pdu import Deliver, StatusReport, decode_pdu, encode_submit
from drivers.gsm.simulator import Delivery, SimulatedModem
from drivers.gsm.simulator.terminal import RawTerminal

FAST = {"cmgs_delay": 0.01, "report_delay": 0.05, "cnma_timeout": 0.3}


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[SimulatedModem]:
    modem = SimulatedModem(tmp_path / "ttySIM0", timing=FAST, storage_size=3)
    await modem.start()
    yield modem
    await modem.stop()


@pytest.fixture
async def term(sim: SimulatedModem) -> AsyncIterator[RawTerminal]:
    async with RawTerminal(sim.link_path) as t:
        await t.command("ATE0")
        await t.command("AT+CMEE=1")
        yield t


async def send_part(term: RawTerminal, length: int, pdu: str) -> str:
    assert await term.command(f"AT+CMGS={length}") == "\r\n> "
    term.write(pdu + "\x1a")
    return (await term.read_until(re.compile(rb"\r\n(OK|ERROR|\+CMS ERROR: \d+)\r\n"))).decode()


async def read_pdu_after(term: RawTerminal, header: bytes) -> tuple[str, str]:
    """(header line, pdu) of a two-line URC such as +CMT / +CDS."""
    await term.read_until(b"\r\n" + header)
    rest = (await term.read_until(b"\r\n")).decode()
    pdu = (await term.read_until(b"\r\n")).decode().strip()
    return header.decode() + rest.strip(), pdu


async def test_cmgs_prompt_flow_assigns_incrementing_references(
    term: RawTerminal, sim: SimulatedModem
) -> None:
    text = "Long message " * 20
    parts = encode_submit("+85598765432", text, reference=42, request_status_report=False)
    assert len(parts) == 2
    answers = [await send_part(term, p.tpdu_length, p.hex) for p in parts]
    assert answers == ["\r\n+CMGS: 0\r\n\r\nOK\r\n", "\r\n+CMGS: 1\r\n\r\nOK\r\n"]
    sent = sim.state()["sent"]
    assert [(s["destination"], s["reference"], s["part"], s["parts"]) for s in sent] == [
        ("+85598765432", 0, 1, 2),
        ("+85598765432", 1, 2, 2),
    ]
    assert sim.state()["sent_messages"] == [
        {
            "destination": "+85598765432",
            "text": text,
            "parts": 2,
            "complete": True,
            "references": [0, 1],
        }
    ]


async def test_cmgs_length_mismatch_is_cms_304(term: RawTerminal, sim: SimulatedModem) -> None:
    part = encode_submit("+85598765432", "hi", reference=1)[0]
    assert await send_part(term, part.tpdu_length + 1, part.hex) == "\r\n+CMS ERROR: 304\r\n"
    assert await send_part(term, part.tpdu_length, "ZZ" + part.hex) == "\r\n+CMS ERROR: 304\r\n"
    assert sim.state()["sent"] == []


async def test_esc_aborts_the_prompt(term: RawTerminal, sim: SimulatedModem) -> None:
    assert await term.command("AT+CMGS=20") == "\r\n> "
    term.write("0011\x1b")
    assert await term.read_until(b"OK\r\n") == b"\r\nOK\r\n"
    assert await term.command("AT") == "\r\nOK\r\n"
    assert sim.state()["sent"] == []


async def test_echo_shows_the_pdu_typed_at_the_prompt(sim: SimulatedModem) -> None:
    part = encode_submit("+85598765432", "hi", reference=1, request_status_report=False)[0]
    async with RawTerminal(sim.link_path) as term:
        assert await term.command(f"AT+CMGS={part.tpdu_length}") == (
            f"AT+CMGS={part.tpdu_length}\r\r\n> "
        )
        term.write(part.hex + "\x1a")
        assert (await term.read_until(b"OK\r\n")).decode() == (
            part.hex + "\r\n+CMGS: 0\r\n\r\nOK\r\n"
        )


async def test_fail_next_answers_the_pdu_with_the_scripted_error(
    term: RawTerminal, sim: SimulatedModem
) -> None:
    sim.fail_next("+CMGS", "+CMS ERROR: 500")
    part = encode_submit("+85598765432", "hi", reference=1)[0]
    assert await send_part(term, part.tpdu_length, part.hex) == "\r\n+CMS ERROR: 500\r\n"
    assert await send_part(term, part.tpdu_length, part.hex) == "\r\n+CMGS: 0\r\n\r\nOK\r\n"
    sim.fail_next("AT+CSQ", "ERROR", count=2)
    assert await term.command("AT+CSQ") == "\r\nERROR\r\n"
    assert await term.command("AT+CSQ") == "\r\nERROR\r\n"
    assert await term.command("AT+CSQ") == "\r\n+CSQ: 20,99\r\n\r\nOK\r\n"


async def test_submit_error_per_destination_and_no_network(
    term: RawTerminal, sim: SimulatedModem
) -> None:
    sim.set_outcome("+85511111111", submit_error=38)
    part = encode_submit("+85511111111", "x", reference=1)[0]
    assert await send_part(term, part.tpdu_length, part.hex) == "\r\n+CMS ERROR: 38\r\n"
    sim.set_registration(0)
    part = encode_submit("+85522222222", "x", reference=1)[0]
    assert await send_part(term, part.tpdu_length, part.hex) == "\r\n+CMS ERROR: 331\r\n"


async def test_storage_lifecycle_cmti_cmgr_cmgl_cmgd(
    term: RawTerminal, sim: SimulatedModem
) -> None:
    await term.command("AT+CNMI=2,1,0,0,0")
    assert await sim.deliver_sms("+85512345678", "first") == 1
    assert await term.read_until(b'\r\n+CMTI: "SM",0\r\n')
    await sim.deliver_sms("+85512345679", "second")
    assert await term.read_until(b'\r\n+CMTI: "SM",1\r\n')

    answer = await term.command("AT+CMGR=0")
    head, pdu = answer.strip().split("\r\n")[:2]
    assert re.fullmatch(r"\+CMGR: 0,,\d+", head)
    decoded = decode_pdu(pdu)
    assert isinstance(decoded, Deliver) and decoded.text == "first"
    assert decoded.sender == "+85512345678"

    listing = await term.command("AT+CMGL=0")  # unread only: slot 0 was read by CMGR
    assert listing.count("+CMGL:") == 1 and "+CMGL: 1,0,," in listing
    listing = await term.command("AT+CMGL=4")
    assert "+CMGL: 0,1,," in listing and "+CMGL: 1,1,," in listing

    assert await term.command("AT+CMGD=0") == "\r\nOK\r\n"
    assert await term.command("AT+CMGR=0") == "\r\n+CMS ERROR: 321\r\n"
    assert await term.command("AT+CMGR=9") == "\r\n+CMS ERROR: 321\r\n"
    assert await term.command("AT+CPMS?") == '\r\n+CPMS: "SM",1,3,"SM",1,3,"SM",1,3\r\n\r\nOK\r\n'
    assert await term.command("AT+CMGD=0,4") == "\r\nOK\r\n"
    assert sim.state()["storage"]["used"] == 0


async def test_full_storage_keeps_messages_in_the_network_until_a_slot_frees(
    term: RawTerminal, sim: SimulatedModem
) -> None:
    await term.command("AT+CNMI=2,1,0,0,0")
    for i in range(4):
        await sim.deliver_sms("+85512345678", f"message {i}")
    urcs = await term.drain(0.1)
    assert urcs.count(b"+CMTI:") == 3 and b'^SMMEMFULL: "SM"' in urcs
    state = sim.state()
    assert state["storage"]["used"] == 3 and state["network_pending"] == 1
    assert await term.command("AT+CMGD=1") == "\r\nOK\r\n"
    assert await term.read_until(b'\r\n+CMTI: "SM",1\r\n')
    assert await term.read_until(b'\r\n^SMMEMFULL: "SM"\r\n')  # full again
    answer = await term.command("AT+CMGR=1")
    decoded = decode_pdu(answer.strip().split("\r\n")[1])
    assert isinstance(decoded, Deliver) and decoded.text == "message 3"
    assert sim.state()["network_pending"] == 0


async def test_cmgw_on_full_storage_is_cms_322(term: RawTerminal, sim: SimulatedModem) -> None:
    part = encode_submit("+85598765432", "draft", reference=1)[0]
    for index in range(3):
        assert await term.command(f"AT+CMGW={part.tpdu_length}") == "\r\n> "
        term.write(part.hex + "\x1a")
        assert await term.read_until(b"OK\r\n") == f"\r\n+CMGW: {index}\r\n\r\nOK\r\n".encode()
    assert await term.command(f"AT+CMGW={part.tpdu_length}") == "\r\n> "
    term.write(part.hex + "\x1a")
    assert await term.read_until(b"\r\n+CMS ERROR: 322\r\n")


async def test_cmt_needs_cnma_and_unacked_is_redelivered(
    term: RawTerminal, sim: SimulatedModem
) -> None:
    await term.command("AT+CNMI=2,2,0,0,0")
    await sim.deliver_sms("+85512345678", "one")
    await sim.deliver_sms("+85512345678", "two")
    header, pdu = await read_pdu_after(term, b"+CMT: ")
    assert re.fullmatch(r"\+CMT: ,\d+", header)
    first = decode_pdu(pdu)
    assert isinstance(first, Deliver) and first.text == "one"
    assert await term.drain(0.1) == b""  # the second waits for the ack of the first
    # no ack: after cnma_timeout the network delivers the same message again
    _, again = await read_pdu_after(term, b"+CMT: ")
    assert again == pdu
    assert await term.command("AT+CNMA") == "\r\nOK\r\n"
    _, second = await read_pdu_after(term, b"+CMT: ")
    decoded = decode_pdu(second)
    assert isinstance(decoded, Deliver) and decoded.text == "two"
    assert await term.command("AT+CNMA") == "\r\nOK\r\n"
    assert await term.command("AT+CNMA") == "\r\n+CMS ERROR: 340\r\n"
    cmt = sim.state()["cmt"]
    assert cmt == {"sent": 3, "acked": 2, "unacked": 1, "nacked": 0, "outstanding": False}
    assert sim.state()["storage"]["used"] == 0


async def test_multipart_order_duplicate_and_drop(term: RawTerminal, sim: SimulatedModem) -> None:
    await term.command("AT+CNMI=2,2,0,0,0")
    sim.machine.require_cnma = False
    text = "x" * 400  # three GSM-7 parts
    parts = await sim.deliver_sms(
        "+85512345678", text, Delivery(order=(3, 1), duplicate=(1,), drop=(2,))
    )
    assert parts == 3
    seen = []
    for _ in range(3):
        _, pdu = await read_pdu_after(term, b"+CMT: ")
        decoded = decode_pdu(pdu)
        assert isinstance(decoded, Deliver) and decoded.concat is not None
        seen.append(decoded.concat.sequence)
    assert seen == [3, 1, 1]
    assert await term.drain(0.05) == b""


async def test_status_reports_as_cds_then_cdsi(term: RawTerminal, sim: SimulatedModem) -> None:
    await term.command("AT+CNMI=2,1,0,1,0")
    sim.set_outcome("+85598765432", ["pending", "delivered"])
    sim.set_outcome("+85511111111", "failed")
    part = encode_submit("+85598765432", "hello", reference=1)[0]
    assert await send_part(term, part.tpdu_length, part.hex) == "\r\n+CMGS: 0\r\n\r\nOK\r\n"
    header, pdu = await read_pdu_after(term, b"+CDS: ")
    report = decode_pdu(pdu)
    assert isinstance(report, StatusReport)
    assert (report.message_reference, report.outcome) == (0, "pending")
    assert header == f"+CDS: {len(bytes.fromhex(pdu)) - 8}"
    await term.command("AT+CNMA")
    _, pdu = await read_pdu_after(term, b"+CDS: ")
    report = decode_pdu(pdu)
    assert isinstance(report, StatusReport) and report.outcome == "delivered"
    await term.command("AT+CNMA")

    await term.command("AT+CNMI=2,1,0,2,0")  # reports into the SIM
    part = encode_submit("+85511111111", "hello", reference=1)[0]
    assert await send_part(term, part.tpdu_length, part.hex) == "\r\n+CMGS: 1\r\n\r\nOK\r\n"
    assert await term.read_until(b'\r\n+CDSI: "SM",0\r\n')
    answer = await term.command("AT+CMGR=0")
    report = decode_pdu(answer.strip().split("\r\n")[1])
    assert isinstance(report, StatusReport)
    assert (report.message_reference, report.outcome) == (1, "failed")
    assert report.recipient == "+85511111111"


async def test_no_report_without_request(term: RawTerminal, sim: SimulatedModem) -> None:
    await term.command("AT+CNMI=2,1,0,1,0")
    part = encode_submit("+85598765432", "hello", reference=1, request_status_report=False)[0]
    assert await send_part(term, part.tpdu_length, part.hex) == "\r\n+CMGS: 0\r\n\r\nOK\r\n"
    assert await term.drain(0.15) == b""


async def test_references_wrap_after_255(term: RawTerminal, sim: SimulatedModem) -> None:
    sim.machine.next_mr = 255
    part = encode_submit("+85598765432", "x", reference=1, request_status_report=False)[0]
    assert await send_part(term, part.tpdu_length, part.hex) == "\r\n+CMGS: 255\r\n\r\nOK\r\n"
    assert await send_part(term, part.tpdu_length, part.hex) == "\r\n+CMGS: 0\r\n\r\nOK\r\n"


async def test_ucs2_sms_and_raw_pdus(term: RawTerminal, sim: SimulatedModem) -> None:
    await term.command("AT+CNMI=2,1,0,0,0")
    await sim.deliver_sms("+85512345678", "សួស្តី 👋")
    await term.read_until(b'+CMTI: "SM",0\r\n')
    answer = await term.command("AT+CMGR=0")
    decoded = decode_pdu(answer.strip().split("\r\n")[1])
    assert isinstance(decoded, Deliver) and decoded.text == "សួស្តី 👋"
    assert decoded.encoding == "ucs2"
    assert await sim.deliver_raw_pdu("00DEADBEEF") == "deliver"  # nonsense is delivered too
    await term.read_until(b'+CMTI: "SM",1\r\n')
    assert "00DEADBEEF" in await term.command("AT+CMGR=1")


async def test_simcom_indexes_start_at_one(tmp_path: Path) -> None:
    async with (
        SimulatedModem(tmp_path / "tty", profile="simcom", timing=FAST) as sim,
        RawTerminal(sim.link_path) as term,
    ):
        await term.command("ATE0")
        await sim.deliver_sms("+85512345678", "hi")  # SIM800 default CNMI is 2,1
        assert await term.read_until(b'\r\n+CMTI: "SM",1\r\n')
        assert "+CMGL: 1,0,," in await term.command("AT+CMGL=4")
