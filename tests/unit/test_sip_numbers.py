"""E.164 <-> provider formats per trunk (drivers/sip/numbers.py)."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from base.errors import Rejected
from drivers.sip.numbers import from_provider, to_provider
from switch.config import TrunkConfig


def trunk(fmt: str) -> TrunkConfig:
    return TrunkConfig.model_validate({"id": "t1", "host": "127.0.0.1", "number_format": fmt})


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("+e164", "+85523900100"), ("e164", "85523900100"), ("national", "023900100")],
)
def test_to_provider_writes_each_trunk_format(fmt: str, expected: str) -> None:
    assert to_provider("+85523900100", trunk(fmt)) == expected


def test_national_trunk_writes_a_foreign_number_as_dialled_from_its_region() -> None:
    # France has one international prefix (00): dialled from France, a Cambodian number
    # is 00 855 ...
    assert to_provider("+85523900100", trunk("national"), region="FR") == "0085523900100"
    # Cambodia has several international prefixes: keep +E.164 rather than guess.
    assert to_provider("+33142685300", trunk("national"), region="KH") == "+33142685300"
    assert to_provider("+33142685300", trunk("national"), region="FR") == "0142685300"


@pytest.mark.parametrize("bad", ["", "855239", "85523900100", "+0123456789", "+855 23 900"])
def test_to_provider_refuses_what_is_not_e164(bad: str) -> None:
    with pytest.raises(Rejected):
        to_provider(bad, trunk("+e164"))


@pytest.mark.parametrize(
    ("user", "fmt", "expected"),
    [
        ("+85523900100", "+e164", "+85523900100"),
        ("%2B85523900100", "+e164", "+85523900100"),
        ("+85523900100;npdi", "national", "+85523900100"),
        ("85523900100", "e164", "+85523900100"),
        ("023900100", "national", "+85523900100"),
        ("023 900-100", "national", "+85523900100"),
        ("012345678", "+e164", "+85512345678"),
        # an e164 trunk that sends a national number anyway
        ("012345678", "e164", "+85512345678"),
        # a national trunk that sends country code without plus
        ("85512345678", "national", "+85512345678"),
    ],
)
def test_from_provider_reads_numbers_back_to_e164(user: str, fmt: str, expected: str) -> None:
    assert from_provider(user, trunk(fmt), "KH") == expected


def test_from_provider_strips_the_default_regions_international_prefix() -> None:
    assert from_provider("0012025550123", trunk("national"), "FR") == "+12025550123"
    # in Cambodia 001 is itself an international prefix: 001 + 20 (Egypt) ...
    assert from_provider("0012025550123", trunk("national"), "KH") == "+2025550123"


@pytest.mark.parametrize("user", ["anonymous", "", "alice", "+", "12", "sip:1001", "0" * 30])
def test_from_provider_returns_none_for_what_is_not_a_number(user: str) -> None:
    assert from_provider(user, trunk("national"), "KH") is None


def _valid_e164(text: str) -> bool:
    return phonenumbers.is_valid_number(phonenumbers.parse(text, None))


_KH_NUMBERS = st.from_regex(r"\A\+855(1[0-9]|[2-9][0-9])[0-9]{6,7}\Z").filter(_valid_e164)


@settings(max_examples=300)
@given(e164=_KH_NUMBERS, fmt=st.sampled_from(["+e164", "e164", "national"]))
def test_valid_numbers_round_trip_through_every_trunk_format(e164: str, fmt: str) -> None:
    assert from_provider(to_provider(e164, trunk(fmt)), trunk(fmt), "KH") == e164


@pytest.mark.parametrize("region", ["KH", "FR", "US", "DE", "TH", "VN", "GB"])
@pytest.mark.parametrize("fmt", ["+e164", "e164", "national"])
def test_example_numbers_of_many_regions_round_trip(region: str, fmt: str) -> None:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    assert example is not None
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    # a national trunk carries numbers of its own country: read back in that region
    assert from_provider(to_provider(e164, trunk(fmt)), trunk(fmt), region) == e164
