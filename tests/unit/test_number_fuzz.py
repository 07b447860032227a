"""Phone numbers from outside (API bodies, modems, SIP user parts): whatever arrives,
normalisation answers with a number or the documented error, never anything else."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from base.errors import Rejected
from drivers.sip.numbers import from_provider, to_provider
from switch.config import TrunkConfig
from switch.phone import normalize_phone

pytestmark = pytest.mark.faults

E164 = r"^\+[1-9][0-9]{6,14}$"
REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)

# Text that looks like a number often enough to reach phonenumbers' deeper paths.
numberish = st.text(alphabet="+0123456789 ().-/;,#*x", max_size=40)
anything = st.text(max_size=60)
regions = st.sampled_from(REGIONS) | st.text(max_size=4)
trunks = st.sampled_from(
    [
        TrunkConfig.model_validate({"id": "t", "host": "h", "number_format": fmt})
        for fmt in ("+e164", "e164", "national")
    ]
)


@settings(max_examples=400, deadline=None)
@given(raw=numberish | anything, region=regions)
def test_normalize_phone_gives_e164_or_invalid_phone(raw: str, region: str) -> None:
    try:
        e164 = normalize_phone(raw, region)
    except Rejected as exc:
        assert exc.code == "invalid_phone" and exc.status == 422
    else:
        assert phonenumbers.is_valid_number(phonenumbers.parse(e164, None))
        assert e164 == normalize_phone(e164, "KH")  # E.164 reads back as itself


@settings(max_examples=400, deadline=None)
@given(user=numberish | anything, trunk=trunks, region=st.sampled_from(REGIONS))
def test_from_provider_gives_e164_or_none(user: str, trunk: TrunkConfig, region: str) -> None:
    found = from_provider(user, trunk, region)  # type: ignore[arg-type]
    assert found is None or (found.startswith("+") and found[1:].isdigit())


@settings(max_examples=400, deadline=None)
@given(number=numberish | anything, trunk=trunks, region=st.none() | regions)
def test_to_provider_formats_or_refuses_with_invalid_number(
    number: str, trunk: TrunkConfig, region: str | None
) -> None:
    try:
        written = to_provider(number, trunk, region=region)  # type: ignore[arg-type]
    except Rejected as exc:
        assert exc.code == "invalid_number"
    else:
        assert written and all(c.isdigit() or c == "+" for c in written)
