"""GSM-7 and UCS-2 primitives (TS 23.038)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from base.errors import ProtocolError
from drivers.gsm.gsm7 import (
    ESC,
    GSM7_BASIC,
    GSM7_EXTENSION,
    can_encode_gsm7,
    decode_gsm7_septets,
    decode_ucs2,
    encode_ucs2,
    gsm7_septets,
    pack_septets,
    unpack_septets,
)

GSM7_CHARS = [c for i, c in enumerate(GSM7_BASIC) if i != ESC] + list(GSM7_EXTENSION.values())
gsm7_text = st.text(alphabet=st.sampled_from(GSM7_CHARS), max_size=200)

# Known vectors: text -> packed octets (from TS 23.038 examples and common references).
PACKED = [
    ("hellohello", "E8329BFD4697D9EC37"),
    ("Hello World!", "C8329BFD065DDF72363904"),
    ("123", "31D90C"),
    ("12345678", "31D98C56B3DD70"),
    ("How are you?", "C8F71D14969741F977FD07"),
    ("2 € par mois", "32D0A60C8287E5A0F63B3D07"),
    ("[{abc}]~", "1BDE0615168F37A98D6FD303"),
]


def test_tables_have_the_standard_shape() -> None:
    assert len(GSM7_BASIC) == 128
    assert GSM7_BASIC[0x00] == "@" and GSM7_BASIC[0x02] == "$" and GSM7_BASIC[0x7F] == "à"
    assert set(GSM7_EXTENSION.values()) == set("€[]{}~^|\\\f")


@pytest.mark.parametrize(("text", "packed"), PACKED)
def test_known_vectors_pack_and_unpack(text: str, packed: str) -> None:
    septets = gsm7_septets(text)
    assert pack_septets(septets).hex().upper() == packed
    assert decode_gsm7_septets(unpack_septets(bytes.fromhex(packed), len(septets))) == text


def test_extension_characters_cost_two_septets() -> None:
    for ch in "€[]{}~^|\\\f":
        septets = gsm7_septets(ch)
        assert septets[0] == ESC and len(septets) == 2
    assert gsm7_septets("a€") == [0x61, ESC, 0x65]


def test_can_encode_gsm7() -> None:
    assert can_encode_gsm7("Hello @£$ ÄÖÑÜ € {}")
    assert can_encode_gsm7("")
    assert not can_encode_gsm7("សួស្តី")
    assert not can_encode_gsm7("ç")  # only capital Ç is in the table
    assert not can_encode_gsm7("\x1b")
    assert not can_encode_gsm7("😀")


def test_gsm7_septets_refuses_what_it_cannot_carry() -> None:
    with pytest.raises(ValueError, match="not in the GSM 7-bit alphabet"):
        gsm7_septets("hi 😀")


def test_fill_bits_shift_the_first_septet() -> None:
    # After a 6-octet UDH one fill bit aligns the text: 'h' (0x68) shifted left by one.
    assert pack_septets([0x68], fill_bits=1) == bytes([0xD0])
    assert unpack_septets(bytes([0xD0]), 1, fill_bits=1) == [0x68]


def test_pack_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError):
        pack_septets([128])
    with pytest.raises(ValueError):
        pack_septets([1], fill_bits=7)


def test_unpack_short_data_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        unpack_septets(b"\x01", 3)


def test_decoding_unknown_escape_shows_the_basic_character() -> None:
    # TS 23.038 §6.2.1.1: ESC + a code with no extension character -> the basic one.
    assert decode_gsm7_septets([ESC, 0x41]) == "A"
    assert decode_gsm7_septets([ESC, ESC]) == " "
    assert decode_gsm7_septets([0x41, ESC]) == "A"  # dangling escape dropped
    with pytest.raises(ProtocolError):
        decode_gsm7_septets([200])


@given(gsm7_text, st.integers(min_value=0, max_value=6))
def test_gsm7_round_trip(text: str, fill: int) -> None:
    septets = gsm7_septets(text)
    packed = pack_septets(septets, fill)
    assert len(packed) == (fill + 7 * len(septets) + 7) // 8
    assert decode_gsm7_septets(unpack_septets(packed, len(septets), fill)) == text


def test_ucs2_uses_surrogate_pairs_for_emoji() -> None:
    assert encode_ucs2("A😀") == bytes.fromhex("0041D83DDE00")
    assert decode_ucs2(bytes.fromhex("0041D83DDE00")) == "A😀"
    assert encode_ucs2("សួស្តី").hex().upper() == "179F17BD179F17D2178F17B8"


def test_ucs2_tolerates_odd_bytes_and_lone_surrogates() -> None:
    assert decode_ucs2(bytes.fromhex("004100")) == "A\ufffd"
    assert decode_ucs2(bytes.fromhex("D83D0041")) == "\ufffdA"
    assert decode_ucs2(bytes.fromhex("DE00")) == "\ufffd"
    assert decode_ucs2(b"") == ""


@given(st.text())
def test_ucs2_round_trip(text: str) -> None:
    assert decode_ucs2(encode_ucs2(text)) == text


@given(st.binary(max_size=64))
def test_decode_ucs2_never_raises(data: bytes) -> None:
    assert isinstance(decode_ucs2(data), str)
