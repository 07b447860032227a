"""Numbers at the SIP edge: E.164 inside the switch, the provider's own format on a trunk.

Each ``[[trunks]]`` entry says how its provider writes numbers (``number_format``):

``"+e164"``    ``+85523900100`` (the default, and what most providers accept)
``"e164"``     ``85523900100`` (country code, no plus)
``"national"`` ``023900100`` (the national form of the number's country, digits only)

:func:`to_provider` formats an E.164 number for a trunk's Request-URI (the media worker
puts ``sip:<to_provider(...)>@<trunk host>:<trunk port>`` in the INVITE it sends through
Kamailio). :func:`from_provider` reads the user part a provider sent (caller id in
From/P-Asserted-Identity, the dialled DID in the Request-URI/To) back to E.164, or
``None`` when it is not a phone number (``anonymous``, a SIP name, garbage).

Both are pure functions; the only state is the phonenumbers metadata. Must not import
either plane (``drivers.sip.edge``, ``drivers.sip.media``).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

import phonenumbers

from base.errors import Rejected
from drivers.sip.settings import TrunkSettings

__all__ = ["from_provider", "to_provider"]

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
# Visual separators a provider (or a phone) may leave in a user part.
_SEPARATORS = re.compile(r"[\s().\-/]")
_DIALLABLE = re.compile(r"^\+?[0-9]{3,20}$")


def to_provider(e164: str, trunk: TrunkSettings, *, region: str | None = None) -> str:
    """``e164`` written the way ``trunk``'s provider wants it in a SIP user part.

    ``region`` (ISO country of the trunk, e.g. ``"KH"``) matters only for ``"national"``
    trunks: a number of another country is then written as dialled from ``region``
    (international prefix + country code) when that region has a single international
    prefix, else as ``+E164``. Without ``region`` a number is written in the national
    form of its own country.
    """
    if not _E164.match(e164):
        raise Rejected("invalid_number", f"{e164!r} is not an E.164 number")
    fmt = trunk.number_format
    if fmt == "+e164":
        return e164
    if fmt == "e164":
        return e164[1:]
    number = phonenumbers.parse(e164, None)
    own_region = phonenumbers.region_code_for_number(number)
    if region is None or own_region == region.upper():
        text = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    else:
        text = phonenumbers.format_out_of_country_calling_number(number, region.upper())
    if text.startswith("+"):
        return e164
    digits = re.sub(r"[^0-9]", "", text)
    return digits or e164


def from_provider(user_part: str, trunk: TrunkSettings, default_region: str) -> str | None:
    """The E.164 form of a number a provider sent in a SIP user part, or ``None``.

    ``user_part`` may be URL-escaped (``%2B855...``), carry user parameters
    (``+855...;npdi``) or visual separators. Reading follows the trunk's
    ``number_format`` first (``"e164"``: country code without ``+``; otherwise a
    national number of ``default_region``), then the other readings, which must give a
    *valid* number: providers are not always consistent.
    """
    text = unquote(user_part).split(";", 1)[0]
    text = _SEPARATORS.sub("", text)
    if text.startswith("tel:"):
        text = text[4:]
    if not _DIALLABLE.match(text):
        return None
    if text.startswith("+"):
        return _e164(text, None, strict=False)
    readings: list[tuple[str, str | None]] = [(text, default_region), ("+" + text, None)]
    if trunk.number_format == "e164":
        readings.reverse()
    first, *rest = readings
    found = _e164(*first, strict=False)
    if found is not None and _valid(found):
        return found
    for candidate in rest:
        other = _e164(*candidate, strict=True)
        if other is not None:
            return other
    return found


def _e164(text: str, region: str | None, *, strict: bool) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if strict:
        if not phonenumbers.is_valid_number(number):
            return None
    elif not phonenumbers.is_possible_number(number):
        return None
    formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return formatted if _E164.match(formatted) else None


def _valid(e164: str) -> bool:
    return phonenumbers.is_valid_number(phonenumbers.parse(e164, None))
