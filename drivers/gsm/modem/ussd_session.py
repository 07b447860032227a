"""USSD on a modem: one request at a time, its answer from the ``+CUSD`` URC.

``AT+CUSD=1,"<code>",<dcs>`` is answered ``OK`` at once; the network's reply comes
later as a URC (the engine never lets ``AT+CUSD=`` own ``+CUSD:``), which
:meth:`UssdSession.answer` matches to the request waiting for it. No reply within the
timeout: the session is closed with ``AT+CUSD=2`` and the caller gets
``ChannelUnavailable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from typing import Any

from base.errors import ChannelUnavailable, ProtocolError
from drivers.gsm.engine import cusd
from drivers.gsm.modem.shell import SerialShell
from drivers.gsm.ussd import decode_ussd, encode_ussd_request

__all__ = ["UssdSession"]


class UssdSession:
    def __init__(
        self,
        shell: SerialShell,
        *,
        hex_mode: bool,
        require_ready: Callable[[], None],
        log: Any,
    ) -> None:
        self.shell = shell
        self.hex_mode = hex_mode
        self._require_ready = require_ready
        self.log = log
        self._waiting: asyncio.Future[str] | None = None
        self._lock = asyncio.Lock()

    async def request(self, code: str, timeout: float = 60.0) -> str:
        payload, dcs = encode_ussd_request(code, hex_mode=self.hex_mode)
        self._require_ready()
        async with self._lock:
            future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            self._waiting = future
            try:
                done = await self.shell.at(cusd(payload, dcs))
                if not done.ok:
                    raise ChannelUnavailable(f"USSD refused: {done.final}")
                return await asyncio.wait_for(future, timeout)
            except TimeoutError:
                with contextlib.suppress(ChannelUnavailable):
                    await self.shell.q("AT+CUSD=2")
                raise ChannelUnavailable(f"no USSD answer within {timeout:.0f} s") from None
            finally:
                self._waiting = None

    def answer(self, args: str) -> None:
        """A ``+CUSD: <m>[,"<str>",<dcs>]`` URC."""
        future = self._waiting
        if future is None or future.done():
            self.log.info("ussd_unsolicited", args=args[:200])
            return
        m = re.match(r'\s*(\d)\s*(?:,\s*"(.*)"\s*(?:,\s*(\d+))?)?\s*$', args)
        if not m or m.group(2) is None:
            status = m.group(1) if m else "?"
            reason = {"2": "the network ended the session", "4": "not supported"}.get(
                status, f"status {status}"
            )
            future.set_exception(ChannelUnavailable(f"USSD without an answer: {reason}"))
            return
        try:
            future.set_result(decode_ussd(m.group(2), int(m.group(3) or 15)))
        except ProtocolError as exc:
            future.set_exception(exc)
