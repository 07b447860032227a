"""What the API reads and answers, as pydantic models: the OpenAPI document is made
from these, so it says what the server does.

Times are ISO 8601 strings in UTC with their zone (``2025-01-31T08:15:02.123Z``).
Phone fields carry the pattern of what is accepted (:data:`switch.phone.PHONE_PATTERN`);
a text of that shape must also be a valid number, else 422 ``invalid_phone``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from switch.phone import PHONE_MAX, PHONE_PATTERN

Phone = Annotated[
    str,
    Field(
        min_length=1,
        max_length=PHONE_MAX,
        description=(
            "A phone number: E.164 (`+85512345678`) or national in the configured "
            "default region (`012 345 678`); digits, one leading `+`, spaces and `( ) . - /`."
        ),
        json_schema_extra={"pattern": PHONE_PATTERN},
    ),
]
Id = Annotated[str, Field(min_length=1, max_length=64)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable reason, e.g. `invalid_phone`")
    message: str = Field(description="what is wrong, for a person")


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer of the API."""

    error: ErrorDetail


# ------------------------------------------------------------------ contacts


class NoteIn(_Body):
    text: Annotated[str, Field(min_length=1, max_length=10_000)]
    author: Annotated[str, Field(min_length=1, max_length=100)] = "api"


class MergeIn(_Body):
    other: Id


Disposition = Literal[
    "resolved", "follow_up", "callback", "escalated", "no_answer", "wrong_number", "other"
]


class WrapUpIn(_Body):
    """How a piece of work ended (`disposition`), with notes, and the call it was about."""

    disposition: Disposition
    text: Annotated[str, Field(max_length=10_000)] = ""
    call_id: Id | None = None


AttributeName = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[^\x00-\x1f]+$")]
AttributeValue = Annotated[str, Field(max_length=500)]


class ContactDetailsIn(_Body):
    """The contact's name (null or empty: no name) and all its attributes (those left
    out are removed; at most 30)."""

    name: Annotated[str | None, Field(max_length=200)] = None
    attributes: Annotated[dict[AttributeName, AttributeValue], Field(max_length=30)] = {}


class Contact(BaseModel):
    id: str
    identities: list[str] = Field(description="`phone:+855...`, `web:<session>`, ...")
    name: str | None
    created_at: str | None
    last_channel: str | None
    last_at: str | None
    journey_events: int
    merged_from: list[str]
    merged_into: str | None = Field(description="set when merged into another contact")
    attributes: dict[str, str] = Field(default={}, description="what people noted")


class JourneyEvent(_Out):
    """One event; besides these, the fields of its kind (`via`, `from`, `agent`...)."""

    at: str
    channel: Literal["sms", "voice", "chat", "note"]
    kind: str
    text: str | None = None


class Created(BaseModel):
    ok: bool


# ------------------------------------------------------------------ messages, modems


class MessageIn(_Body):
    to: Phone
    text: Annotated[str, Field(min_length=1, max_length=1530)]
    channel: Literal["sms"] = "sms"
    modem: Id | None = None


class Accepted(BaseModel):
    id: str


class Message(_Out):
    id: str
    direction: Literal["in", "out"]
    to: str | None
    from_: str | None = Field(alias="from")
    text: str
    status: Literal["queued", "sent", "delivered", "failed"]
    parts: int
    error: str | None = None
    contact_id: str | None = None


class Modem(_Out):
    id: str
    state: str
    imei: str | None = None
    iccid: str | None = None
    operator: str | None = None
    signal: int | None = Field(default=None, description="dBm, null when unknown")
    registered: bool = False
    state_since: str | None = None


class Check(BaseModel):
    name: str
    status: Literal["ok", "warn", "fail"]
    detail: str


class Diagnosis(BaseModel):
    modem: str
    checks: list[Check]


class StoreHealth(BaseModel):
    state: Literal["ok", "failing"]
    error: str | None = Field(description="why the last write failed, null once one succeeds")


class EdgeHealth(BaseModel):
    """A supervised child process (Kamailio, rtpengine)."""

    state: Literal["up", "down"]
    restarts: int


class WorkersHealth(BaseModel):
    up: int
    total: int
    restarts: int


class SipHealth(BaseModel):
    edge: EdgeHealth
    rtpengine: EdgeHealth | None = Field(description="null without [webrtc]")
    workers: WorkersHealth


class ModemHealth(BaseModel):
    id: str
    state: str
    last_error: str | None = None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    problems: list[str] = Field(description="one plain line per fault, empty when ok")
    store: StoreHealth
    sip: SipHealth | None = Field(description="null without [sip]")
    modems: list[ModemHealth]


class AtIn(_Body):
    command: Annotated[str, Field(min_length=2, max_length=200)]


class AtOut(BaseModel):
    modem: str
    lines: list[str]


class UssdIn(_Body):
    code: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9*#+]+$")]


class UssdOut(BaseModel):
    modem: str
    text: str


class SimulatedSmsIn(_Body):
    from_: Annotated[Phone, Field(alias="from")]
    text: Annotated[str, Field(min_length=1, max_length=2000)]
    modem: Id | None = None


class SimulatedSmsOut(BaseModel):
    modem: str
    parts: int


# ------------------------------------------------------------------ audit


class AuditEntry(BaseModel):
    id: int = Field(description="the entry's cursor: `before=<id>` pages to older ones")
    at: str
    action: str = Field(description="`modem.at`, `modem.ussd`, `contact.merge`, ...")
    who: str = Field(description="the token's key path in the config and its fingerprint")
    role: str
    source: str | None = Field(description="the client's address")
    target: str | None
    outcome: str = Field(description="`ok`, or why it failed")
    detail: dict[str, Any]
