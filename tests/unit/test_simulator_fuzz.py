"""Fuzz the simulated modem's terminal side: whatever a driver writes, the simulator
answers or stays silent, and never breaks (its AT line parser and its whole machine).

A technician's terminal, a buggy driver or line noise can write anything to the pty.
The line parser gives commands or :class:`ParseError` (answered ``ERROR``); the machine
takes any bytes at any moment (in a command, in the ``> `` prompt, while busy) without
an exception, and once the line is cleared (ESC, a carriage return) and its timers have
run, it answers a plain ``AT`` with ``OK`` again.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.gsm.simulator import ModemMachine
from drivers.gsm.simulator.atparse import Cmd, ParseError, parse_line

pytestmark = pytest.mark.faults

KINDS = {"exec", "read", "test", "set"}
# What drivers and technicians really type, to recombine with noise.
WORDS = [
    "AT",
    "ATE0",
    "ATZ",
    "AT+CMGF=0",
    "AT+CMGF?",
    "AT+CNMI=2,1,0,2,0",
    "AT+CPMS?",
    'AT+CPMS="SM","SM","SM"',
    "AT+CMGL=4",
    "AT+CMGR=1",
    "AT+CMGD=1",
    "AT+CMGS=23",
    "AT+CMGW=23",
    "AT+CNMA",
    "AT+CSQ",
    "AT+CREG?",
    "AT+CFUN=1,1",
    "AT+CFUN=0",
    "AT+CFUN=1",
    "AT+CUSD=1,\"*124#\",15",
    "AT+CPIN?",
    "AT+CPIN=\"1234\"",
    "AT+CMEE=2",
    "ATD012345678;",
    "ATA",
    "ATH",
    "AT+CHUP",
    "AT^SYSINFO",
    "ATS0=0",
    "ATS7?",
    "AT&F",
    "0011000B915855214365F70000AA05E8329BFD06",
    "\x1a",
    "\x1b",
    "\r",
    "\n",
    ";",
    '"',
    "\x00\xff",
]


def _parses_or_refuses(body: str) -> None:
    try:
        cmds = parse_line(body)
    except ParseError:
        return
    for cmd in cmds:
        assert isinstance(cmd, Cmd) and cmd.name and cmd.kind in KINDS
        assert cmd.text.startswith("AT")


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80))
def test_any_line_parses_to_commands_or_a_parse_error(body: str) -> None:
    _parses_or_refuses(body)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*WORDS, "+", "^", "&", "S", "=", "?", "=?", ","]), max_size=12))
def test_command_like_lines_parse_to_commands_or_a_parse_error(pieces: list[str]) -> None:
    _parses_or_refuses("".join(pieces))


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _machine(profile: str) -> tuple[ModemMachine, Clock]:
    clock = Clock()
    machine = ModemMachine(
        now=clock, wall_clock=lambda: 1_767_225_600.0 + clock.t, profile=profile
    )
    return machine, clock


def _settle(machine: ModemMachine, clock: Clock) -> None:
    """Let every pending timer run (reboots, +CMGS delays, URCs), a minute at most."""
    for _ in range(200):
        deadline = machine.next_deadline()
        if deadline is None or deadline > clock.t + 60:
            return
        clock.t = max(clock.t, deadline)
        machine.advance()
        machine.data_to_send()


chunks = st.one_of(
    st.binary(max_size=40),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(
        lambda ws: "".join(w if w in ("\r", "\x1a", "\x1b") else w + "\r" for w in ws).encode(
            "utf-8", "surrogatepass"
        )
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["huawei", "simcom", "quectel"]),
    st.lists(st.tuples(chunks, st.floats(0.0, 3.0)), max_size=15),
)
def test_any_bytes_at_any_moment_leave_a_modem_that_answers(
    profile: str, writes: list[tuple[bytes, float]]
) -> None:
    machine, clock = _machine(profile)
    for data, pause in writes:
        machine.receive_data(data)
        out = machine.data_to_send()
        assert isinstance(out, bytes)
        clock.t += pause
        machine.advance()
        machine.data_to_send()
    # clear the line: leave a half-typed PDU, end a half-typed command, then wait
    machine.receive_data(b"\x1b\r")
    _settle(machine, clock)
    machine.data_to_send()
    if not machine.powered:  # AT+CFUN=0 keeps the port; a power-off needs the cable
        machine.power_on()
        _settle(machine, clock)
        machine.data_to_send()
    machine.receive_data(b"AT\r")
    _settle(machine, clock)
    assert b"OK\r\n" in machine.data_to_send()
