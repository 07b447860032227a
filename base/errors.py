"""The switch's error tree (see STYLE.md §5).

SwitchError
 +-- ConfigError          bad configuration; names the key path
 +-- ProtocolError        a peer (modem, SIP, worker) sent nonsense: log it, survive
 +-- ChannelUnavailable   modem gone, trunk down, no worker free: retry with backoff
 +-- Rejected             a bad request from a client: becomes a 4xx
"""

from __future__ import annotations


class SwitchError(Exception):
    """Base of every error the switch raises on purpose."""


class ConfigError(SwitchError):
    """The configuration is invalid; ``errors`` holds ``(key_path, message)`` pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{path}: {msg}" for path, msg in errors))


class ProtocolError(SwitchError):
    """A peer sent something we cannot understand."""


class ChannelUnavailable(SwitchError):
    """The channel (modem, trunk, worker) cannot take this now; retry later."""


class Rejected(SwitchError):
    """A request was refused; ``code`` is a short machine-readable reason."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        self.code = code
        self.message = message
        self.status = status
        super().__init__(f"{code}: {message}")
