"""Switch configuration: TOML validated by pydantic, errors named by key path.

The keys fixed by the external contract (DESIGN.md) are ``store.path``,
``numbers.default_region``, ``http.listen``, ``api.tokens``, ``modems[*]``, ``sip``,
``trunks[*]`` and ``agents[*]``; everything else has a default so a minimal file works.
Unknown keys are errors: a typo must not silently fall back to a default.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from base.addr import split_host_port
from base.errors import ConfigError

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class StoreConfig(_Model):
    path: str = "data/switch.db"
    snapshot_every: Annotated[int, Field(ge=1)] = 200
    group_commit_max: Annotated[int, Field(ge=1)] = 256


class NumbersConfig(_Model):
    default_region: str = "KH"

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown region {value!r} (ISO 3166 code such as 'KH')")
        return value.upper()


class HttpConfig(_Model):
    listen: str = "127.0.0.1:8080"

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        split_host_port(value, "listen")
        return value

    @property
    def host(self) -> str:
        return split_host_port(self.listen, "listen")[0]

    @property
    def port(self) -> int:
        return split_host_port(self.listen, "listen")[1]


class ApiConfig(_Model):
    tokens: list[Annotated[str, Field(min_length=8)]] = Field(default_factory=list)
    # Tokens that may also use technician tools (raw AT commands, simulator).
    technician_tokens: list[Annotated[str, Field(min_length=8)]] = Field(default_factory=list)


class RuntimeConfig(_Model):
    mailbox_size: Annotated[int, Field(ge=1)] = 1000
    hibernate_after: Annotated[float, Field(gt=0)] = 300.0
    restart_max: Annotated[int, Field(ge=1)] = 5
    restart_window: Annotated[float, Field(gt=0)] = 60.0


class LogConfig(_Model):
    level: Literal["debug", "info", "warning", "error"] = "info"


class ModemConfig(_Model):
    id: Annotated[str, Field(pattern=_ID)]
    port: str = ""
    baudrate: Annotated[int, Field(gt=0)] = 115200
    pin: Annotated[str, Field(pattern=r"^[0-9]{4,8}$")] | None = None
    profile: str = "generic"
    smsc: str | None = None
    simulated: bool = False
    # Messages per minute this SIM may send (operators block SIMs that flood).
    rate_per_minute: Annotated[int, Field(ge=1)] = 20
    # The modem's raw PCM voice port (8 kHz 16-bit mono): with it and [sip], incoming
    # GSM calls ring the agents. Simulated modems use the simulator's own voice port.
    audio_port: str | None = None

    @field_validator("audio_port")
    @classmethod
    def _absolute_audio_port(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_absolute():
            raise ValueError(f"audio_port must be an absolute device path, got {value!r}")
        return value

    @model_validator(mode="after")
    def _port_or_simulated(self) -> ModemConfig:
        if not self.simulated and not self.port:
            raise ValueError("port is required unless simulated = true")
        if self.simulated and self.audio_port is not None:
            raise ValueError("audio_port is not set for a simulated modem (it has its own)")
        if self.smsc is not None and not _E164.fullmatch(self.smsc):
            raise ValueError(f"smsc must be E.164 like +85512000000, got {self.smsc!r}")
        return self


class SmsRoute(_Model):
    prefix: Annotated[str, Field(pattern=r"^\+[0-9]{1,14}$")]
    modem: str


class SmsConfig(_Model):
    default_modem: str | None = None
    routes: list[SmsRoute] = Field(default_factory=list)
    reassembly_timeout: Annotated[float, Field(gt=0)] = 600.0
    # Seconds between health rounds of each modem: signal, registration, the SMS
    # settings read back (restored after a reset) and a sweep of the SIM.
    health_interval: Annotated[float, Field(gt=0)] = 15.0
    max_attempts: Annotated[int, Field(ge=1)] = 5
    status_reports: bool = True


class SipConfig(_Model):
    listen: str = "127.0.0.1:5060"
    workers: Annotated[int, Field(ge=1, le=256)] = 8
    kamailio: str = "/usr/sbin/kamailio"
    worker_port_base: Annotated[int, Field(gt=1024, lt=65000)] = 5100
    rtp_port_base: Annotated[int, Field(gt=1024, lt=65000)] = 20000
    ring_timeout: Annotated[float, Field(gt=0)] = 20.0
    record_calls: bool = False
    recordings: str = "data/recordings"
    greeting: str | None = None
    hold_music: str | None = None
    # DTMF digit pressed during the greeting -> skill of the agents to ring (e.g. "1" = "km").
    menu: dict[str, str] = Field(default_factory=dict)
    tls_listen: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    ws_listen: str | None = None
    shm_mb: Annotated[int, Field(ge=64)] = 256

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        split_host_port(value, "listen")
        return value

    @property
    def host(self) -> str:
        return split_host_port(self.listen, "listen")[0]

    @property
    def port(self) -> int:
        return split_host_port(self.listen, "listen")[1]


class TrunkConfig(_Model):
    id: Annotated[str, Field(pattern=_ID)]
    host: str
    port: Annotated[int, Field(gt=0, lt=65536)] = 5060
    transport: Literal["udp", "tcp", "tls"] = "udp"
    dids: list[str] = Field(default_factory=list)
    username: str | None = None
    password: str | None = None
    register_: bool = Field(default=False, alias="register")
    # How the provider wants numbers: "+E164", "e164" (no plus), or "national".
    number_format: Literal["+e164", "e164", "national"] = "+e164"
    # Prefixes this trunk is used for when calling out; empty = any.
    prefixes: list[str] = Field(default_factory=list)

    @field_validator("dids")
    @classmethod
    def _dids(cls, value: list[str]) -> list[str]:
        for did in value:
            if not _E164.fullmatch(did):
                raise ValueError(f"DID {did!r} is not E.164 (+ and 7 to 15 digits)")
        return value

    @model_validator(mode="after")
    def _credentials(self) -> TrunkConfig:
        if self.register_ and not (self.username and self.password):
            raise ValueError("register = true needs username and password")
        return self


class AgentConfig(_Model):
    id: Annotated[str, Field(pattern=_ID)]
    name: str = ""
    sip_user: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")] | None = None
    sip_password: Annotated[str, Field(min_length=4)] | None = None
    skills: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _password(self) -> AgentConfig:
        if self.sip_user and not self.sip_password:
            raise ValueError("sip_user needs sip_password")
        return self


class Config(_Model):
    store: StoreConfig = Field(default_factory=StoreConfig)
    numbers: NumbersConfig = Field(default_factory=NumbersConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    modems: list[ModemConfig] = Field(default_factory=list)
    sms: SmsConfig = Field(default_factory=SmsConfig)
    sip: SipConfig | None = None
    trunks: list[TrunkConfig] = Field(default_factory=list)
    agents: list[AgentConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cross_references(self) -> Config:
        _unique("modems", [m.id for m in self.modems])
        _unique("trunks", [t.id for t in self.trunks])
        _unique("agents", [a.id for a in self.agents])
        _unique("agents", [a.sip_user for a in self.agents if a.sip_user], key="sip_user")
        modem_ids = {m.id for m in self.modems}
        if self.sms.default_modem is not None and self.sms.default_modem not in modem_ids:
            raise ValueError(f"sms.default_modem {self.sms.default_modem!r} is not a modem id")
        for route in self.sms.routes:
            if route.modem not in modem_ids:
                raise ValueError(f"sms.routes: modem {route.modem!r} is not a modem id")
        if (self.trunks or any(a.sip_user for a in self.agents)) and self.sip is None:
            raise ValueError("trunks and SIP agents need a [sip] section")
        return self


def _unique(section: str, ids: list[str], key: str = "id") -> None:
    seen: set[str] = set()
    for value in ids:
        if value in seen:
            raise ValueError(f"{section}: duplicate {key} {value!r}")
        seen.add(value)


def _key_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path or "(top level)"


def parse_config(data: dict[str, object]) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        errors: list[tuple[str, str]] = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key"
            errors.append((_key_path(loc), message))
        raise ConfigError(errors) from None


def load_config(path: str | Path | None) -> Config:
    """Load and validate a config file; ``None`` loads the built-in demo config."""
    if path is None:
        text = demo_config_text()
        source = "demo.toml"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError([("(file)", f"cannot read {path}: {exc.strerror}")]) from None
        source = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([("(syntax)", f"{source}: {exc}")]) from None
    return parse_config(data)


def demo_config_text() -> str:
    """The built-in demo config (``configs/demo.toml``, shipped inside the package)."""
    repo_copy = Path(__file__).resolve().parent.parent / "configs" / "demo.toml"
    if repo_copy.is_file():
        return repo_copy.read_text(encoding="utf-8")
    return resources.files("switch").joinpath("demo.toml").read_text(encoding="utf-8")
