"""The modem's side of a GSM call, as the call plane sees it.

The SMS service owns the modems; it hands the call service a :class:`GsmLine` (answer,
hang up) for an incoming call and dials outgoing ones through :class:`GsmDialer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class GsmLine(Protocol):
    """The modem side of a GSM call (the driver's modem)."""

    async def answer(self) -> None: ...

    async def hangup(self) -> None: ...


class GsmDialer(Protocol):
    """The modems as outgoing calls see them (the SMS service)."""

    def voice_modem(self, number: str) -> tuple[bool, str] | None: ...

    def modem_in_call(self, modem_id: str) -> bool: ...

    def voice_line(self, modem_id: str) -> tuple[GsmLine, str]: ...

    async def dial_call(self, modem_id: str, gsm_call: str, number: str) -> None: ...


@dataclass
class GsmSide:
    """What the shell holds for a call whose customer is behind a modem."""

    modem_id: str
    gsm_call: str  # the driver's call id
    line: GsmLine | None = None
    audio_port: str | None = None  # the modem's PCM port (absolute path)
