"""Desktop passwords: argon2id hashes for ``[[agents]]`` and ``[[users]]``.

``switch passwd`` prints a hash for the config (:func:`hash_password`); ``POST
/api/v1/login`` checks a password against it (:func:`verify_password`). Only hashes
are kept anywhere: the config holds the hash, the store never sees a password.

A user without a hash, or no user at all, is checked against a dummy hash so that the
answer takes as long as for a real user with a wrong password (a stranger cannot tell
which user ids exist by the time it takes).
"""

from __future__ import annotations

import getpass
import sys
from functools import cache
from typing import TextIO

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["MIN_LENGTH", "hash_password", "read_new_password", "verify_password"]

MIN_LENGTH = 8
_HASHER = PasswordHasher()  # argon2id, RFC 9106's second recommended profile


@cache
def _dummy() -> str:
    """A hash to check strangers against, made on first use: hashing costs ~0.1 s and
    64 MiB, which the switch's start-up and every CLI command need not pay."""
    return _HASHER.hash("not a password anyone has")


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (``$argon2id$v=19$...``)."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password needs at least {MIN_LENGTH} characters")
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches ``password_hash``; False for no hash, a wrong
    password, or a hash that is not argon2 (a config typo signs nobody in)."""
    try:
        return _HASHER.verify(password_hash or _dummy(), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def read_new_password(stdin: TextIO | None = None) -> str:
    """The new password: typed twice on a terminal (not echoed), or one line of a pipe.

    ``ValueError`` when the two typings differ, the pipe is empty, or it is too short."""
    stream = stdin or sys.stdin
    if stream.isatty():
        first = getpass.getpass("New password: ")
        second = getpass.getpass("Again: ")
        if first != second:
            raise ValueError("the two passwords differ")
        password = first
    else:
        line = stream.readline()
        if not line:
            raise ValueError("no password on standard input")
        password = line.rstrip("\r\n")
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password needs at least {MIN_LENGTH} characters")
    return password
