"""The simulated radio network: registration, signal, operator selection, AT+CFUN.

The registration ``<stat>`` the modem reports is the one the network is configured with
(:meth:`Network.set_registration`, 0..5) only while the modem is powered, not booting,
at full functionality (AT+CFUN=1), with a usable SIM and not deregistered by
``AT+COPS=2``; otherwise 0. When it changes, the ``+CREG`` / ``+CGREG`` / ``+CEREG``
URCs enabled by their ``<n>`` go out and :attr:`Network.on_change` runs (the SMS
service then delivers what waits for a registered modem).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drivers.gsm.simulator.atparse import Cmd, Final, int_arg, split_args
from drivers.gsm.simulator.core import ModemCore, Reboot
from drivers.gsm.simulator.sim import SimCard

__all__ = ["Network"]


class Network:
    """Registration and signal as the modem sees them (see the module docstring)."""

    def __init__(
        self, core: ModemCore, sim: SimCard, *, operator: str, mccmnc: str, csq: int
    ) -> None:
        if not 0 <= csq <= 31 and csq != 99:
            raise ValueError("csq must be 0..31 or 99")
        self._core = core
        self._sim = sim
        self.operator = operator
        self.mccmnc = mccmnc
        self.csq = csq
        self.network_stat = 1  # what set_registration configured (0..5)
        self.cfun = 1
        self.cops_mode = 0
        self.on_change: Callable[[], None] = lambda: None
        self._last_reg = -1
        self._last_reg = self.registration()

    # ------------------------------------------------------------ state

    def registration(self) -> int:
        """The <stat> AT+CREG? reports now (0 not registered ... 5 roaming)."""
        core = self._core
        if not core.powered or core.booting or self.cfun != 1 or not self._sim.ready():
            return 0
        if self.cops_mode == 2:
            return 0
        return self.network_stat

    def registered(self) -> bool:
        return self.registration() in (1, 5)

    def changed(self) -> None:
        """Something registration depends on changed: URCs if it did, then on_change."""
        stat = self.registration()
        if stat == self._last_reg:
            return
        self._last_reg = stat
        settings, lte = self._core.settings, self._core.profile.lte
        for n, name, supported in (
            (settings.creg_n, "+CREG", True),
            (settings.cgreg_n, "+CGREG", True),
            (settings.cereg_n, "+CEREG", lte),
        ):
            if n and supported:
                self._core.urc(f"{name}: {self._reg_fields(n, stat, urc=True)}")
        self.on_change()

    def snapshot(self) -> dict[str, Any]:
        return {"registration": self.registration(), "csq": self.csq, "cfun": self.cfun}

    def power_on(self) -> None:
        self.cfun = 1
        self.cops_mode = 0

    def _reg_fields(self, n: int, stat: int, *, urc: bool) -> str:
        head = str(stat) if urc else f"{n},{stat}"
        profile = self._core.profile
        if n == 2 and stat in (1, 5):
            head += ',"1A2B","01C3D4"'
            if profile.lte:
                head += f",{profile.act}"
        return head

    # ------------------------------------------------------------ knobs

    def set_signal(self, csq: int) -> None:
        if not (0 <= csq <= 31 or csq == 99):
            raise ValueError("csq must be 0..31 or 99")
        self.csq = csq
        if self._core.profile.rssi_urc:
            self._core.urc(f"^RSSI: {csq}")

    def set_registration(self, stat: int) -> None:
        if not 0 <= stat <= 5:
            raise ValueError("registration stat must be 0..5")
        self.network_stat = stat
        self.changed()

    # ------------------------------------------------------------ commands

    def at_csq(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return ["+CSQ: (0-31,99),(0-7,99)"]
        if cmd.kind != "exec":
            raise Final("ERROR")
        return [f"+CSQ: {self.csq if self.cfun == 1 else 99},99"]

    def _registration_cmd(self, cmd: Cmd, name: str, attr: str) -> list[str]:
        settings = self._core.settings
        if cmd.kind == "test":
            return [f"{name}: (0-2)"]
        if cmd.kind == "read":
            fields = self._reg_fields(getattr(settings, attr), self.registration(), urc=False)
            return [f"{name}: {fields}"]
        if cmd.kind == "set":
            setattr(settings, attr, int_arg(cmd.args or "0", 0, 2))
            return []
        raise Final("ERROR")

    def at_creg(self, cmd: Cmd) -> list[str]:
        return self._registration_cmd(cmd, "+CREG", "creg_n")

    def at_cgreg(self, cmd: Cmd) -> list[str]:
        return self._registration_cmd(cmd, "+CGREG", "cgreg_n")

    def at_cereg(self, cmd: Cmd) -> list[str]:
        if not self._core.profile.lte:
            raise Final("ERROR")
        return self._registration_cmd(cmd, "+CEREG", "cereg_n")

    def at_cops(self, cmd: Cmd) -> list[str]:
        act, settings = self._core.profile.act, self._core.settings
        if cmd.kind == "test":
            return [
                f'+COPS: (2,"{self.operator}","{self.operator}","{self.mccmnc}",{act}),,(0-4),(0-2)'
            ]
        if cmd.kind == "read":
            if not self.registered():
                return [f"+COPS: {self.cops_mode}"]
            name = self.mccmnc if settings.cops_format == 2 else self.operator
            return [f'+COPS: {self.cops_mode},{settings.cops_format},"{name}",{act}']
        if cmd.kind != "set":
            raise Final("ERROR")
        args = split_args(cmd.args)
        mode = int_arg(args[0] or "0", 0, 4)
        if len(args) > 1 and args[1]:
            settings.cops_format = int_arg(args[1], 0, 2)
        if mode == 3:
            return []
        if mode in (1, 4) and len(args) > 2 and args[2] not in (self.operator, self.mccmnc):
            raise self._core.cme(30)
        self._sim.require()
        self.cops_mode = 2 if mode == 2 else 0
        self.changed()
        return []

    def at_sysinfo(self, cmd: Cmd) -> list[str]:
        """AT^SYSINFO (Huawei)."""
        service = 2 if self.registered() else 0
        roam = 1 if self.registration() == 5 else 0
        sim = 1 if self._sim.ready() else (255 if not self._sim.present else 0)
        return [f"^SYSINFO: {service},3,{roam},5,{sim},,4"]

    def at_cfun(self, cmd: Cmd) -> list[str] | Reboot:
        if cmd.kind == "test":
            return ["+CFUN: (0,1,4),(0-1)"]
        if cmd.kind == "read":
            return [f"+CFUN: {self.cfun}"]
        if cmd.kind != "set":
            raise Final("ERROR")
        args = split_args(cmd.args)
        fun = int_arg(args[0], 0, 4)
        if fun not in (0, 1, 4):
            raise self._core.cme(4)
        reset = int_arg(args[1], 0, 1) if len(args) > 1 and args[1] else 0
        if reset:
            return Reboot()
        self.cfun = fun
        self.changed()
        return []
