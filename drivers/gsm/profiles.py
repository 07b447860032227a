"""Per-model modem profiles (``hw/modems/<name>.toml``).

A profile says what differs between models: vendor init strings, how to read the ICCID,
the AT+CNMI routing, whether ``+CMT``/``+CDS`` need ``AT+CNMA``, which registration
queries apply (``CEREG`` on LTE), the voice URC dialect (``huawei``: ``^ORIG ^CONF
^CONN ^CEND``; ``clcc``: ``RING``/``+CLIP``, ``NO CARRIER``, polled ``AT+CLCC``) and
notes on the audio path for the media plane.

``profile`` in ``[[modems]]`` names a file (``huawei_e173``) or a family (``huawei``,
``simcom``, ``quectel``: their most common model); ``generic`` works with any 27.005 /
27.007 modem. Keys (all optional except ``name``)::

    name = "Huawei E173"
    iccid_commands = ["AT^ICCID?", "AT+CCID"]
    init = [...]              # the whole list (kept for older readers)
    extra_init = ["AT^CURC=1"]  # vendor strings sent after the standard set-up
    cnmi = "AT+CNMI=2,1,0,1,0"
    cnma = true               # +CMT / +CDS must be acknowledged with AT+CNMA
    registration = ["AT+CREG?", "AT+CEREG?"]
    reset_reenumerates = false  # AT+CFUN=1,1 makes the USB port vanish and come back
    ussd_hex = true           # USSD strings as packed GSM-7 hex (Huawei), else plain text
    [voice]
    supported = true
    urc_dialect = "huawei"    # or "clcc" (older key: call_state)
    audio = "serial_pcm"      # serial_pcm | usb_audio | analog | none
    enable_audio = "AT^DDSETEX=2"
    audio_notes = "..."
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from base.errors import ConfigError

__all__ = ["FAMILIES", "GENERIC", "PROFILE_DIR", "Profile", "available", "load_profile"]

PROFILE_DIR = Path(__file__).resolve().parents[2] / "hw" / "modems"
FAMILIES = {"huawei": "huawei_e173", "simcom": "simcom_sim800", "quectel": "quectel_ec25"}
DEFAULT_CNMI = "AT+CNMI=2,1,0,1,0"
# Commands the driver sends itself in its fixed set-up; stripped from a profile's init.
_STANDARD = ("AT+CMGF", "AT+CPMS", "AT+CNMI", "AT+CLIP", "AT+CREG", "AT+CEREG", "AT+CSCA")


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    iccid_commands: tuple[str, ...] = ("AT+CCID", "AT^ICCID?", "AT+QCCID", "AT+ICCID")
    extra_init: tuple[str, ...] = ()
    cnmi: str = DEFAULT_CNMI
    cnma: bool = True
    registration: tuple[str, ...] = ("AT+CREG?",)
    reset_reenumerates: bool = False
    ussd_hex: bool = False  # AT+CUSD strings as packed GSM-7 hex (Huawei), else text
    voice: bool = True
    urc_dialect: str = "clcc"  # huawei | clcc
    audio: str = "none"
    enable_audio: str | None = None
    audio_notes: str = ""

    @property
    def lte(self) -> bool:
        return any("CEREG" in q for q in self.registration)


GENERIC = Profile(name="Generic 3GPP modem")


def available() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml")) if PROFILE_DIR.is_dir() else []


def load_profile(profile: str) -> Profile:
    name = FAMILIES.get(profile, profile)
    path = PROFILE_DIR / f"{name}.toml"
    if not path.is_file():
        if name == "generic":
            return GENERIC
        known = ", ".join(available() + sorted(FAMILIES)) or "generic"
        raise ConfigError([("modems.profile", f"unknown modem profile {profile!r} ({known})")])
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError([("modems.profile", f"{path}: {exc}")]) from exc
    return _profile(name, data)


def _profile(name: str, data: dict[str, Any]) -> Profile:
    voice = data.get("voice", {})
    init = [str(c) for c in data.get("init", [])]
    cnmi = data.get("cnmi") or next((c for c in init if c.upper().startswith("AT+CNMI")), None)
    extra = data.get("extra_init")
    if extra is None:
        extra = [c for c in init if not c.upper().startswith(_STANDARD)]
    return Profile(
        name=str(data.get("name", name)),
        iccid_commands=tuple(data.get("iccid_commands", GENERIC.iccid_commands)),
        extra_init=tuple(str(c) for c in extra),
        cnmi=str(cnmi or DEFAULT_CNMI),
        cnma=bool(data.get("cnma", True)),
        registration=tuple(data.get("registration", GENERIC.registration)),
        reset_reenumerates=bool(data.get("reset_reenumerates", False)),
        ussd_hex=bool(data.get("ussd_hex", name.startswith("huawei"))),
        voice=bool(voice.get("supported", True)),
        urc_dialect=str(voice.get("urc_dialect", voice.get("call_state", "clcc"))),
        audio=str(voice.get("audio", "none")),
        enable_audio=voice.get("enable_audio"),
        audio_notes=str(voice.get("audio_notes", "")),
    )
