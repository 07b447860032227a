"""The simulator's sans-IO core with a fake clock: exact timing, no pty, no sleeping."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.gsm.pdu import Deliver, StatusReport, decode_pdu, encode_submit
from drivers.gsm.simulator import Delivery, ModemMachine, Timing


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make(**kwargs: object) -> tuple[ModemMachine, Clock]:
    clock = Clock()
    machine = ModemMachine(now=clock, wall_clock=lambda: 1_767_225_600.0 + clock.t, **kwargs)  # type: ignore[arg-type]
    machine.receive_data(b"ATE0\r")
    machine.data_to_send()
    return machine, clock


def at(machine: ModemMachine, line: str) -> bytes:
    machine.receive_data(line.encode() + b"\r")
    return machine.data_to_send()


def tick(machine: ModemMachine, clock: Clock, seconds: float) -> bytes:
    clock.t += seconds
    machine.advance()
    return machine.data_to_send()


def test_cnma_timeout_redelivers_at_exactly_the_timeout() -> None:
    m, clock = make(timing=Timing(cnma_timeout=30.0))
    at(m, "AT+CNMI=2,2,0,0,0")
    m.deliver_sms("+85512345678", "hello")
    first = m.data_to_send()
    assert first.startswith(b"\r\n+CMT: ,")
    assert tick(m, clock, 29.9) == b""
    assert tick(m, clock, 0.1) == first
    assert m.counters["cmt_unacked"] == 1
    assert at(m, "AT+CNMA") == b"\r\nOK\r\n"
    assert tick(m, clock, 60) == b""


def test_cnma_nack_redelivers_later() -> None:
    m, clock = make(timing=Timing(cnma_timeout=10.0))
    at(m, "AT+CNMI=2,2,0,0,0")
    m.deliver_sms("+85512345678", "hello")
    first = m.data_to_send()
    assert at(m, "AT+CNMA=2") == b"\r\nOK\r\n"
    assert tick(m, clock, 10.0) == first
    assert m.counters["cmt_nacked"] == 1


def test_switching_cnmi_away_from_cmt_moves_the_unacked_message_to_the_sim() -> None:
    m, _ = make()
    at(m, "AT+CNMI=2,2,0,0,0")
    m.deliver_sms("+85512345678", "hello")
    m.data_to_send()
    assert at(m, "AT+CNMI=2,1,0,0,0") == b'\r\nOK\r\n\r\n+CMTI: "SM",0\r\n'


def test_messages_wait_in_the_network_while_not_registered() -> None:
    m, _ = make()
    at(m, "AT+CNMI=2,1,0,0,0")
    m.set_registration(2)
    m.deliver_sms("+85512345678", "later")
    assert m.data_to_send() == b""
    assert len(m.network_queue) == 1
    m.set_registration(1)
    assert m.data_to_send() == b'\r\n+CMTI: "SM",0\r\n'


def test_status_report_sequence_follows_report_delay() -> None:
    m, clock = make(timing=Timing(cmgs_delay=1.0, report_delay=5.0))
    at(m, "AT+CNMI=2,1,0,1,0")
    m.set_outcome("*", ["pending", "delivered"])
    part = encode_submit("+85598765432", "hi", reference=1)[0]
    assert at(m, f"AT+CMGS={part.tpdu_length}") == b"\r\n> "
    m.receive_data(part.hex.encode() + b"\x1a")
    assert m.data_to_send() == b""
    assert tick(m, clock, 1.0) == b"\r\n+CMGS: 0\r\n\r\nOK\r\n"
    assert tick(m, clock, 4.9) == b""
    out = tick(m, clock, 0.1).decode()
    report = decode_pdu(out.split("\r\n")[2])
    assert isinstance(report, StatusReport) and report.outcome == "pending"
    at(m, "AT+CNMA")
    out = tick(m, clock, 5.0).decode()
    report = decode_pdu(out.split("\r\n")[2])
    assert isinstance(report, StatusReport) and report.outcome == "delivered"


def test_input_waits_while_a_command_is_busy() -> None:
    m, clock = make(timing=Timing(cmgs_delay=2.0))
    part = encode_submit("+85598765432", "hi", reference=1, request_status_report=False)[0]
    at(m, f"AT+CMGS={part.tpdu_length}")
    m.receive_data(part.hex.encode() + b"\x1aAT+CSQ\r")
    assert m.data_to_send() == b""
    assert tick(m, clock, 2.0) == b"\r\n+CMGS: 0\r\n\r\nOK\r\n\r\n+CSQ: 20,99\r\n\r\nOK\r\n"


def test_reboot_forgets_the_pending_answer_but_keeps_the_sim() -> None:
    m, clock = make(timing=Timing(cmgs_delay=2.0, reboot_time=1.0))
    m.deliver_sms("+85512345678", "kept")
    assert at(m, "AT+CFUN=1,1") == b"\r\nOK\r\n"
    assert at(m, "AT") == b""  # booting: swallowed
    assert tick(m, clock, 1.0) == b"\r\n^SYSSTART\r\n"
    assert at(m, "AT+CMGL=4").count(b"+CMGL:") == 1


def test_a_slash_repeats_the_last_command() -> None:
    m, _ = make()
    assert at(m, "AT+CSQ") == at(m, "A/")


def test_cmgs_without_sim_or_pin() -> None:
    m, _ = make(pin="1234")
    assert at(m, "AT+CMGS=20") == b"\r\n+CMS ERROR: 311\r\n"
    m.remove_sim()
    m.data_to_send()
    assert at(m, "AT+CMGS=20") == b"\r\n+CMS ERROR: 310\r\n"


def test_deliver_sms_rejects_part_numbers_out_of_range() -> None:
    m, _ = make()
    try:
        m.deliver_sms("+85512345678", "short", Delivery(order=(2,)))
    except ValueError as exc:
        assert "out of range" in str(exc)
    else:
        raise AssertionError("expected ValueError")


def test_deliver_sms_interval_spaces_parts() -> None:
    m, clock = make()
    at(m, "AT+CNMI=2,1,0,0,0")
    count, pdus = m.deliver_sms("+85512345678", "y" * 200, Delivery(interval=3.0))
    assert count == 2 and len(pdus) == 2
    assert m.data_to_send() == b'\r\n+CMTI: "SM",0\r\n'
    assert tick(m, clock, 2.9) == b""
    assert tick(m, clock, 0.1) == b'\r\n+CMTI: "SM",1\r\n'
    decoded = decode_pdu(pdus[1])
    assert isinstance(decoded, Deliver) and decoded.concat is not None


def test_sent_messages_group_parts_and_flag_incomplete() -> None:
    m, clock = make(timing=Timing(cmgs_delay=0.0))
    parts = encode_submit("+85598765432", "z" * 200, reference=9, request_status_report=False)
    for p in parts[:1]:
        at(m, f"AT+CMGS={p.tpdu_length}")
        m.receive_data(p.hex.encode() + b"\x1a")
        tick(m, clock, 0)
    assert m.sent_messages()[0]["complete"] is False
    assert m.sent_messages()[0]["parts"] == 2


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=8))
def test_arbitrary_input_never_raises(chunks: list[bytes]) -> None:
    m, clock = make(timing=Timing(cmgs_delay=0.0, reboot_time=0.0, ussd_delay=0.0))
    for chunk in chunks:
        m.receive_data(chunk)
        clock.t += 0.5
        m.advance()
        assert isinstance(m.data_to_send(), bytes)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "AT",
                "ATZ",
                "AT+CMGL=4",
                "AT+CMGR=0",
                "AT+CMGD=0,4",
                "AT+CNMI=2,2,0,1,0",
                "AT+CNMI=2,1,0,2,0",
                "AT+CNMA",
                "AT+CFUN=1,1",
                "AT+CPMS?",
                'AT+CUSD=1,"*888#",15',
                'AT+CUSD=1,"1",15',
                "ATD+85512345678;",
                "ATA",
                "ATH",
                "AT+CLCC",
                "AT+VTS=1",
                "AT+CMGS=5",
                "\x1b",
                "AT+CREG=2",
                "AT+COPS=2",
                "AT+COPS=0",
                "AT+CMEE=2",
            ]
        ),
        max_size=20,
    ),
    st.lists(
        st.sampled_from(["sms", "cmt", "call", "hangup", "unreg", "reg", "tick"]), max_size=10
    ),
)
def test_command_and_event_soup_keeps_invariants(commands: list[str], events: list[str]) -> None:
    m, clock = make(storage_size=2, timing=Timing(cmgs_delay=0.1, reboot_time=0.2))
    for i, command in enumerate(commands):
        m.receive_data(command.encode() + b"\r")
        if i < len(events):
            event = events[i]
            if event == "sms":
                m.deliver_sms("+85512345678", "soup " * 40)
            elif event == "cmt":
                m.deliver_sms("+85512345678", "direct", Delivery(mode="cmt"))
            elif event == "call" and not m.calls and m.registered():
                m.incoming_call("+85512345678")
            elif event == "hangup":
                m.remote_hangup()
            elif event == "unreg":
                m.set_registration(0)
            elif event == "reg":
                m.set_registration(1)
        clock.t += 0.3
        m.advance()
        m.data_to_send()
    used = sum(s is not None for s in m.storage)
    assert 0 <= used <= 2
    assert m.snapshot()["storage"]["used"] == used
    assert 0 <= m.next_mr <= 255


def test_command_delay_holds_every_final_result_and_queues_the_next_line() -> None:
    m, clock = make(timing=Timing(command_delay=0.05))
    assert tick(m, clock, 0.05) == b"\r\nOK\r\n"  # make()'s ATE0
    assert at(m, "AT+CSQ") == b""
    assert at(m, "AT") == b""  # typed while the first is pending: waits its turn
    assert tick(m, clock, 0.049) == b""
    assert tick(m, clock, 0.001) == b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n"
    assert tick(m, clock, 0.05) == b"\r\nOK\r\n"
