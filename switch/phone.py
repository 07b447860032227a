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


def phone_identity(e164: str) -> str:
    return f"phone:{e164}"
