"""SIP URIs as they appear in header values (``"Bob" <sip:+855...@host;tag=x>``)."""

from __future__ import annotations

import re

_URI_USER = re.compile(r"<?\s*(?:sips?|tel):([^@;>\s]+)")


def uri_user(value: str | None) -> str:
    """The user part of the first SIP (or tel) URI in a header value ('' if none)."""
    if not value:
        return ""
    match = _URI_USER.search(value)
    return match.group(1) if match else ""
