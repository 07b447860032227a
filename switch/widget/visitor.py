"""Who a web visitor is: a signed cookie, their identity, and the hash of their codes.

A visitor is 16 hex digits (``visitor``), the contact's identity ``web:<visitor>``; the
same digits make their SIP user for widget calls (``web-<visitor>``), so a call from
the page lands in the visitor's contact. The cookie (``edge_visitor``, HttpOnly) holds
``<visitor>.<signature>``, the signature an HMAC-SHA256 of the visitor under the
switch's widget secret (``<store dir>/widget.secret``): the visitor's digits may be
seen (journeys, call records) without letting anybody forge the cookie. Deleting the
secret file forgets every visitor's browser (their contacts stay).

Pure functions of their arguments (the secret is one).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

__all__ = [
    "COOKIE",
    "SECRET_FILE",
    "VisitorKeys",
    "cookie_header",
    "new_visitor",
    "visitor_identity",
]

COOKIE = "edge_visitor"
SECRET_FILE = "widget.secret"
_VISITOR = re.compile(r"^[0-9a-f]{16}$")


def new_visitor() -> str:
    return secrets.token_hex(8)


def visitor_identity(visitor: str) -> str:
    """The contact identity of a visitor: ``web:<16 hex>``."""
    return f"web:{visitor}"


class VisitorKeys:
    """Signs and checks visitor cookies, and hashes their one-time codes."""

    def __init__(self, secret: str) -> None:
        self._key = bytes.fromhex(secret)

    def _sign(self, purpose: bytes, text: str) -> str:
        digest = hmac.new(self._key, purpose + text.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    def cookie(self, visitor: str) -> str:
        if not _VISITOR.fullmatch(visitor):
            raise ValueError(f"a visitor is 16 lowercase hex digits, not {visitor!r}")
        return f"{visitor}.{self._sign(b'cookie:', visitor)}"

    def visitor(self, value: str | None) -> str | None:
        """The visitor a cookie value names, or None (missing, malformed, forged)."""
        if not value or len(value) > 100:
            return None
        visitor, _, signature = value.partition(".")
        if not _VISITOR.fullmatch(visitor):
            return None
        if not hmac.compare_digest(signature, self._sign(b"cookie:", visitor)):
            return None
        return visitor

    def code_hash(self, visitor: str, phone: str, code: str) -> str:
        """A one-time code as stored: keyed, and bound to the visitor and the number."""
        return self._sign(b"code:", f"{visitor}:{phone}:{code.strip()}")


def cookie_header(value: str, *, max_age: int, secure: bool) -> str:
    """The ``Set-Cookie`` value: HttpOnly always; over TLS ``SameSite=None; Secure`` (the
    widget runs on other sites' pages), else ``SameSite=Lax`` (pages of the same site:
    a browser refuses ``None`` without ``Secure``)."""
    same_site = "None; Secure" if secure else "Lax"
    return f"{COOKIE}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite={same_site}"
