"""The simulated SIM card: identity, PIN/PUK, SMSC and the SMS storage slots.

What a SIM keeps lives here and survives power cycles: ICCID, IMSI, own number, the
PIN (3 tries, then the PUK), the SMSC address and the ``"SM"`` storage (TS 27.005
§3.1 ``<stat>``: 0 REC UNREAD, 1 REC READ, 2 STO UNSENT, 3 STO SENT). Storage indexes
start at the profile's ``first_index`` (0 on Huawei and Quectel, 1 on SIMCom).

:class:`SimCard` also answers the commands that only need the SIM (``AT+CPIN``,
``AT+CIMI``, ``AT+CCID``, ``AT+CNUM``, ``AT+CSCA``, ``AT+CPMS``, ``AT+CMGR``,
``AT+CMGL``, ``AT+CMGD``, ``AT+CMGW``). What changes elsewhere when the SIM does is
told through two callbacks the machine sets: :attr:`SimCard.on_ready` (the PIN was
accepted: registration may change) and :attr:`SimCard.on_freed` (slots were deleted:
waiting messages may come in).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from drivers.gsm.simulator.atparse import Cmd, Final, exec_only, int_arg, split_args
from drivers.gsm.simulator.core import ModemCore, OpenPrompt

__all__ = [
    "NUMBER_RE",
    "REC_READ",
    "REC_UNREAD",
    "STO_SENT",
    "STO_UNSENT",
    "SimCard",
    "Slot",
    "tpdu_length",
]

# SMS storage <stat> (TS 27.005 §3.1): 0 REC UNREAD, 1 REC READ, 2 STO UNSENT, 3 STO SENT.
REC_UNREAD, REC_READ, STO_UNSENT, STO_SENT = 0, 1, 2, 3

NUMBER_RE = re.compile(r"\+?[0-9]{1,20}")
_PIN_RE = re.compile(r"[0-9]{4,8}")
DEFAULT_PUK = "12345678"


def tpdu_length(pdu_hex: str) -> int:
    """The ``<length>`` of a PDU as printed by a modem: octets after the SMSC field."""
    data = bytes.fromhex(pdu_hex)
    if not data:
        return 0
    return max(0, len(data) - 1 - data[0])


@dataclass(slots=True)
class Slot:
    kind: Literal["deliver", "status_report", "submit"]
    pdu: str
    stat: int


class SimCard:
    """The SIM: kept across power cycles, removable (see the module docstring)."""

    def __init__(
        self,
        core: ModemCore,
        *,
        iccid: str,
        imsi: str,
        own_number: str | None,
        pin: str | None,
        smsc: str,
        storage_size: int,
    ) -> None:
        if not 1 <= storage_size <= 255:
            raise ValueError("storage_size must be 1..255")
        if pin is not None and not _PIN_RE.fullmatch(pin):
            raise ValueError("pin must be 4 to 8 digits")
        if not NUMBER_RE.fullmatch(smsc):
            raise ValueError(f"invalid SMSC {smsc!r}")
        self._core = core
        self.iccid = iccid
        self.imsi = imsi
        self.own_number = own_number
        self.present = True
        self.pin = pin
        self.pin_ok = pin is None
        self.pin_attempts = 3
        self.puk = DEFAULT_PUK
        self.smsc = smsc
        self.storage: list[Slot | None] = [None] * storage_size
        self.on_ready: Callable[[], None] = lambda: None
        self.on_freed: Callable[[], None] = lambda: None

    # ------------------------------------------------------------ state

    def ready(self) -> bool:
        return self.present and self.pin_ok and self.pin_attempts > 0

    def cpin_state(self) -> str:
        if not self.present:
            return "NOT INSERTED"
        if self.pin_attempts <= 0:
            return "SIM PUK"
        return "READY" if self.pin_ok else "SIM PIN"

    def power_on(self) -> None:
        """The modem starts: a SIM with a PIN is locked again."""
        if self.pin is not None:
            self.pin_ok = False

    def insert(self) -> None:
        self.present = True
        self.pin_ok = self.pin is None

    def require(self, *, sms: bool = False, pin: bool = True) -> None:
        """Raise the error a modem gives when the SIM is missing (or locked, with ``pin``)."""
        core = self._core
        if not self.present:
            raise core.cms(310) if sms else core.cme(10)
        if not pin:
            return
        if self.pin_attempts <= 0:
            raise core.cms(316) if sms else core.cme(12)
        if not self.pin_ok:
            raise core.cms(311) if sms else core.cme(11)

    def announce_ready(self) -> None:
        """The SIM-ready URCs of the profile (after boot, insertion or the PIN)."""
        for line in self._core.profile.sim_ready_urcs:
            self._core.urc(line)

    def snapshot(self) -> dict[str, Any]:
        """The SIM's part of the modem's ``state()``."""
        slots = [
            {"index": self.external(i), "stat": s.stat, "kind": s.kind, "pdu": s.pdu}
            for i, s in enumerate(self.storage)
            if s is not None
        ]
        return {
            "iccid": self.iccid,
            "imsi": self.imsi,
            "sim": self.cpin_state().lower().replace(" ", "_"),
            "smsc": self.smsc,
            "storage": {"used": len(slots), "total": len(self.storage), "slots": slots},
        }

    # ------------------------------------------------------------ storage

    def free_slot(self) -> int | None:
        return next((i for i, slot in enumerate(self.storage) if slot is None), None)

    def used(self) -> int:
        return sum(s is not None for s in self.storage)

    def store(self, slot: Slot) -> int | None:
        """Store in the first free slot: its index (0-based), or None when full."""
        index = self.free_slot()
        if index is not None:
            self.storage[index] = slot
        return index

    def external(self, index: int) -> int:
        """The index a 0-based slot has in AT commands."""
        return index + self._core.profile.first_index

    def _index(self, external: str) -> int:
        index = int_arg(external, -1000, 1000) - self._core.profile.first_index
        if not 0 <= index < len(self.storage):
            raise self._core.cms(321)
        return index

    def write(self, pdu: str, stat: int) -> list[str]:
        """Store a PDU typed after AT+CMGW's prompt: the ``+CMGW: <index>`` line."""
        index = self.store(Slot("submit", pdu, stat))
        if index is None:
            raise self._core.cms(322)
        return [f"+CMGW: {self.external(index)}"]

    # ------------------------------------------------------------ identity commands

    def at_iccid(self, cmd: Cmd) -> list[str]:
        """AT^ICCID? (Huawei), AT+QCCID (Quectel)."""
        if cmd.kind == "test":
            return []
        self.require(pin=False)
        return [f"{cmd.name}: {self.iccid}"]

    def at_ccid(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        self.require(pin=False)
        return [f"{self._core.profile.ccid_prefix}{self.iccid}"]

    def at_cimi(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        self.require()
        return exec_only(cmd, self.imsi)

    def at_cnum(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        self.require()
        if self.own_number is None:
            return []
        toa = 145 if self.own_number.startswith("+") else 129
        return [f'+CNUM: "","{self.own_number}",{toa}']

    def at_cpin(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        if cmd.kind == "read":
            self.require(pin=False)
            return [f"+CPIN: {self.cpin_state()}"]
        if cmd.kind != "set":
            raise Final("ERROR")
        self.require(pin=False)
        args = split_args(cmd.args)
        core = self._core
        if self.pin_attempts <= 0:
            if len(args) != 2 or args[0] != self.puk or not _PIN_RE.fullmatch(args[1]):
                raise core.cme(16)
            self.pin, self.pin_attempts, self.pin_ok = args[1], 3, True
        elif self.pin_ok:
            raise core.cme(3)
        elif args[0] == self.pin:
            self.pin_ok = True
            self.pin_attempts = 3
        else:
            self.pin_attempts -= 1
            raise core.cme(16)
        core.later(core.timing.ready_delay, self._unlocked)
        return []

    def _unlocked(self) -> None:
        if self._core.profile.cpin_urc:
            self._core.urc("+CPIN: READY")
        self.announce_ready()
        self.on_ready()

    def at_csca(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        self.require(sms=True)
        if cmd.kind == "read":
            return [f'+CSCA: "{self.smsc}",{145 if self.smsc.startswith("+") else 129}']
        if cmd.kind != "set":
            raise Final("ERROR")
        number = split_args(cmd.args)[0]
        if not NUMBER_RE.fullmatch(number):
            raise self._core.cms(304)
        self.smsc = number
        return []

    # ------------------------------------------------------------ storage commands

    def at_cpms(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return ['+CPMS: ("SM"),("SM"),("SM")']
        self.require(sms=True)
        used, total = self.used(), len(self.storage)
        if cmd.kind == "read":
            return [f'+CPMS: "SM",{used},{total},"SM",{used},{total},"SM",{used},{total}']
        if cmd.kind != "set":
            raise Final("ERROR")
        memories = [m.upper() for m in split_args(cmd.args)]
        if not 1 <= len(memories) <= 3 or any(m != "SM" for m in memories):
            raise self._core.cms(302)
        return [f"+CPMS: {','.join([f'{used},{total}'] * len(memories))}"]

    def at_cmgr(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        if cmd.kind != "set":
            raise Final("ERROR")
        self.require(sms=True)
        slot = self.storage[self._index(split_args(cmd.args)[0])]
        if slot is None:
            if self._core.profile.empty_read_ok:
                return []
            raise self._core.cms(321)
        lines = [f"+CMGR: {slot.stat},,{tpdu_length(slot.pdu)}", slot.pdu]
        if slot.stat == REC_UNREAD:
            slot.stat = REC_READ
        return lines

    def at_cmgl(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return ["+CMGL: (0-4)"]
        if cmd.kind not in ("exec", "set"):
            raise Final("ERROR")
        self.require(sms=True)
        wanted = int_arg(split_args(cmd.args)[0] or "0", 0, 4) if cmd.kind == "set" else 0
        lines: list[str] = []
        for i, slot in enumerate(self.storage):
            if slot is None or (wanted != 4 and slot.stat != wanted):
                continue
            lines += [f"+CMGL: {self.external(i)},{slot.stat},,{tpdu_length(slot.pdu)}", slot.pdu]
            if slot.stat == REC_UNREAD:
                slot.stat = REC_READ
        return lines

    def at_cmgd(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            used = [str(self.external(i)) for i, s in enumerate(self.storage) if s is not None]
            return [f"+CMGD: ({','.join(used)}),(0-4)"]
        if cmd.kind != "set":
            raise Final("ERROR")
        self.require(sms=True)
        args = split_args(cmd.args)
        flag = int_arg(args[1], 0, 4) if len(args) > 1 and args[1] else 0
        if flag == 0:
            self.storage[self._index(args[0])] = None
        else:
            doomed = {1: {REC_READ}, 2: {REC_READ, STO_SENT}, 3: {REC_READ, STO_SENT, STO_UNSENT}}
            for i, slot in enumerate(self.storage):
                if slot is not None and (flag == 4 or slot.stat in doomed[flag]):
                    self.storage[i] = None
        self._core.later(0, self.on_freed)
        return []

    def at_cmgw(self, cmd: Cmd) -> OpenPrompt | list[str]:
        if cmd.kind == "test":
            return []
        if cmd.kind != "set":
            raise Final("ERROR")
        self.require(sms=True)
        args = split_args(cmd.args)
        error = self._core.cms(304).text
        length = int_arg(args[0], 1, 232, error=error)
        stat = int_arg(args[1], 2, 3, error=error) if len(args) > 1 and args[1] else STO_UNSENT
        return OpenPrompt("+CMGW", length, stat)
