"""Short-lived SIP credentials for browsers, as Kamailio's ``auth_ephemeral`` checks them.

A browser never gets an agent's SIP password. The switch signs a credential instead:

- the digest username is ``<expiry>:<user>``: a Unix time and the SIP user it is for
  (an agent's ``sip_user``, or a guest's ``web-<16 hex>``);
- the password is ``base64(HMAC-SHA256(secret, username))``.

Kamailio (``auth_ephemeral``, ``sha_algorithm`` 1) recomputes the password from the
username it receives, refuses it once the expiry has passed, and checks that the user
part is the From (calls) or To (registrations) user. Nothing is stored per credential:
the secret (kept in the switch's run directory, mode 0600, and in the rendered
Kamailio config) is shared by the two sides, and replacing it revokes every credential.

Pure functions of their arguments; :func:`load_or_create_secret` (a file) is
:mod:`base.secretfile`'s, re-exported.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from base.secretfile import load_or_create_secret

__all__ = [
    "GUEST_PREFIX",
    "EphemeralCredential",
    "ephemeral_credential",
    "guest_user",
    "is_guest_user",
    "load_or_create_secret",
]

GUEST_PREFIX = "web-"
_GUEST = re.compile(r"^web-[0-9a-f]{16}$")


@dataclass(frozen=True, slots=True)
class EphemeralCredential:
    """What a browser's SIP stack authenticates with until ``expires_at``."""

    user: str  # the SIP user (the AOR's user part)
    username: str  # the digest username: "<expires_at>:<user>"
    password: str
    expires_at: int


def ephemeral_credential(secret: str, user: str, expires_at: int) -> EphemeralCredential:
    """The credential for ``user`` that Kamailio accepts until ``expires_at`` (Unix s)."""
    if not user or ":" in user:
        raise ValueError(f"not a SIP user for a browser credential: {user!r}")
    username = f"{int(expires_at)}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha256).digest()
    password = base64.b64encode(digest).decode("ascii")
    return EphemeralCredential(user, username, password, int(expires_at))


def guest_user(token: str | None = None) -> str:
    """A new guest's SIP user, ``web-<16 hex>`` (``token``: the 16 hex digits, tests)."""
    user = GUEST_PREFIX + (token if token is not None else secrets.token_hex(8))
    if not _GUEST.match(user):
        raise ValueError(f"a guest token is 16 lowercase hex digits, not {token!r}")
    return user


def is_guest_user(user: str) -> bool:
    """Whether ``user`` is a guest's SIP user (what the edge lets call the widget only)."""
    return bool(_GUEST.match(user))
