"""Phone numbers at the edge: anything in, E.164 out (or a clear Rejected)."""

from __future__ import annotations

import re

import phonenumbers

from base.errors import Rejected

# What people write in a phone number: digits, one leading +, spaces and the usual
# separators. Letters, control characters, ';' or ',' (dial modifiers) are refused
# instead of being silently dropped by phonenumbers.
_WRITTEN = re.compile(r"\+?[0-9 ().\-/]+")


def normalize_phone(raw: str, default_region: str) -> str:
    """E.164 (``+85512345678``) for ``raw``, read as national in ``default_region``."""
    text = raw.strip(" ")
    if not text or len(text) > 32 or not _WRITTEN.fullmatch(text):
        raise Rejected("invalid_phone", f"{raw!r} is not a phone number")
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise Rejected("invalid_phone", f"{raw!r} is not a phone number: {exc}") from None
    if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number(number):
        raise Rejected("invalid_phone", f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_identity(e164: str) -> str:
    return f"phone:{e164}"
