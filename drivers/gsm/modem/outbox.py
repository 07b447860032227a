"""Sending SMS: ``AT+CMGS=<len>``, the ``>`` prompt, PDU + Ctrl-Z per part, TP-MR back.

One message at a time per modem (a lock), its parts in order. A ``+CMS ERROR`` is an
:class:`SmsSendError` that says whether trying again can help (:data:`PERMANENT_CMS`);
a modem that is not ``ready`` is ``ChannelUnavailable`` before anything is written.
Numbers and text never reach a command line: the text travels inside the PDU hex.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from base.errors import SwitchError
from drivers.gsm.engine import cmgs, number_arg
from drivers.gsm.modem.responses import cmgs_reference
from drivers.gsm.modem.shell import SerialShell
from drivers.gsm.modem.status import StatusBoard
from drivers.gsm.pdu import encode_submit

__all__ = ["PERMANENT_CMS", "Outbox", "SmsSendError"]

# +CMS ERROR codes after which sending the same message again is pointless
# (27.005 §3.2.5; 24.011 annex E/8.2.5.4 RP causes; 23.040 §9.2.3.22 TP-FCS):
# unassigned/unknown/barred/rejected destination, facility not supported/subscribed,
# invalid or unsupported PDU contents, and the ME's own "invalid parameter" family.
PERMANENT_CMS = frozenset(
    {1, 8, 10, 21, 27, 28, 29, 30, 38, 50, 69, 81, 95, 96, 97, 98, 99, 111, 127}
    | {128, 129, 130, 143, 144, 145, 159, 160, 161, 175, 176, 303, 304, 305, 306, 325}
)


class SmsSendError(SwitchError):
    """The modem or network refused an SMS (``+CMS ERROR``); ``permanent``: don't retry."""

    def __init__(self, message: str, code: int | None, permanent: bool) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent


class Outbox:
    def __init__(
        self, shell: SerialShell, status: StatusBoard, *, require_ready: Callable[[], None]
    ) -> None:
        self.shell = shell
        self.status = status
        self._require_ready = require_ready
        self._lock = asyncio.Lock()

    async def send(
        self, to: str, text: str, *, reference: int, status_report: bool = True
    ) -> list[int]:
        """Send one SMS (split in parts as needed); the TP-MR of each part."""
        number_arg(to)  # ValueError before anything else: only + and digits
        parts = encode_submit(to, text, reference=reference, request_status_report=status_report)
        self._require_ready()
        references: list[int] = []
        async with self._lock:
            for part in parts:
                self._require_ready()
                done = await self.shell.at(cmgs(part.hex, part.tpdu_length))
                if not done.ok:
                    permanent = done.cms in PERMANENT_CMS
                    self.status.error(f"SMS to {to} refused: {done.final}")
                    raise SmsSendError(
                        f"part {part.part}/{part.parts}: {done.final}", done.cms, permanent
                    )
                mr = cmgs_reference(done)
                if mr is None:
                    raise SmsSendError("the modem gave no message reference", None, False)
                references.append(mr)
        return references
