"""Fuzzing the decoders: nothing but ProtocolError may come out, whatever goes in.

Each ProtocolError must also come from an explicit check, not from the safety net that
turns a stray ValueError/IndexError into one (``__cause__`` stays empty).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from base.errors import ProtocolError
from drivers.gsm.gsm7 import decode_gsm7_septets, decode_ucs2, unpack_septets
from drivers.gsm.pdu import (
    Deliver,
    StatusReport,
    Submit,
    decode_pdu,
    decode_submit,
    encode_deliver,
    encode_status_report,
    encode_submit,
    pdu_fingerprint,
)
from drivers.gsm.ussd import decode_ussd

pytestmark = pytest.mark.faults

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

hex_text = st.text(alphabet="0123456789ABCDEFabcdef", max_size=400)
random_bytes_hex = st.binary(max_size=200).map(lambda b: b.hex())
any_text = st.text(max_size=200)
samples = ["Hi €{}", "សួស្តី " * 30, "x" * 200, "😀" * 40, ""]
when = datetime(2024, 2, 29, 23, 59, 59, tzinfo=timezone(timedelta(hours=7)))


def _valid_pdus() -> list[str]:
    out: list[str] = []
    for text in samples:
        out += encode_deliver("+85512345678", text, timestamp=when, reference=300)
        out += encode_deliver("Smart", text, timestamp=when)
        out += [p.hex for p in encode_submit("+85512345678", text, reference=5)]
        out += [p.hex for p in encode_submit("012", text, reference=999, smsc="+8551")]
    out.append(encode_status_report(9, "+85512345678", 0x41, scts=when, discharge=when))
    return out


VALID = _valid_pdus()


def _only_protocol_error(decoder: Callable[[str], object], pdu: object) -> object:
    try:
        result = decoder(pdu)  # type: ignore[arg-type]
    except ProtocolError as exc:
        assert exc.__cause__ is None, f"safety net caught {exc.__cause__!r}"
        return None
    assert isinstance(result, Deliver | StatusReport | Submit)
    if isinstance(result, Deliver):
        assert isinstance(result.text, str) and result.timestamp.tzinfo is not None
    return result


DECODERS: list[Callable[[str], object]] = [decode_pdu, decode_submit]


@FUZZ
@given(hex_text)
def test_random_hex_strings(pdu: str) -> None:
    for decoder in DECODERS:
        _only_protocol_error(decoder, pdu)


@FUZZ
@given(random_bytes_hex)
def test_random_bytes(pdu: str) -> None:
    for decoder in DECODERS:
        _only_protocol_error(decoder, pdu)


@FUZZ
@given(any_text)
def test_random_text(pdu: str) -> None:
    for decoder in DECODERS:
        _only_protocol_error(decoder, pdu)
    assert len(pdu_fingerprint(pdu)) == 64


@FUZZ
@given(st.sampled_from(VALID), st.data())
def test_truncated_valid_pdus(pdu: str, data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(pdu)))
    for decoder in DECODERS:
        _only_protocol_error(decoder, pdu[:cut])


@FUZZ
@given(
    st.sampled_from(VALID),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=4),
)
def test_mutated_valid_pdus(pdu: str, edits: list[tuple[int, int]]) -> None:
    raw = bytearray.fromhex(pdu)
    for pos, value in edits:
        raw[pos % len(raw)] = value
    for decoder in DECODERS:
        _only_protocol_error(decoder, raw.hex())


@FUZZ
@given(
    st.sampled_from(["00", "07915815020000F0", "0291F1"]),
    st.integers(0, 255),
    st.binary(max_size=60),
)
def test_valid_prefix_then_garbage(smsc: str, first: int, rest: bytes) -> None:
    pdu = smsc + f"{first:02X}" + rest.hex()
    for decoder in DECODERS:
        _only_protocol_error(decoder, pdu)
    _only_protocol_error(lambda p: decode_submit(p, tpdu_length=len(rest) + 1), pdu)


@pytest.mark.parametrize("value", [None, b"0011", 17, ["00"], "0", "zz", "00 0"])
def test_non_hex_and_non_str_inputs(value: object) -> None:
    for decoder in DECODERS:
        with pytest.raises(ProtocolError):
            decoder(value)  # type: ignore[arg-type]  # deliberately not a str


@FUZZ
@given(st.binary(max_size=60), st.integers(0, 80), st.integers(0, 7))
def test_septet_unpacking(data: bytes, count: int, fill: int) -> None:
    try:
        septets = unpack_septets(data, count, fill)
    except ProtocolError:
        return
    assert len(septets) == count
    assert isinstance(decode_gsm7_septets(septets), str)
    assert isinstance(decode_ucs2(data), str)


@FUZZ
@given(st.one_of(hex_text, any_text), st.integers(0, 255))
def test_ussd(payload: str, dcs: int) -> None:
    with contextlib.suppress(ProtocolError):
        assert isinstance(decode_ussd(payload, dcs), str)


def test_valid_pdus_decode() -> None:
    for pdu in VALID:
        decoded = _only_protocol_error(decode_pdu, pdu) or _only_protocol_error(decode_submit, pdu)
        assert decoded is not None
    assert when.astimezone(UTC).year == 2024
