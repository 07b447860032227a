"""The sans-IO AT engine: transcripts, URCs anywhere, prompts, timeouts, no injection."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.gsm.atcore import (
    AtEngine,
    Command,
    Done,
    Garbage,
    Timeout,
    Urc,
    atd,
    cmgs,
    cusd,
    number_arg,
    technician,
    vts,
)
from switch.errors import ProtocolError


def run(engine: AtEngine, *chunks: bytes, now: float = 0.0) -> list[object]:
    events: list[object] = []
    for chunk in chunks:
        events += engine.receive_data(chunk, now)
    return events


def test_one_command_in_flight_and_queue_in_order() -> None:
    e = AtEngine()
    e.send(Command("AT+CSQ"), 0.0)
    e.send(Command("AT+CREG?"), 0.0)
    assert e.data_to_send() == b"AT+CSQ\r"
    [done] = run(e, b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n")
    assert isinstance(done, Done) and done.ok and done.lines == ["+CSQ: 20,99"]
    assert e.data_to_send() == b"AT+CREG?\r"


def test_cmti_in_the_middle_of_a_cmgl_listing_is_a_urc_not_part_of_the_listing() -> None:
    e = AtEngine()
    e.send(Command("AT+CMGL=4"), 0.0)
    events = run(
        e,
        b"\r\n+CMGL: 0,1,,23\r\n0791AABB\r\n",
        b'+CMTI: "SM",5\r\n',
        b"+CMGL: 1,1,,24\r\n0791CCDD\r\n\r\nOK\r\n",
    )
    urcs = [ev for ev in events if isinstance(ev, Urc)]
    [done] = [ev for ev in events if isinstance(ev, Done)]
    assert [u.kind for u in urcs] == ["+CMTI"] and urcs[0].args == '"SM",5'
    assert done.lines == ["+CMGL: 0,1,,23", "0791AABB", "+CMGL: 1,1,,24", "0791CCDD"]


def test_creg_is_a_response_to_creg_query_but_a_urc_otherwise() -> None:
    e = AtEngine()
    e.send(Command("AT+CREG?"), 0.0)
    [done] = run(e, b'\r\n+CREG: 2,1,"00A1","1B2C"\r\nOK\r\n')
    assert isinstance(done, Done) and done.lines[0].startswith("+CREG: 2,1")
    [urc] = run(e, b"\r\n+CREG: 5\r\n")
    assert isinstance(urc, Urc) and urc.kind == "+CREG"


def test_cmgs_prompt_gets_pdu_and_ctrl_z_then_reference() -> None:
    e = AtEngine()
    e.send(cmgs("0011000B915521436587F90000AA0568656C6C6F", 19), 0.0)
    assert e.data_to_send() == b"AT+CMGS=19\r"
    assert run(e, b"\r\n> ") == []
    assert e.data_to_send() == b"0011000B915521436587F90000AA0568656C6C6F\x1a"
    [done] = run(e, b"\r\n+CMGS: 42\r\n\r\nOK\r\n")
    assert isinstance(done, Done) and done.ok and done.lines == ["+CMGS: 42"]


def test_cms_and_cme_errors_carry_their_codes() -> None:
    e = AtEngine()
    e.send(Command("AT+CMGR=9"), 0.0)
    [done] = run(e, b"\r\n+CMS ERROR: 321\r\n")
    assert isinstance(done, Done) and not done.ok and done.cms == 321
    e.send(Command("AT+CPIN?"), 0.0)
    [done] = run(e, b"\r\n+CME ERROR: 10\r\n")
    assert isinstance(done, Done) and done.cme == 10


def test_two_line_urcs_carry_their_pdu() -> None:
    e = AtEngine()
    [cmt] = run(e, b"\r\n+CMT: ,24\r\n07911234\r\n")
    assert isinstance(cmt, Urc) and cmt.kind == "+CMT" and cmt.pdu == "07911234"


def test_echo_is_ignored_and_bare_information_lines_are_response() -> None:
    e = AtEngine()
    e.send(Command("AT+CGSN"), 0.0)
    [done] = run(e, b"AT+CGSN\r\r\n861234567890123\r\n\r\nOK\r\n")
    assert isinstance(done, Done) and done.lines == ["861234567890123"]


def test_timeout_on_the_injected_clock_then_next_command_starts() -> None:
    e = AtEngine()
    e.send(Command("AT", timeout=5.0), 100.0)
    e.send(Command("AT+CSQ"), 100.0)
    e.data_to_send()
    assert e.check_timeouts(104.9) == []
    [timeout] = e.check_timeouts(105.0)
    assert isinstance(timeout, Timeout) and timeout.command.line == "AT"
    assert e.data_to_send() == b"AT+CSQ\r"


def test_garbage_outside_a_command_is_reported_not_raised() -> None:
    e = AtEngine()
    events = run(e, b"\x00\xff\xfe junk \r\n", b"RING\r\n")
    assert isinstance(events[0], Garbage) and isinstance(events[1], Urc)


@pytest.mark.parametrize(
    "evil", ["+855123\r\nAT+CFUN=0", "123;AT+CFUN=0", "12\x1a", "+85512\n", "１２３", "1 2"]
)
def test_numbers_with_control_characters_never_reach_the_wire(evil: str) -> None:
    with pytest.raises(ValueError):
        number_arg(evil)
    with pytest.raises(ValueError):
        atd(evil)


def test_builders_validate_their_arguments() -> None:
    with pytest.raises(ValueError):
        cmgs("00ZZ", 3)
    with pytest.raises(ValueError):
        vts("5;AT")
    with pytest.raises(ValueError):
        cusd('*124#",15\rAT+CFUN=0', 15)
    for bad in ("AT+CSQ\rAT+CFUN=0", "AT\x1a", "ATE0\x1b", "AT+CSQ\nX", "ATＡ", "+CSQ"):
        with pytest.raises(ValueError):
            technician(bad)
    with pytest.raises(ValueError):
        technician("AT+CMGS=20")
    assert technician("AT+CSQ").line == "AT+CSQ"
    with pytest.raises(ProtocolError):
        AtEngine().send(Command("AT\r+CFUN=0"), 0.0)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=20), st.booleans())
def test_any_bytes_in_give_events_never_exceptions(chunks: list[bytes], busy: bool) -> None:
    e = AtEngine()
    if busy:
        e.send(Command("AT+CMGL=4"), 0.0)
        e.send(cmgs("00AA", 2), 0.0)
    for i, chunk in enumerate(chunks):
        e.receive_data(chunk, float(i))
        e.data_to_send()
    e.check_timeouts(1e9)


@settings(max_examples=200, deadline=None)
@given(st.permutations([b'+CMTI: "SM",3\r\n', b"RING\r\n", b"+CSQ: 10,99\r\n", b"OK\r\n"]))
def test_interleaved_urcs_and_response(parts: list[bytes]) -> None:
    e = AtEngine()
    e.send(Command("AT+CSQ"), 0.0)
    events = e.receive_data(b"".join(parts), 0.0)
    kinds = sorted(type(ev).__name__ for ev in events)
    assert kinds.count("Done") == 1 and kinds.count("Urc") == 2
