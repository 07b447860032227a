"""Fuzz the AT engine: whatever bytes a modem sends, no exception escapes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.gsm.engine import AtEngine, Command, Done, Event, Urc, cmgl, cmgs, simple

pytestmark = pytest.mark.faults

PDU = "0011000B915855214365F70000AA05E8329BFD06"
LINES = [
    "OK",
    "ERROR",
    "+CME ERROR: 10",
    "+CMS ERROR: 500",
    "> ",
    "RING",
    "NO CARRIER",
    '+CMTI: "SM",1',
    "+CMT: ,23",
    "+CDS: 25",
    PDU,
    "+CMGL: 0,1,,23",
    "+CSQ: 20,99",
    '+CUSD: 0,"x",15',
    "^CEND: 1,0,104,16",
    "AT+CSQ",
    "\x00\xff",
    "",
]


def _commands() -> list[Command]:
    return [simple("AT+CSQ"), cmgl(4), cmgs(PDU, 19), simple("AT+CGSN"), simple("ATD123;")]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=20), st.integers(0, 4))
def test_random_bytes_never_raise(chunks: list[bytes], which: int) -> None:
    engine = AtEngine()
    engine.send(_commands()[which], 0.0)
    now = 0.0
    for chunk in chunks:
        now += 0.5
        events = engine.receive_data(chunk, now)
        assert all(isinstance(e, Event.__args__) for e in events)
        engine.data_to_send()
    engine.check_timeouts(now + 100)
    assert not engine.busy


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(LINES), max_size=30),
    st.lists(st.integers(1, 7), min_size=1, max_size=10),
    st.integers(0, 4),
)
def test_modem_like_lines_split_anywhere_never_raise(
    lines: list[str], cuts: list[int], which: int
) -> None:
    data = "".join(f"\r\n{line}\r\n" for line in lines).encode("latin-1")
    engine = AtEngine()
    for command in _commands()[: which + 1]:
        engine.send(command, 0.0)
    i = 0
    k = 0
    while i < len(data):
        step = cuts[k % len(cuts)]
        engine.receive_data(data[i : i + step], 1.0)
        engine.data_to_send()
        i += step
        k += 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(LINES[:-3]), max_size=12), st.integers(1, 9))
def test_chunking_does_not_change_the_events(lines: list[str], step: int) -> None:
    data = "".join(f"\r\n{line}\r\n" for line in lines).encode("latin-1")

    def run(chunk: int) -> list[tuple[str, str]]:
        engine = AtEngine()
        engine.send(simple("AT+CSQ"), 0.0)
        out: list[tuple[str, str]] = []
        for i in range(0, max(len(data), 1), chunk):
            for e in engine.receive_data(data[i : i + chunk], 1.0):
                if isinstance(e, Done):
                    out.append(("done", e.final + "|" + "|".join(e.lines)))
                elif isinstance(e, Urc):
                    out.append((e.kind, e.pdu or ""))
                else:
                    out.append((type(e).__name__, ""))
        return out

    assert run(step) == run(len(data) or 1)
