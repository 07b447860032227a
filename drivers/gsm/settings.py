"""What the GSM driver needs to know of one modem, as a small frozen value.

The driver never reads the switch's config: ``switch`` maps each ``[[modems]]`` entry
to a :class:`ModemSettings` (``switch.settings``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ModemSettings:
    id: str
    port: str
    baudrate: int = 115200
    pin: str | None = None
    profile: str = "generic"
    smsc: str | None = None  # E.164 service centre, or None for the SIM's own
