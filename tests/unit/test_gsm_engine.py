"""The sans-IO AT engine with hand-written transcripts and a fake clock."""

from __future__ import annotations

import pytest

from base.errors import ProtocolError
from drivers.gsm.engine import (
    LONG_TIMEOUT,
    PROMPT_TIMEOUT,
    AtEngine,
    Command,
    Done,
    Event,
    Garbage,
    Timeout,
    Urc,
    atd,
    cmgd,
    cmgl,
    cmgr,
    cmgs,
    cpin,
    csca,
    cusd,
    number_arg,
    simple,
    technician,
    vts,
)

PDU = "0011000B915855214365F70000AA05E8329BFD06"


def started(line: str = "AT+CSQ", now: float = 0.0, **kw: object) -> tuple[AtEngine, Command]:
    engine = AtEngine()
    command = Command(line, **kw)  # type: ignore[arg-type]
    engine.send(command, now)
    assert engine.data_to_send() == line.encode() + b"\r"
    return engine, command


def feed(engine: AtEngine, text: str, now: float = 0.0) -> list[Event]:
    return engine.receive_data(text.encode("latin-1"), now)


def only_done(events: list[Event]) -> Done:
    dones = [e for e in events if isinstance(e, Done)]
    assert len(dones) == 1, events
    return dones[0]


def test_ok_with_echo_and_response_lines() -> None:
    engine, command = started()
    events = feed(engine, "AT+CSQ\r\r\n+CSQ: 20,99\r\n\r\nOK\r\n")
    done = only_done(events)
    assert done.command is command and done.ok and done.lines == ("+CSQ: 20,99",)
    assert done.final == "OK" and done.error is None
    assert not engine.busy and engine.next_deadline() is None


def test_one_command_in_flight_the_next_waits() -> None:
    engine, _ = started("AT+CSQ")
    engine.send(simple("AT+CREG?"), 0.0)
    assert engine.data_to_send() == b""  # not yet
    assert engine.queued == 1
    only_done(feed(engine, "\r\n+CSQ: 5,99\r\n\r\nOK\r\n"))
    assert engine.data_to_send() == b"AT+CREG?\r"
    done = only_done(feed(engine, '\r\n+CREG: 2,1,"1A2B","0C3D"\r\n\r\nOK\r\n'))
    assert done.lines == ('+CREG: 2,1,"1A2B","0C3D"',)


def test_byte_by_byte_gives_the_same_events() -> None:
    transcript = '\r\n+CMTI: "SM",3\r\n\r\n+CSQ: 20,99\r\n\r\nOK\r\n'
    engine, _ = started()
    whole = feed(engine, transcript)
    engine2, _ = started()
    pieces: list[Event] = []
    for ch in transcript:
        pieces += feed(engine2, ch)
    assert [type(e) for e in whole] == [type(e) for e in pieces] == [Urc, Done]
    assert isinstance(pieces[1], Done) and pieces[1].lines == ("+CSQ: 20,99",)


def test_cmti_in_the_middle_of_a_cmgl_listing_does_not_corrupt_it() -> None:
    engine = AtEngine()
    engine.send(cmgl(4), 0.0)
    assert engine.data_to_send() == b"AT+CMGL=4\r"
    events = feed(
        engine,
        "\r\n+CMGL: 0,1,,23\r\n" + PDU + "\r\n"
        '+CMTI: "SM",2\r\n'
        "+CMGL: 1,0,,23\r\n" + PDU + "\r\n"
        "\r\nOK\r\n",
    )
    assert isinstance(events[0], Urc) and events[0].kind == "+CMTI"
    assert events[0].args == '"SM",2'
    done = only_done(events)
    assert done.lines == ("+CMGL: 0,1,,23", PDU, "+CMGL: 1,0,,23", PDU)


def test_cmgr_response_keeps_its_pdu_line() -> None:
    engine = AtEngine()
    engine.send(cmgr(4), 0.0)
    assert engine.data_to_send() == b"AT+CMGR=4\r"
    done = only_done(feed(engine, "\r\n+CMGR: 0,,23\r\n" + PDU.lower() + "\r\n\r\nOK\r\n"))
    assert done.lines == ("+CMGR: 0,,23", PDU)


