"""USSD on the simulated modem: the network's table of codes and AT+CUSD.

``AT+CUSD=1,"<code>",<dcs>`` looks the code up in the table (:data:`DEFAULT_USSD`
unless replaced); ``timing.ussd_delay`` later the answer comes as ``+CUSD: <m>,"<str>",
<dcs>`` (``+CUSD: 4`` for an unknown code). A reply with a ``menu`` keeps the session
open (``m=1``): the next request is looked up in that menu. ``AT+CUSD=2`` ends the
session. Huawei prints the string as packed GSM-7 hex (UCS-2 hex for UCS-2 replies);
the others print text, or UCS-2 hex for UCS-2 replies and under ``AT+CSCS="UCS2"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from base.errors import ProtocolError
from drivers.gsm.gsm7 import can_encode_gsm7, encode_ucs2, gsm7_septets, pack_septets
from drivers.gsm.simulator.atparse import CR, Cmd, Final, int_arg, split_args
from drivers.gsm.simulator.core import ModemCore
from drivers.gsm.simulator.network import Network
from drivers.gsm.simulator.sim import SimCard
from drivers.gsm.ussd import decode_ussd

__all__ = ["DEFAULT_USSD", "Ussd", "UssdReply"]

log = structlog.get_logger("gsm.simulator")


@dataclass(frozen=True, slots=True)
class UssdReply:
    """What the network answers to a USSD code; ``menu`` keeps the session open (m=1)."""

    text: str
    ucs2: bool = False  # force UCS-2 (DCS 72) even if the text fits GSM-7
    menu: Mapping[str, UssdReply] | None = None

    @classmethod
    def from_json(cls, value: Any) -> UssdReply:
        if isinstance(value, str):
            return cls(value)
        if not isinstance(value, dict) or not isinstance(value.get("text"), str):
            raise ValueError("a USSD reply is a string or {'text': ..., 'ucs2'?, 'menu'?}")
        menu = value.get("menu")
        return cls(
            text=value["text"],
            ucs2=bool(value.get("ucs2", False)),
            menu=None if menu is None else {str(k): cls.from_json(v) for k, v in menu.items()},
        )


DEFAULT_USSD: dict[str, UssdReply] = {
    "*124#": UssdReply("Your balance is 2.50 USD, valid until 31/12/2026."),
    "*100#": UssdReply("សមតុល្យរបស់អ្នកគឺ 2.50 ដុល្លារ", ucs2=True),
    "*888#": UssdReply(
        "1 Balance 2 Data",
        menu={"1": UssdReply("Balance: 2.50 USD"), "2": UssdReply("Data: 1024 MB left")},
    ),
}


def _packed_gsm7_hex(text: str) -> str:
    septets = gsm7_septets(text)
    if len(septets) % 8 == 7:
        septets.append(CR)  # TS 23.038 §6.1.2.3.1: CR in 7 spare bits
    return pack_septets(septets).hex().upper()


class Ussd:
    """The USSD table, the open session (a menu) and the log of requests."""

    def __init__(
        self,
        core: ModemCore,
        sim: SimCard,
        network: Network,
        table: Mapping[str, UssdReply] | None = None,
    ) -> None:
        self._core = core
        self._sim = sim
        self._network = network
        self.table: dict[str, UssdReply] = dict(DEFAULT_USSD if table is None else table)
        self.log: list[dict[str, Any]] = []
        self._session: UssdReply | None = None

    def set_reply(self, code: str, reply: UssdReply) -> None:
        self.table[code] = reply

    def end_session(self) -> None:
        self._session = None

    def at_cusd(self, cmd: Cmd) -> list[str]:
        core = self._core
        settings = core.settings
        if cmd.kind == "test":
            return ["+CUSD: (0-2)"]
        if cmd.kind == "read":
            return [f"+CUSD: {settings.cusd_n}"]
        if cmd.kind != "set":
            raise Final("ERROR")
        args = split_args(cmd.args)
        n = int_arg(args[0] or "0", 0, 2)
        if n == 2:
            self._session = None
            return []
        settings.cusd_n = n
        if len(args) < 2 or not args[1]:
            return []
        self._sim.require()
        if not self._network.registered():
            raise core.cme(30)
        dcs = int_arg(args[2], 0, 255) if len(args) > 2 and args[2] else 15
        try:
            request = decode_ussd(args[1], dcs)
        except ProtocolError:
            raise core.cme(4) from None
        session, self._session = self._session, None
        table = session.menu if session is not None and session.menu else self.table
        reply = table.get(request)
        self.log.append(
            {"request": request, "payload": args[1], "dcs": dcs, "answered": reply is not None}
        )
        log.info("sim_ussd", modem=core.name, request=request, known=reply is not None)
        core.later(core.timing.ussd_delay, lambda: self._answer(reply))
        return []

    def _answer(self, reply: UssdReply | None) -> None:
        if reply is None:
            self._core.urc("+CUSD: 4")
            return
        m = 1 if reply.menu else 0
        self._session = reply if reply.menu else None
        ucs2 = reply.ucs2 or not can_encode_gsm7(reply.text)
        if self._core.profile.ussd_packed_hex:
            payload = (
                encode_ucs2(reply.text).hex().upper() if ucs2 else _packed_gsm7_hex(reply.text)
            )
        elif ucs2 or self._core.settings.cscs == "UCS2":
            payload = encode_ucs2(reply.text).hex().upper()
        else:
            payload = reply.text
        self._core.urc(f'+CUSD: {m},"{payload}",{72 if ucs2 else 15}')
