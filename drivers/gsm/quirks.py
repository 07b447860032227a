"""Per-model quirk profiles (``hw/modems/<profile>.toml``): init strings, ICCID command,
registration queries, the call-state dialect and the audio interface.

``profile`` in ``[[modems]]`` names a file (``huawei_e173``) or a family (``huawei``,
``simcom``, ``quectel``: their most common model); ``generic`` works with any 27.007
modem.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from switch.errors import ConfigError

PROFILE_DIR = Path(__file__).resolve().parents[2] / "hw" / "modems"
FAMILIES = {"huawei": "huawei_e173", "simcom": "simcom_sim800", "quectel": "quectel_ec25"}


@dataclass(frozen=True, slots=True)
class Quirks:
    name: str
    iccid_commands: tuple[str, ...]
    init: tuple[str, ...]
    registration: tuple[str, ...]
    call_state: str = "clcc"
    audio: str = "none"
    enable_audio: str | None = None
    reset_reenumerates: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


GENERIC = Quirks(
    name="Generic 3GPP modem",
    iccid_commands=("AT+CCID", "AT^ICCID?", "AT+QCCID", "AT+ICCID"),
    init=("AT+CMGF=0", 'AT+CPMS="SM","SM","SM"', "AT+CNMI=2,1,0,1,0", "AT+CLIP=1", "AT+CREG=2"),
    registration=("AT+CREG?",),
)


def available() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml")) if PROFILE_DIR.is_dir() else []


def load_quirks(profile: str) -> Quirks:
    name = FAMILIES.get(profile, profile)
    path = PROFILE_DIR / f"{name}.toml"
    if not path.is_file():
        if name == "generic":
            return GENERIC
        known = ", ".join(available() + sorted(FAMILIES)) or "generic"
        raise ConfigError([("modems.profile", f"unknown modem profile {profile!r} ({known})")])
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    voice = data.get("voice", {})
    return Quirks(
        name=data.get("name", name),
        iccid_commands=tuple(data.get("iccid_commands", GENERIC.iccid_commands)),
        init=tuple(data.get("init", GENERIC.init)),
        registration=tuple(data.get("registration", GENERIC.registration)),
        call_state=voice.get("call_state", "clcc"),
        audio=voice.get("audio", "none"),
        enable_audio=voice.get("enable_audio"),
        reset_reenumerates=bool(data.get("reset_reenumerates", False)),
    )