def test_cmgs_prompt_flow_writes_pdu_and_ctrl_z() -> None:
    engine = AtEngine()
    engine.send(cmgs(PDU, 19), 0.0)
    assert engine.data_to_send() == b"AT+CMGS=19\r"
    assert feed(engine, "AT+CMGS=19\r") == []  # echo
    assert engine.data_to_send() == b""
    assert feed(engine, "\r\n> ") == []
    assert engine.data_to_send() == PDU.encode() + b"\x1a"
    # the modem may echo the PDU (with the Ctrl-Z) before its answer
    done = only_done(feed(engine, PDU + "\x1a\r\n+CMGS: 17\r\n\r\nOK\r\n"))
    assert done.ok and done.lines == ("+CMGS: 17",)


def test_urc_while_the_prompt_is_open_then_prompt() -> None:
    engine = AtEngine()
    engine.send(cmgs(PDU, 19), 0.0)
    engine.data_to_send()
    events = feed(engine, '\r\n+CMTI: "SM",1\r\n> ')
    assert [e.kind for e in events if isinstance(e, Urc)] == ["+CMTI"]
    assert engine.data_to_send().endswith(b"\x1a")


def test_cmgs_error_instead_of_prompt() -> None:
    engine = AtEngine()
    engine.send(cmgs(PDU, 19), 0.0)
    engine.data_to_send()
    done = only_done(feed(engine, "\r\n+CMS ERROR: 304\r\n"))
    assert not done.ok and done.cms == 304 and done.cme is None
    assert engine.data_to_send() == b""  # no PDU after a refusal


def test_cme_and_cms_codes_and_plain_error() -> None:
    engine, _ = started("AT+CPIN?")
    done = only_done(feed(engine, "\r\n+CME ERROR: 10\r\n"))
    assert not done.ok and done.cme == 10 and done.error == "+CME ERROR: 10"
    engine, _ = started("AT+CMGD=3")
    done = only_done(feed(engine, "\r\n+CMS ERROR: 321\r\n"))
    assert done.cms == 321
    engine, _ = started("AT+FOO")
    done = only_done(feed(engine, "\r\nERROR\r\n"))
    assert not done.ok and done.cme is None and done.cms is None


def test_timeout_with_fake_clock_then_the_next_command_goes_out() -> None:
    engine = AtEngine()
    engine.send(simple("AT+CSQ", 5.0), 100.0)
    engine.send(simple("AT+COPS?"), 100.0)
    engine.data_to_send()
    assert engine.next_deadline() == 105.0
    assert engine.check_timeouts(104.9) == []
    [event] = engine.check_timeouts(105.0)
    assert isinstance(event, Timeout) and event.command.line == "AT+CSQ"
    assert engine.data_to_send() == b"AT+COPS?\r"
    assert engine.next_deadline() == 110.0
    # a late answer to the timed-out command must not complete the new one with CSQ data
    events = feed(engine, "\r\n+CSQ: 20,99\r\n", 106.0)
    assert all(not isinstance(e, Done) for e in events)


def test_receive_data_reports_timeouts_too() -> None:
    engine, _ = started("AT", now=0.0)
    [event] = feed(engine, "", now=10.0)
    assert isinstance(event, Timeout)


def test_cmgs_timeout_with_open_prompt_writes_escape() -> None:
    engine = AtEngine()
    engine.send(cmgs(PDU, 19), 0.0)
    engine.data_to_send()
    [event] = engine.check_timeouts(LONG_TIMEOUT)
    assert isinstance(event, Timeout)
    assert engine.data_to_send() == b"\x1b"


def test_a_modem_that_gives_no_prompt_times_out_like_any_command() -> None:
    # a hung modem is noticed in seconds while SMS go out, not after LONG_TIMEOUT
    engine = AtEngine()
    engine.send(cmgs(PDU, 19), 0.0)
    engine.data_to_send()
    assert engine.next_deadline() == PROMPT_TIMEOUT < LONG_TIMEOUT
    [event] = engine.check_timeouts(PROMPT_TIMEOUT)
    assert isinstance(event, Timeout)
    assert engine.data_to_send() == b"\x1b"


def test_after_the_pdu_the_network_gets_the_long_timeout() -> None:
    engine = AtEngine()
    engine.send(cmgs(PDU, 19), 0.0)
    engine.data_to_send()
    feed(engine, "\r\n> ", 2.0)
    assert engine.data_to_send().endswith(b"\x1a")
    assert engine.next_deadline() == 2.0 + LONG_TIMEOUT
    assert engine.check_timeouts(2.0 + PROMPT_TIMEOUT) == []
    done = only_done(feed(engine, "\r\n+CMGS: 17\r\n\r\nOK\r\n", 30.0))
    assert done.ok


