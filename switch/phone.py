"""Phone numbers at the edge: anything in, E.164 out (or a clear Rejected)."""

from __future__ import annotations

import phonenumbers

from switch.errors import Rejected


def normalize_phone(raw: str, default_region: str) -> str:
    """E.164 (``+85512345678``) for ``raw``, read as national in ``default_region``."""
    text = raw.strip()
    if not text or len(text) > 32:
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
