from __future__ import annotations

import pytest

from base.errors import Rejected
from switch.phone import normalize_phone


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+85512345678", "KH", "+85512345678"),
        ("012 345 678", "KH", "+85512345678"),
        (" (012) 345-678 ", "KH", "+85512345678"),
        ("081.234.5678", "TH", "+66812345678"),
        ("0912 345 6789", "IR", "+989123456789"),
    ],
)
def test_written_forms_normalise_to_e164(raw: str, region: str, e164: str) -> None:
    assert normalize_phone(raw, region) == e164


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "+1",
        "not a number",
        "+85512345678\x1a",
        "+85512345678\r\n",
        "+85512345678\r\nAT+CFUN=0",
        "+85512345678 ;",
        "012345678;AT+CFUN=0",
        "+85512345678 ext. 5",
        "+855\x1b12345678",
        "+85512345678,,1",
        "1" * 40,
    ],
)
def test_junk_is_refused_not_dropped(raw: str) -> None:
    with pytest.raises(Rejected) as err:
        normalize_phone(raw, "KH")
    assert err.value.code == "invalid_phone"
