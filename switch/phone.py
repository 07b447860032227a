"""Phone numbers at the edge: anything in, E.164 out (or a clear Rejected, 422).

:data:`PHONE_PATTERN` is what the API's schema says a phone field accepts: digits with
one optional leading ``+`` and the usual separators (space, ``( ) . - /``). A text of
that shape must still be a valid number of its country (read as national in the
configured ``numbers.default_region`` when it has no ``+``), else it is refused with
``invalid_phone``.
"""

from __future__ import annotations

import re

import phonenumbers

from base.errors import Rejected

# What people write in a phone number: digits, one leading +, spaces and the usual
# separators. Letters, control characters, ';' or ',' (dial modifiers) are refused
# instead of being silently dropped by phonenumbers.
# At least 4 digits: no country has shorter subscriber numbers.
PHONE_PATTERN = r"^ *\+?[ ().\-/]*(?:[0-9][ ().\-/]*){4,}$"
PHONE_MAX = 32
_WRITTEN = re.compile(PHONE_PATTERN)


def normalize_phone(raw: str, default_region: str) -> str:
    """E.164 (``+85512345678``) for ``raw``, read as national in ``default_region``."""
    text = raw.strip(" ")
    if len(raw) > PHONE_MAX or not _WRITTEN.fullmatch(raw):
        raise Rejected("invalid_phone", f"{raw!r} is not a phone number", 422)
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise Rejected("invalid_phone", f"{raw!r} is not a phone number: {exc}", 422) from None
    if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number(number):
        raise Rejected("invalid_phone", f"{raw!r} is not a valid phone number", 422)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display_forms(raw: str, default_region: str) -> dict[str, str | bool | None]:
    """How a number reads to people of the box's region: ``national`` for numbers of
    that region (``012 345 678``), ``international`` for the others; ``e164`` and
    ``valid`` (False, with the forms None, when it is not a phone number)."""
    try:
        e164 = normalize_phone(raw, default_region)
    except Rejected:
        return {"input": raw, "e164": None, "national": None, "display": raw, "valid": False}
    number = phonenumbers.parse(e164, None)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    intl = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    home = phonenumbers.region_code_for_number(number) == default_region
    return {
        "input": raw,
        "e164": e164,
        "national": national,
        "display": national if home else intl,
        "valid": True,
    }


def phone_identity(e164: str) -> str:
    return f"phone:{e164}"
