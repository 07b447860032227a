"""Per-model behaviour of the simulated modem: identity strings and URC dialects.

Everything that differs between the simulated Huawei, SIMCom and Quectel modems lives
in this table; :mod:`drivers.gsm.simulator.machine` reads it and has no ``if profile ==``
of its own. The values follow the vendors' AT manuals for the models named in
``hw/modems/`` (Huawei E173, SIMCom SIM800, Quectel EC25) where they are known; where a
real modem's behaviour varies between firmware versions the simulator picks one and
says so here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["PROFILES", "VENDOR_COMMANDS", "Profile", "ProfileName"]

VENDOR_COMMANDS = frozenset({"^ICCID", "^SYSINFO", "+QCCID"})
"""Vendor commands the simulator implements; a profile enables the ones its model has."""

ProfileName = Literal["huawei", "simcom", "quectel"]


@dataclass(frozen=True, slots=True)
class Profile:
    name: ProfileName
    manufacturer: str  # AT+CGMI
    model: str  # AT+CGMM
    revision: str  # AT+CGMR
    ati: tuple[str, ...]  # ATI lines; "{imei}" is replaced
    first_index: int  # SIM storage indexes start at 0 (Huawei, Quectel) or 1 (SIMCom)
    empty_read_ok: bool  # AT+CMGR on an empty slot: bare OK (SIMCom) or +CMS ERROR: 321
    default_cmee: int  # after power-on / ATZ
    default_cnmi: tuple[int, int, int, int, int]
    boot_urcs: tuple[str, ...]  # after AT+CFUN=1,1 (before SIM state URCs)
    sim_ready_urcs: tuple[str, ...]  # once the SIM is usable (boot, or PIN accepted)
    vendor_commands: tuple[str, ...]  # of VENDOR_COMMANDS, the ones this model knows
    ccid_prefix: str  # how AT+CCID prints: "+CCID: " or "" (SIM800 prints bare digits)
    lte: bool  # AT+CEREG supported
    act: int  # access technology in +COPS / +CREG (0 GSM, 2 UTRAN, 7 E-UTRAN)
    huawei_call_urcs: bool  # ^ORIG / ^CONF / ^CONN / ^CEND instead of BUSY / NO CARRIER
    memfull_urc: str | None  # emitted when SIM storage fills up
    rssi_urc: bool  # ^RSSI: <n> when the signal changes (Huawei)
    ussd_packed_hex: bool  # +CUSD strings are packed GSM-7 hex (Huawei) or per AT+CSCS
    vendor_ok: tuple[str, ...]  # vendor set commands accepted with a bare OK
    cpin_urc: bool  # "+CPIN: READY" / "+CPIN: SIM PIN" as URCs at boot and after the PIN


PROFILES: dict[str, Profile] = {
    "huawei": Profile(
        name="huawei",
        manufacturer="huawei",
        model="E173",
        revision="11.126.85.00.209",
        ati=(
            "Manufacturer: huawei",
            "Model: E173",
            "Revision: 11.126.85.00.209",
            "IMEI: {imei}",
            "+GCAP: +CGSM,+DS,+ES",
        ),
        first_index=0,
        empty_read_ok=False,
        default_cmee=1,
        default_cnmi=(0, 0, 0, 0, 0),
        boot_urcs=("^SYSSTART",),
        sim_ready_urcs=(),
        vendor_commands=("^ICCID", "^SYSINFO"),
        ccid_prefix="+CCID: ",
        lte=False,
        act=2,
        huawei_call_urcs=True,
        memfull_urc='^SMMEMFULL: "SM"',
        rssi_urc=True,
        ussd_packed_hex=True,
        vendor_ok=("^CURC", "^DDSETEX", "^CVOICE", "^PORTSEL", "^U2DIAG"),
        cpin_urc=False,
    ),
    "simcom": Profile(
        name="simcom",
        manufacturer="SIMCOM_Ltd",
        model="SIMCOM_SIM800L",
        revision="Revision:1418B04SIM800L24",
        ati=("SIM800 R14.18",),
        first_index=1,
        empty_read_ok=True,
        default_cmee=0,
        default_cnmi=(2, 1, 0, 0, 0),
        boot_urcs=("RDY", "+CFUN: 1"),
        sim_ready_urcs=("Call Ready", "SMS Ready"),
        vendor_commands=(),
        ccid_prefix="",
        lte=False,
        act=0,
        huawei_call_urcs=False,
        memfull_urc=None,
        rssi_urc=False,
        ussd_packed_hex=False,
        vendor_ok=("+CVHU", "+CLTS", "+CSCLK", "+CIURC", "+CPCMREG"),
        cpin_urc=True,
    ),
    "quectel": Profile(
        name="quectel",
        manufacturer="Quectel",
        model="EC25",
        revision="EC25EFAR06A06M4G",
        ati=("Quectel", "EC25", "Revision: EC25EFAR06A06M4G"),
        first_index=0,
        empty_read_ok=False,
        default_cmee=1,
        default_cnmi=(2, 1, 0, 0, 0),
        boot_urcs=("RDY", "+CFUN: 1"),
        sim_ready_urcs=("+QUSIM: 1", "+QIND: SMS DONE", "+QIND: PB DONE"),
        vendor_commands=("+QCCID",),
        ccid_prefix="+CCID: ",
        lte=True,
        act=7,
        huawei_call_urcs=False,
        memfull_urc=None,
        rssi_urc=False,
        ussd_packed_hex=False,
        vendor_ok=("+QURCCFG", "+QINDCFG", "+QCFG", "+QSCLK", "+QPCMV", "+QDAI"),
        cpin_urc=True,
    ),
}
