"""A secret kept in a file: read it, or make it at first use (mode 0600).

Used for what the switch signs with (browser SIP credentials, the widget's visitor
cookies): deleting the file and restarting makes a new secret, which revokes everything
signed with the old one.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

__all__ = ["SECRET_BYTES", "load_or_create_secret"]

SECRET_BYTES = 32


def load_or_create_secret(path: Path) -> str:
    """The secret kept in ``path`` (hex), made at first use (mode 0600)."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        text = ""
    if re.fullmatch(r"[0-9a-f]{64}", text):
        return text
    path.parent.mkdir(parents=True, exist_ok=True)
    text = secrets.token_hex(SECRET_BYTES)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(text + "\n")
    os.replace(tmp, path)
    return text
