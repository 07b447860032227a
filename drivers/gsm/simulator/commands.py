"""The AT commands the simulated modem knows: one table from name to handler.

:func:`command_table` maps each command name (as :func:`drivers.gsm.simulator.atparse.
parse_line` spells it: ``"E"``, ``"&F"``, ``"+CMGS"``, ``"^SYSINFO"``) to the handler of
the part that owns it (SIM card, network, SMS service, calls, USSD, or
:class:`BasicCommands` here for settings and identity). Adding a command is one entry
and a handler. The table is built for one profile: its ``vendor_ok`` commands answer a
bare OK, and vendor commands of other models are unknown (``ERROR``).
"""

from __future__ import annotations

from drivers.gsm.simulator.atparse import Cmd, Final, exec_only, int_arg, split_args
from drivers.gsm.simulator.calls import Calls
from drivers.gsm.simulator.core import Handler, ModemCore, Settings
from drivers.gsm.simulator.network import Network
from drivers.gsm.simulator.profiles import VENDOR_COMMANDS, Profile
from drivers.gsm.simulator.sim import SimCard
from drivers.gsm.simulator.smsc import SmsCenter
from drivers.gsm.simulator.ussd import Ussd

__all__ = ["BasicCommands", "command_table"]


class BasicCommands:
    """V.250 basics, identity, and the settings no other part owns."""

    def __init__(self, core: ModemCore, *, imei: str) -> None:
        self._core = core
        self.imei = imei

    def at_ok(self, cmd: Cmd) -> list[str]:
        """Accepted and ignored (``AT&W``, ``ATX``, vendor set commands...)."""
        return []

    def at_e(self, cmd: Cmd) -> list[str]:
        self._core.settings.echo = int_arg(cmd.args or "0", 0, 1) == 1
        return []

    def at_v(self, cmd: Cmd) -> list[str]:
        int_arg(cmd.args or "0", 1, 1)  # only verbose result codes are simulated
        return []

    def at_q(self, cmd: Cmd) -> list[str]:
        int_arg(cmd.args or "0", 0, 0)
        return []

    def at_z(self, cmd: Cmd) -> list[str]:
        self._core.settings = Settings.defaults(self._core.profile)
        return []

    def at_s(self, cmd: Cmd) -> list[str]:
        return ["000"] if cmd.kind == "read" else []

    def at_i(self, cmd: Cmd) -> list[str]:
        return [line.format(imei=self.imei) for line in self._core.profile.ati]

    def at_cgmi(self, cmd: Cmd) -> list[str]:
        return exec_only(cmd, self._core.profile.manufacturer)

    def at_cgmm(self, cmd: Cmd) -> list[str]:
        return exec_only(cmd, self._core.profile.model)

    def at_cgmr(self, cmd: Cmd) -> list[str]:
        return exec_only(cmd, self._core.profile.revision)

    def at_cgsn(self, cmd: Cmd) -> list[str]:
        return exec_only(cmd, self.imei)

    def at_gcap(self, cmd: Cmd) -> list[str]:
        return exec_only(cmd, "+GCAP: +CGSM,+DS,+ES")

    def at_cmee(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return ["+CMEE: (0-2)"]
        if cmd.kind == "read":
            return [f"+CMEE: {self._core.settings.cmee}"]
        if cmd.kind == "set":
            self._core.settings.cmee = int_arg(cmd.args, 0, 2)
            return []
        raise Final("ERROR")

    def at_cscs(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return ['+CSCS: ("IRA","GSM","UCS2","HEX")']
        if cmd.kind == "read":
            return [f'+CSCS: "{self._core.settings.cscs}"']
        if cmd.kind == "set":
            value = split_args(cmd.args)[0].upper()
            if value not in ("IRA", "GSM", "UCS2", "HEX"):
                raise self._core.cme(4)
            self._core.settings.cscs = value
            return []
        raise Final("ERROR")

    def at_cclk(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "set":
            return []
        now = self._core.local_time()
        offset = now.utcoffset()
        quarters = int(offset.total_seconds() // 900) if offset is not None else 0
        return [f'+CCLK: "{now:%y/%m/%d,%H:%M:%S}{quarters:+03d}"']

    def at_cmgf(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return ["+CMGF: (0)"]
        if cmd.kind == "read":
            return ["+CMGF: 0"]
        if cmd.kind == "set" and cmd.args.strip() == "0":
            return []
        raise Final("ERROR")  # text mode is not simulated

    def at_csmp(self, cmd: Cmd) -> list[str]:
        return ["+CSMP: 17,167,0,0"] if cmd.kind == "read" else []

    def at_csdh(self, cmd: Cmd) -> list[str]:
        return ["+CSDH: 0"] if cmd.kind == "read" else []


def command_table(
    profile: Profile,
    basic: BasicCommands,
    sim: SimCard,
    network: Network,
    smsc: SmsCenter,
    calls: Calls,
    ussd: Ussd,
) -> dict[str, Handler]:
    """Every command this profile's model knows, by name (see the module docstring)."""
    table: dict[str, Handler] = {
        # V.250 basics
        "E": basic.at_e,
        "V": basic.at_v,
        "Q": basic.at_q,
        "Z": basic.at_z,
        "&F": basic.at_z,
        "&W": basic.at_ok,
        "&C": basic.at_ok,
        "&D": basic.at_ok,
        "&K": basic.at_ok,
        "X": basic.at_ok,
        "L": basic.at_ok,
        "M": basic.at_ok,
        "S": basic.at_s,
        "I": basic.at_i,
        # identity
        "+CGMI": basic.at_cgmi,
        "+CGMM": basic.at_cgmm,
        "+CGMR": basic.at_cgmr,
        "+CGSN": basic.at_cgsn,
        "+GMI": basic.at_cgmi,
        "+GMM": basic.at_cgmm,
        "+GMR": basic.at_cgmr,
        "+GSN": basic.at_cgsn,
        "+GCAP": basic.at_gcap,
        "+CIMI": sim.at_cimi,
        "+CCID": sim.at_ccid,
        "^ICCID": sim.at_iccid,
        "+QCCID": sim.at_iccid,
        "+CNUM": sim.at_cnum,
        # general settings
        "+CMEE": basic.at_cmee,
        "+CSCS": basic.at_cscs,
        "+CCLK": basic.at_cclk,
        "+CPIN": sim.at_cpin,
        "+CFUN": network.at_cfun,
        "+CPAS": calls.at_cpas,
        # network
        "+CSQ": network.at_csq,
        "+CREG": network.at_creg,
        "+CGREG": network.at_cgreg,
        "+CEREG": network.at_cereg,
        "+COPS": network.at_cops,
        "^SYSINFO": network.at_sysinfo,
        # SMS
        "+CMGF": basic.at_cmgf,
        "+CSMP": basic.at_csmp,
        "+CSDH": basic.at_csdh,
        "+CSMS": smsc.at_csms,
        "+CSCA": sim.at_csca,
        "+CPMS": sim.at_cpms,
        "+CNMI": smsc.at_cnmi,
        "+CNMA": smsc.at_cnma,
        "+CMGR": sim.at_cmgr,
        "+CMGL": sim.at_cmgl,
        "+CMGD": sim.at_cmgd,
        "+CMGS": smsc.at_cmgs,
        "+CMGW": sim.at_cmgw,
        # USSD
        "+CUSD": ussd.at_cusd,
        # calls
        "D": calls.at_d,
        "A": calls.at_a,
        "H": calls.at_h,
        "+CHUP": calls.at_chup,
        "+CLCC": calls.at_clcc,
        "+VTS": calls.at_vts,
        "+CLIP": calls.at_clip,
        "+CRC": calls.at_crc,
        "+COLP": calls.at_colp,
    }
    for name in VENDOR_COMMANDS.difference(profile.vendor_commands):
        del table[name]  # another model's vendor command: unknown here
    table.update(dict.fromkeys(profile.vendor_ok, basic.at_ok))
    return table
