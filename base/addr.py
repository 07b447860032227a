"""``host:port`` strings, as config keys and CLI flags write them."""

from __future__ import annotations


def split_host_port(value: str, what: str = "address") -> tuple[str, int]:
    """``("127.0.0.1", 5060)`` from ``"127.0.0.1:5060"`` (``[::1]:5060`` too).

    Raises ``ValueError`` naming ``what`` when the value is not ``host:port``.
    """
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{what} must be 'host:port', got {value!r}")
    return host.strip("[]"), int(port)