def test_two_line_urcs_cmt_and_cds_carry_their_pdu() -> None:
    engine = AtEngine()
    events = feed(engine, "\r\n+CMT: ,23\r\n" + PDU + "\r\n\r\n+CDS: 25\r\n0006A1\r\n")
    assert [(e.kind, e.pdu) for e in events if isinstance(e, Urc)] == [
        ("+CMT", PDU),
        ("+CDS", "0006A1"),
    ]


def test_two_line_urc_in_the_middle_of_a_response() -> None:
    engine, _ = started("AT+CSQ")
    events = feed(engine, "\r\n+CMT: ,23\r\n" + PDU + "\r\n+CSQ: 3,99\r\nOK\r\n")
    urc = events[0]
    assert isinstance(urc, Urc) and urc.kind == "+CMT" and urc.pdu == PDU
    assert only_done(events).lines == ("+CSQ: 3,99",)


def test_cmt_header_without_pdu_is_reported_alone() -> None:
    engine = AtEngine()
    events = feed(engine, "\r\n+CMT: ,23\r\nRING\r\n")
    assert [(e.kind, e.pdu) for e in events if isinstance(e, Urc)] == [
        ("+CMT", None),
        ("RING", None),
    ]


def test_cusd_answer_is_a_urc_even_during_the_cusd_command() -> None:
    engine = AtEngine()
    engine.send(cusd("*124#", 15), 0.0)
    assert engine.data_to_send() == b'AT+CUSD=1,"*124#",15\r'
    events = feed(engine, '\r\n+CUSD: 0,"Balance 2.50",15\r\n\r\nOK\r\n')
    assert isinstance(events[0], Urc) and events[0].kind == "+CUSD"
    assert only_done(events).lines == ()
    engine, _ = started("AT+CUSD?")
    assert only_done(feed(engine, "\r\n+CUSD: 1\r\nOK\r\n")).lines == ("+CUSD: 1",)


@pytest.mark.parametrize(
    "line,kind",
    [
        ("RING", "RING"),
        ("+CRING: VOICE", "+CRING"),
        ('+CLIP: "+85512345678",145,,,,0', "+CLIP"),
        ("+CREG: 1", "+CREG"),
        ("+CEREG: 5", "+CEREG"),
        ("^ORIG: 1,0", "^ORIG"),
        ("^CONF: 1", "^CONF"),
        ("^CONN: 1,0", "^CONN"),
        ("^CEND: 1,0,104,16", "^CEND"),
        ("^RSSI: 17", "^RSSI"),
        ("^SYSSTART", "^SYSSTART"),
        ("RDY", "RDY"),
        ("SMS Ready", "SMS Ready"),
        ("Call Ready", "Call Ready"),
        ('+CDSI: "SM",4', "+CDSI"),
        ("+QIND: SMS DONE", "+QIND"),
        ("NO CARRIER", "NO CARRIER"),
    ],
)
def test_urcs_outside_and_inside_a_command(line: str, kind: str) -> None:
    engine = AtEngine()
    [event] = feed(engine, f"\r\n{line}\r\n")
    assert isinstance(event, Urc) and event.kind == kind and event.text == line
    engine, _ = started("AT+CSQ")
    events = feed(engine, f"\r\n{line}\r\n+CSQ: 9,99\r\nOK\r\n")
    assert isinstance(events[0], Urc) and events[0].kind == kind
    assert only_done(events).lines == ("+CSQ: 9,99",)


def test_no_carrier_and_busy_end_a_dial() -> None:
    engine = AtEngine()
    engine.send(atd("+85512345678"), 0.0)
    assert engine.data_to_send() == b"ATD+85512345678;\r"
    done = only_done(feed(engine, "\r\nBUSY\r\n"))
    assert not done.ok and done.final == "BUSY"
    engine = AtEngine()
    engine.send(atd("012"), 0.0)
    assert only_done(feed(engine, "\r\nNO CARRIER\r\n")).final == "NO CARRIER"


def test_garbage_never_raises_and_is_reported() -> None:
    engine = AtEngine()
    events = feed(engine, "\r\n\x00\xff\xfe junk\r\nOK\r\n")
    assert [type(e) for e in events] == [Garbage, Garbage]  # stray OK too
    engine, _ = started("AT+CSQ")
    events = feed(engine, "\r\nhello there\r\n+CSQ: 1,1\r\nOK\r\n")
    assert isinstance(events[0], Garbage) and events[0].line == "hello there"
    assert only_done(events).lines == ("+CSQ: 1,1",)


