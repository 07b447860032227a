"""SIP URIs: the user part of one in a header value (``"Bob" <sip:+855...@host;tag=x>``),
and a host written the way a URI wants it. Imports nothing of the planes: both use it."""

from __future__ import annotations

import re

_URI_USER = re.compile(r"<?\s*(?:sips?|tel):([^@;>\s]+)")


def uri_user(value: str | None) -> str:
    """The user part of the first SIP (or tel) URI in a header value ('' if none)."""
    if not value:
        return ""
    match = _URI_USER.search(value)
    return match.group(1) if match else ""


def uri_host(host: str) -> str:
    """``host`` as a URI writes it: an IPv6 address in brackets (once)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
