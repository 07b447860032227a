"""USSD payload coding for +CUSD (TS 23.038 §5, TS 27.007)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from smspdudecoder.codecs import GSM

from base.errors import ProtocolError
from drivers.gsm.gsm7 import encode_ucs2, gsm7_septets, pack_septets
from drivers.gsm.ussd import USSD_DCS_GSM7, decode_ussd, encode_ussd_request


@pytest.mark.parametrize(
    ("code", "packed"),
    [
        ("*100#", "AA180C3602"),
        ("*115*5#", "AA58ACA6AA8D1A"),  # 7 characters: CR in the spare bits
        ("*124#", "AA988C3602"),
        ("#", "23"),
    ],
)
def test_request_is_packed_gsm7_hex(code: str, packed: str) -> None:
    assert encode_ussd_request(code) == (packed, 15)
    assert GSM.decode(packed, strip_padding=True) == code  # the independent decoder agrees


def test_request_in_plain_text_mode() -> None:
    assert encode_ussd_request("*855*1#", hex_mode=False) == ("*855*1#", USSD_DCS_GSM7)


@pytest.mark.parametrize(
    "bad", ["", "*100#\r", '*100#"', "*100#;ATD1", "abc", "*1 0#", "١٢٣", "*" * 183]
)
def test_request_refuses_anything_but_digits_star_hash_plus(bad: str) -> None:
    with pytest.raises(ValueError):
        encode_ussd_request(bad)


@given(st.from_regex(r"[0-9*#+]{1,182}", fullmatch=True))
@settings(max_examples=100, deadline=None)
def test_request_round_trip(code: str) -> None:
    payload, dcs = encode_ussd_request(code)
    assert decode_ussd(payload, dcs, form="hex") == code


@pytest.mark.parametrize(
    ("payload", "dcs", "text"),
    [
        # Huawei style: packed GSM-7 as hex.
        ("C8329BFD0E01", 15, "Hello!"),
        ("E8329BFD4697D9EC37", 15, "hellohello"),
        ("AA180C3602", 15, "*100#"),
        # Plain text (SIMCom / Quectel with AT+CSCS="GSM").
        ("Your balance is 1.25 USD", 15, "Your balance is 1.25 USD"),
        ("1234", 15, "1234"),
        # UCS-2 hex for a UCS-2 DCS.
        ("179F17BD179F17D2178F17B8", 72, "សួស្តី"),
        ("00420061006C", 0x48, "Bal"),
        ("0E2A0E270E310E2A0E140E35", 0x08 | 0x40, "สวัสดี"),
        # UCS-2 hex although the DCS says GSM-7 (AT+CSCS="UCS2" modems).
        ("00420061006C0061006E00630065", 15, "Balance"),
        ("0633064406270645", 15, "سلام"),
        # Unpacked septets as hex (AT+CSCS="HEX").
        ("48656C6C6F", 15, "Hello"),
        # 8-bit: the octets as Latin-1.
        ("48E9", 0x44, "Hé"),
    ],
)
def test_decode_auto(payload: str, dcs: int, text: str) -> None:
    assert decode_ussd(payload, dcs) == text


def test_decode_with_a_known_form_skips_the_guessing() -> None:
    assert decode_ussd("1234", 15, form="text") == "1234"
    assert decode_ussd("00410042", 15, form="ucs2-hex") == "AB"
    assert decode_ussd("C8329BFD0E01", 15, form="hex") == "Hello!"
    with pytest.raises(ProtocolError):
        decode_ussd("not hex", 15, form="hex")


def test_decode_language_prefixed_dcs() -> None:
    en = pack_septets(gsm7_septets("en\rHi there")).hex()
    assert decode_ussd(en, 0x10) == "Hi there"
    assert decode_ussd("en\rHi there", 0x10) == "Hi there"
    with_lang = pack_septets(gsm7_septets("en")) + encode_ucs2("សួស្តី")
    assert decode_ussd(with_lang.hex(), 0x11) == "សួស្តី"


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60))
@settings(max_examples=100, deadline=None)
def test_ucs2_dcs_round_trip(text: str) -> None:
    assert decode_ussd(encode_ucs2(text).hex().upper(), 72) == text


@given(
    st.text(
        alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ.,:0123456789"),
        min_size=12,
        max_size=120,
    ).filter(lambda t: any(c.isalpha() for c in t) and not t.endswith("@"))
)
@settings(max_examples=100, deadline=None)
def test_packed_text_is_recognised(text: str) -> None:
    septets = gsm7_septets(text)
    if len(septets) % 8 == 7:
        septets.append(0x0D)
    assert decode_ussd(pack_septets(septets).hex().upper(), 15) == text


@given(st.text(max_size=80), st.integers(min_value=-5, max_value=300))
@settings(max_examples=200, deadline=None)
def test_decode_never_raises_anything_but_protocol_error(payload: str, dcs: int) -> None:
    for form in ("auto", "text", "hex", "ucs2-hex"):
        with contextlib.suppress(ProtocolError):
            assert isinstance(decode_ussd(payload, dcs, form=form), str)  # type: ignore[arg-type]


@given(st.binary(max_size=80), st.integers(min_value=0, max_value=255))
@settings(max_examples=200, deadline=None)
def test_decode_random_hex_never_crashes(data: bytes, dcs: int) -> None:
    assert isinstance(decode_ussd(data.hex(), dcs), str)