def test_the_echo_of_our_own_escape_is_not_garbage() -> None:
    # The driver writes ESC + CR on open to leave a stuck "> " prompt; a modem with echo
    # on sends it back. That is our own byte, not something the modem said.
    engine = AtEngine()
    assert feed(engine, "\x1b\r\n") == []
    engine, _ = started("AT+CSQ")
    events = feed(engine, "\x1b\r\nAT+CSQ\r\r\n+CSQ: 20,99\r\nOK\r\n")
    assert only_done(events).lines == ("+CSQ: 20,99",) and len(events) == 1


def test_info_commands_take_bare_lines() -> None:
    engine, _ = started("AT+CGSN")
    assert only_done(feed(engine, "\r\n861234567890123\r\n\r\nOK\r\n")).lines == (
        "861234567890123",
    )
    engine = AtEngine()
    engine.send(technician("ATI"), 0.0)
    engine.data_to_send()
    assert only_done(feed(engine, "\r\nManufacturer: X\r\nModel: Y\r\nOK\r\n")).lines == (
        "Manufacturer: X",
        "Model: Y",
    )


def test_runaway_line_is_dropped_as_garbage() -> None:
    engine = AtEngine()
    events = engine.receive_data(b"A" * 10_000, 0.0)
    assert len(events) == 1 and isinstance(events[0], Garbage)


def test_reset_returns_the_lost_commands() -> None:
    engine, first = started("AT+CSQ")
    second = simple("AT+COPS?")
    engine.send(second, 0.0)
    assert engine.reset() == [first, second]
    assert not engine.busy and engine.data_to_send() == b""


# ------------------------------------------------------------------ no injection


@pytest.mark.parametrize(
    "number", ["+855\r\nAT+CFUN=0", "+855;AT+CFUN=0", "1\x1a", "12\n", "+", "", "1 2", "١٢٣"]
)
def test_numbers_accept_only_digits_plus_star_hash(number: str) -> None:
    with pytest.raises(ValueError):
        number_arg(number)
    with pytest.raises(ValueError):
        atd(number)


def test_valid_numbers() -> None:
    assert number_arg("+85512345678") == "+85512345678"
    assert atd("*123#").line == "ATD*123#;"


@pytest.mark.parametrize("bad", ["1;", "\r", "E", "11", "", "a"])
def test_dtmf_digits(bad: str) -> None:
    with pytest.raises(ValueError):
        vts(bad)
    assert vts("D").line == "AT+VTS=D"


@pytest.mark.parametrize("pdu", [PDU + "\x1a", PDU + "\r\nAT+CFUN=0", "GG", ""])
def test_cmgs_accepts_only_hex(pdu: str) -> None:
    with pytest.raises(ValueError):
        cmgs(pdu, 10)


@pytest.mark.parametrize(
    "line",
    ["AT+CSQ\rAT+CFUN=0", "AT+CSQ\n", "AT\x1a", "AT\x1b", "AT+CSQé", "CFUN=0", "AT+CMGS=20"],
)
def test_technician_lines(line: str) -> None:
    with pytest.raises(ValueError):
        technician(line)


def test_engine_refuses_control_characters_even_from_a_hand_built_command() -> None:
    engine = AtEngine()
    for line in ("AT+CSQ\rAT+CFUN=0", "AT\x1a", "ATé", "CFUN=0"):
        with pytest.raises(ProtocolError):
            engine.send(Command(line), 0.0)
    with pytest.raises(ProtocolError):
        engine.send(Command("AT+CMGS=5", pdu="00\r"), 0.0)
    assert engine.data_to_send() == b""


def test_other_builders_validate() -> None:
    with pytest.raises(ValueError):
        cmgr(-1)
    with pytest.raises(ValueError):
        cmgd(10_000)
    with pytest.raises(ValueError):
        cpin('1234"\r')
    with pytest.raises(ValueError):
        csca('+855",145\rAT')
    with pytest.raises(ValueError):
        cusd('*1#"', 15)
    assert csca("+85512000000").line == 'AT+CSCA="+85512000000",145'
    assert cpin("1234").line == 'AT+CPIN="1234"'
