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
from typing import Annotated, Any, Literal

import phonenumbers
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from base.addr import split_host_port
from base.errors import ConfigError
from switch.cc_config import (
    IvrConfig,
    QueueConfig,
    RouteConfig,
    RoutingConfig,
    ScheduleConfig,
    UserConfig,
    check_references,
)
from switch.hooks_config import WebhookConfig, check_webhooks
from switch.widget.config import WidgetConfig

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
TOKEN_MIN = 16
# The tokens of the shipped configs: they work, but anyone who read them knows them.
PLACEHOLDER_TOKENS = frozenset(
    {
        "replace-with-a-long-random-token",
        "replace-with-another-long-random-token",
        "demo-token-change-me",
        "demo-tech-token-change-me",
    }
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Problems:
    """Cross-field checks of one model: every problem, each at its own key path."""

    def __init__(self, model: BaseModel) -> None:
        self.title = type(model).__name__
        self.errors: list[InitErrorDetails] = []

    def add(self, loc: tuple[int | str, ...], message: str, value: Any = None) -> None:
        self.errors.append(
            InitErrorDetails(type=PydanticCustomError("cross_field", message), loc=loc, input=value)
        )

    def raise_any(self) -> None:
        if self.errors:
            raise ValidationError.from_exception_data(self.title, self.errors)


def _token(value: str) -> str:
    if len(value) < TOKEN_MIN:
        raise ValueError(
            f"a token needs at least {TOKEN_MIN} characters (this one has {len(value)}); "
            "use a long random string"
        )
    return value


Token = Annotated[str, AfterValidator(_token)]


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
    # Desktop sign-in: a session ends after this long without a request (seconds).
    session_idle: Annotated[float, Field(ge=60, le=30 * 86400)] = 8 * 3600.0
    # Wrong passwords allowed per 15 minutes, then 429 until the oldest ages out.
    login_failures_per_user: Annotated[int, Field(ge=1, le=1000)] = 5
    login_failures_per_address: Annotated[int, Field(ge=1, le=10000)] = 20

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
    tokens: list[Token] = Field(default_factory=list)
    # Tokens that may also use technician tools (raw AT commands, simulator, audit trail).
    technician_tokens: list[Token] = Field(default_factory=list)


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
    # The SIM's own number (E.164): calls to it follow the [[routes]] entry for it.
    number: str | None = None

    @field_validator("number")
    @classmethod
    def _e164_number(cls, value: str | None) -> str | None:
        if value is not None and not _E164.fullmatch(value):
            raise ValueError(f"number must be E.164 like +85512000000, got {value!r}")
        return value

    @field_validator("audio_port")
    @classmethod
    def _absolute_audio_port(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_absolute():
            raise ValueError(f"audio_port must be an absolute device path, got {value!r}")
        return value

    @field_validator("smsc")
    @classmethod
    def _smsc(cls, value: str | None) -> str | None:
        if value is not None and not _E164.fullmatch(value):
            raise ValueError(f"smsc must be E.164 like +85512000000, got {value!r}")
        return value

    @model_validator(mode="after")
    def _port_or_simulated(self) -> ModemConfig:
        problems = _Problems(self)
        if not self.simulated and not self.port:
            problems.add(("port",), "port is required unless simulated = true")
        if self.simulated and self.audio_port is not None:
            problems.add((), "audio_port is not set for a simulated modem (it has its own)")
        problems.raise_any()
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
    # Inbound calls (callers, waiting or talking; an agent's own call out) one media worker
    # holds: 1 = one conversation per worker; 2 or 3 park several waiting callers in one
    # process (a worker has 4 legs: the rest stay free for the agents who take them).
    callers_per_worker: Annotated[int, Field(ge=1, le=3)] = 1
    kamailio: str = "/usr/sbin/kamailio"
    worker_port_base: Annotated[int, Field(gt=1024, lt=65000)] = 5100
    rtp_port_base: Annotated[int, Field(gt=1024, lt=65000)] = 20000
    ring_timeout: Annotated[float, Field(gt=0)] = 20.0
    record_calls: bool = False
    recordings: str = "data/recordings"
    # Recordings older than this many days are removed (0: kept however old), and the
    # oldest go once they take more than recordings_max_mb (0: no size limit).
    recordings_keep_days: Annotated[int, Field(ge=0, le=36500)] = 90
    recordings_max_mb: Annotated[int, Field(ge=0)] = 0
    # Under this much free space on the recordings' disk, new calls are not recorded
    # (they still connect) until the space is back.
    recordings_min_free_mb: Annotated[int, Field(ge=0)] = 500
    greeting: str | None = None
    hold_music: str | None = None
    # DTMF digit pressed during the greeting -> skill of the agents to ring (e.g. "1" = "km").
    menu: dict[str, str] = Field(default_factory=dict)
    tls_listen: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    ws_listen: str | None = None
    # SIP over secure WebSocket (browsers on https pages); tls_cert/tls_key, or a
    # self-signed certificate made at the first start under <store dir>/sip/.
    wss_listen: str | None = None
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


_INTERFACE = re.compile(r"^[0-9.]+(![0-9.]+)?$|^[0-9a-fA-F:]+(![0-9a-fA-F:]+)?$")


class WebRtcConfig(_Model):
    """Browser phones: rtpengine (the media relay) and browser credentials."""

    rtpengine: str = "/usr/bin/rtpengine"
    ng_port: Annotated[int, Field(gt=1024, lt=65536)] = 22223  # control, on 127.0.0.1
    port_min: Annotated[int, Field(gt=1024, lt=65536)] = 31000  # media (UDP)
    port_max: Annotated[int, Field(gt=1024, lt=65536)] = 31999
    # The address rtpengine's media uses; "IP!public IP" to advertise another one.
    interface: str = "127.0.0.1"
    threads: Annotated[int, Field(ge=1, le=64)] = 2
    # Seconds a browser credential (agent phone page) stays valid.
    credential_ttl: Annotated[int, Field(ge=60, le=86_400)] = 3600
    # The number a customer's widget call dials (E.164); none: no guest calls.
    widget_number: str | None = None
    guest_ttl: Annotated[int, Field(ge=60, le=86_400)] = 600
    # Guest credentials handed out per minute to one client address.
    guests_per_minute: Annotated[int, Field(ge=1, le=10_000)] = 20

    @field_validator("interface")
    @classmethod
    def _interface(cls, value: str) -> str:
        if not _INTERFACE.match(value):
            raise ValueError(f"must be an IP address, or 'IP!advertised IP', got {value!r}")
        return value

    @field_validator("widget_number")
    @classmethod
    def _widget_number(cls, value: str | None) -> str | None:
        if value is not None and not _E164.fullmatch(value):
            raise ValueError(f"widget_number must be E.164 (+ and 7 to 15 digits), got {value!r}")
        return value

    @model_validator(mode="after")
    def _ports(self) -> WebRtcConfig:
        if self.port_max - self.port_min < 3:
            raise ValueError("port_max must be at least port_min + 3 (each call takes ports)")
        if self.port_min <= self.ng_port <= self.port_max:
            raise ValueError("ng_port must be outside port_min..port_max")
        return self


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
        problems = _Problems(self)
        if self.register_:
            for key in ("username", "password"):
                if not getattr(self, key):
                    problems.add((key,), f"register = true needs {key}")
        problems.raise_any()
        return self


class AgentConfig(_Model):
    id: Annotated[str, Field(pattern=_ID)]
    name: str = ""
    sip_user: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")] | None = None
    sip_password: Annotated[str, Field(min_length=4)] | None = None
    skills: list[str] = Field(default_factory=list)
    password_hash: Annotated[str, Field(min_length=20)] | None = None  # desktop sign-in
    language: Literal["en", "km", "th", "fa"] | None = None  # the desktop's language
    max_chats: Annotated[int, Field(ge=1, le=20)] = 3  # chats/SMS conversations at once

    @model_validator(mode="after")
    def _password(self) -> AgentConfig:
        problems = _Problems(self)
        if self.sip_user and not self.sip_password:
            problems.add(("sip_password",), "sip_user needs sip_password")
        problems.raise_any()
        return self


# Remote commands a fleet may send over MQTT (``[mqtt] commands`` picks from these).
FLEET_COMMANDS = (
    "modem.diagnose",
    "modem.ussd",
    "sms.send",
    "trunk.test",
    "backup.now",
    "config.reload",
)
# The default allow-list: what cannot spend money or reach a customer.
SAFE_FLEET_COMMANDS = ("modem.diagnose", "trunk.test", "backup.now", "config.reload")


class MqttConfig(_Model):
    url: str = "mqtt://127.0.0.1:1883"
    box_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
    tls_ca: str | None = None
    username: str | None = None
    password: str | None = None
    telemetry_interval: Annotated[float, Field(ge=1)] = 60.0
    commands: list[str] = Field(default_factory=lambda: list(SAFE_FLEET_COMMANDS))
    # Messages kept per outbox (telemetry, events, replies) while the broker is away.
    queue_max: Annotated[int, Field(ge=1, le=100_000)] = 100
    # An operational event when the data directory's disk has less free space than this.
    disk_low_mb: Annotated[int, Field(ge=0)] = 500
    keepalive: Annotated[int, Field(ge=5, le=3600)] = 30

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        _mqtt_url(value)
        return value

    @field_validator("commands")
    @classmethod
    def _commands(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in FLEET_COMMANDS:
                raise ValueError(f"unknown command {name!r} (known: {', '.join(FLEET_COMMANDS)})")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MqttConfig:
        if self.tls_ca is not None and not self.tls:
            raise ValueError("tls_ca needs an mqtts:// url")
        if self.password is not None and self.username is None:
            raise ValueError("password needs username")
        return self

    @property
    def tls(self) -> bool:
        return _mqtt_url(self.url)[0]

    @property
    def host(self) -> str:
        return _mqtt_url(self.url)[1]

    @property
    def port(self) -> int:
        return _mqtt_url(self.url)[2]


def _mqtt_url(url: str) -> tuple[bool, str, int]:
    """``mqtt://host[:port]`` or ``mqtts://host[:port]`` -> (tls, host, port)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("mqtt", "mqtts"):
        raise ValueError(f"url must start with mqtt:// or mqtts://, got {url!r}")
    tls = scheme == "mqtts"
    if not rest or "/" in rest.rstrip("/") or "@" in rest:
        raise ValueError(
            f"url must be mqtt[s]://host[:port] (credentials go in username), got {url!r}"
        )
    rest = rest.rstrip("/")
    if ":" not in rest or rest.endswith("]"):
        return tls, rest.strip("[]"), 8883 if tls else 1883
    host, port = split_host_port(rest, "url")
    return tls, host, port


class BackupConfig(_Model):
    dir: str = "data/backups"
    keep: Annotated[int, Field(ge=1, le=1000)] = 7
    at: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = "03:00"  # local time


class Config(_Model):
    store: StoreConfig = Field(default_factory=StoreConfig)
    numbers: NumbersConfig = Field(default_factory=NumbersConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    api: ApiConfig = Field(default_factory=ApiConfig, validate_default=True)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    modems: list[ModemConfig] = Field(default_factory=list)
    sms: SmsConfig = Field(default_factory=SmsConfig)
    sip: SipConfig | None = None
    webrtc: WebRtcConfig | None = None
    trunks: list[TrunkConfig] = Field(default_factory=list)
    agents: list[AgentConfig] = Field(default_factory=list)
    # the contact center (switch/cc_config.py)
    queues: list[QueueConfig] = Field(default_factory=list)
    ivr: list[IvrConfig] = Field(default_factory=list)
    routes: list[RouteConfig] = Field(default_factory=list)
    schedules: list[ScheduleConfig] = Field(default_factory=list)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    users: list[UserConfig] = Field(default_factory=list)
    mqtt: MqttConfig | None = None
    backup: BackupConfig | None = None
    widget: WidgetConfig = Field(default_factory=WidgetConfig)  # switch/widget/config.py
    webhooks: list[WebhookConfig] = Field(default_factory=list)  # switch/hooks_config.py

    @field_validator("api")
    @classmethod
    def _some_token(cls, api: ApiConfig) -> ApiConfig:
        # Here, not in ApiConfig: a missing [api] section must fail too.
        problems = _Problems(api)
        if not api.tokens:
            problems.add(("tokens",), "at least one API token is needed")
        problems.raise_any()
        return api

    @model_validator(mode="after")
    def _cross_references(self) -> Config:
        problems = _Problems(self)
        for loc, message in check_references(
            self.queues,
            self.ivr,
            self.routes,
            self.schedules,
            [a.id for a in self.agents],
            self.users,
        ):
            problems.add(loc, message)
        for loc, message in check_webhooks(self.webhooks):
            problems.add(loc, message)
        _unique(problems, "modems", [m.id for m in self.modems])
        _unique(problems, "modems", [m.number for m in self.modems], key="number")
        _unique(problems, "trunks", [t.id for t in self.trunks])
        _unique(problems, "agents", [a.id for a in self.agents])
        _unique(problems, "agents", [a.sip_user for a in self.agents], key="sip_user")
        modem_ids = {m.id for m in self.modems}
        default = self.sms.default_modem
        if default is not None and default not in modem_ids:
            problems.add(("sms", "default_modem"), f"{default!r} is not a modem id", default)
        for i, route in enumerate(self.sms.routes):
            if route.modem not in modem_ids:
                problems.add(
                    ("sms", "routes", i, "modem"), f"{route.modem!r} is not a modem id", route.modem
                )
        if self.sip is None:
            users = [f"trunks[{i}]" for i in range(len(self.trunks))]
            users += [f"agents[{i}].sip_user" for i, a in enumerate(self.agents) if a.sip_user]
            if users:
                problems.add(
                    ("sip",), f"trunks and SIP agents need a [sip] section ({', '.join(users)})"
                )
        if self.webrtc is not None and (
            self.sip is None or not (self.sip.ws_listen or self.sip.wss_listen)
        ):
            problems.add(("webrtc",), "[webrtc] needs [sip] with ws_listen or wss_listen")
        queue = self.widget.queue
        if queue is not None and queue not in {q.id for q in self.queues}:
            problems.add(("widget", "queue"), f"no queue {queue!r}", queue)
        problems.raise_any()
        return self


def _unique(problems: _Problems, section: str, ids: list[str | None], key: str = "id") -> None:
    seen: set[str] = set()
    for i, value in enumerate(ids):
        if value is None:
            continue
        if value in seen:
            problems.add((section, i, key), f"duplicate {key} {value!r}", value)
        seen.add(value)


def config_warnings(config: Config) -> list[tuple[str, str]]:
    """What is valid but unwise, as ``(key path, message)``: the switch runs anyway."""
    warnings = []
    for key in ("tokens", "technician_tokens"):
        for i, token in enumerate(getattr(config.api, key)):
            if token in PLACEHOLDER_TOKENS:
                warnings.append(
                    (
                        f"api.{key}[{i}]",
                        "is the placeholder of a shipped config: replace it with your own "
                        "long random token",
                    )
                )
    return warnings


def store_path(config: Config) -> Path:
    """The store's absolute path (a relative ``store.path`` is relative to the cwd)."""
    return Path(config.store.path).absolute()


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
        except UnicodeDecodeError as exc:
            message = f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason})"
            raise ConfigError([("(file)", message)]) from None
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
