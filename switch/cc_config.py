"""Config sections of the contact center: queues, IVR menus, routes, schedules, the
routing engine, and people who are not agents (contract part 2, DESIGN.md).

Validated like the rest of the config (pydantic, unknown keys are errors, key paths in
messages); :func:`check_references` checks that every target names something that
exists.
"""

from __future__ import annotations

import re
import zoneinfo
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_TARGET = re.compile(r"^(ivr|queue|agent):([A-Za-z0-9][A-Za-z0-9_.-]{0,63})$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_SPAN = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])$")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LANGUAGES = ("en", "km", "th", "fa")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _target(value: str) -> str:
    if not _TARGET.fullmatch(value):
        raise ValueError(f"a target is queue:<id>, ivr:<id> or agent:<id>, got {value!r}")
    return value


_PROMPT = r"^[A-Za-z0-9_.-]{1,64}$"


class QuestionConfig(_Model):
    """A question a waiting caller answers with the keypad (a virtual agent)."""

    id: Annotated[str, Field(pattern=_ID)]
    prompt: Annotated[str, Field(pattern=_PROMPT)]
    kind: Literal["digits", "choice"] = "digits"  # digits until #, or one digit of options
    max_length: Annotated[int, Field(ge=1, le=32)] = 16
    options: dict[str, str] = Field(default_factory=dict)  # choice: digit -> meaning
    timeout: Annotated[float, Field(gt=0, le=60)] = 8.0
    retries: Annotated[int, Field(ge=0, le=5)] = 1

    @field_validator("options")
    @classmethod
    def _options(cls, value: dict[str, str]) -> dict[str, str]:
        for digit in value:
            if len(digit) != 1 or digit not in "0123456789*#":
                raise ValueError(f"an option key is one DTMF digit (0-9, * or #), got {digit!r}")
        return value

    @model_validator(mode="after")
    def _choice_has_options(self) -> QuestionConfig:
        if self.kind == "choice" and not self.options:
            raise ValueError("a choice question needs options")
        return self


class QueueConfig(_Model):
    id: Annotated[str, Field(pattern=_ID)]
    skills: list[str] = Field(default_factory=list)  # an agent needs every one
    max_wait: Annotated[float, Field(gt=0)] = 600.0
    callback: bool = False
    service_level: Annotated[float, Field(gt=0)] = 20.0
    wrap_up: Annotated[float, Field(ge=0, le=3600)] = 3.0
    priority: Annotated[int, Field(ge=0, le=100)] = 0
    hours: str | None = None  # a [[schedules]] id; outside it the queue is closed
    announce_every: Annotated[float, Field(ge=5, le=3600)] | None = None  # position, wait
    questions: list[QuestionConfig] = Field(default_factory=list)  # asked while waiting
    csat: Literal["sms", "ivr"] | None = None  # a survey after an answered call


class RouteConfig(_Model):
    number: str
    to: str
    hours: str | None = None  # a [[schedules]] id
    closed_to: str | None = None  # where the number leads outside those hours

    @field_validator("number")
    @classmethod
    def _number(cls, value: str) -> str:
        if not _E164.fullmatch(value):
            raise ValueError(f"number must be E.164 like +85523900100, got {value!r}")
        return value

    @field_validator("to", "closed_to")
    @classmethod
    def _targets(cls, value: str | None) -> str | None:
        return None if value is None else _target(value)


class IvrConfig(_Model):
    id: Annotated[str, Field(pattern=_ID)]
    prompt: Annotated[str, Field(pattern=_PROMPT)]
    timeout: Annotated[float, Field(gt=0, le=60)] = 5.0
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    options: dict[str, str] = Field(default_factory=dict)
    language: Literal["en", "km", "th", "fa"] | None = None  # entering sets the language

    @field_validator("options")
    @classmethod
    def _options(cls, value: dict[str, str]) -> dict[str, str]:
        for digit, target in value.items():
            if digit not in "0123456789*#" or len(digit) != 1:
                raise ValueError(f"an option key is one DTMF digit (0-9, * or #), got {digit!r}")
            _target(target)
        return value


class ScheduleConfig(_Model):
    id: Annotated[str, Field(pattern=_ID)]
    timezone: str = "UTC"
    weekly: dict[str, list[str]] = Field(default_factory=dict)  # "mon": ["08:00-17:00"]
    holidays: list[str] = Field(default_factory=list)  # "2026-12-25"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (IANA name like Asia/Phnom_Penh)"
            ) from None
        return value

    @field_validator("weekly")
    @classmethod
    def _weekly(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, spans in value.items():
            if day not in DAYS:
                raise ValueError(f"days are {', '.join(DAYS)}; got {day!r}")
            for span in spans:
                m = _SPAN.fullmatch(span)
                if not m or (int(m[1]), int(m[2])) >= (int(m[3]), int(m[4])):
                    raise ValueError(f"{day}: a span is HH:MM-HH:MM with start < end, got {span!r}")
        return value

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, value: list[str]) -> list[str]:
        for day in value:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
                raise ValueError(f"a holiday is a date YYYY-MM-DD, got {day!r}")
        return value


class RoutingConfig(_Model):
    missed_call_break: bool = True  # a ring not answered puts the agent on break
    sticky_wait: Annotated[float, Field(ge=0, le=600)] = 20.0
    offer_retry: Annotated[float, Field(gt=0, le=600)] = 2.0
    reply_timeout: Annotated[float, Field(gt=0, le=86400)] = 300.0  # SMS/chat: an answer due
    conversation_idle: Annotated[float, Field(gt=0, le=7 * 86400)] = 3600.0  # then it closes
    prompts: str = "prompts"  # directory: <lang>/<name>.wav
    language: Literal["en", "km", "th", "fa"] = "en"  # the callers' default language


class UserConfig(_Model):
    id: Annotated[str, Field(pattern=_ID)]
    role: Literal["operator", "technician"]
    name: str = ""
    password_hash: Annotated[str, Field(min_length=20)] | None = None
    language: Literal["en", "km", "th", "fa"] | None = None  # the desktop's language


def check_references(
    queues: list[QueueConfig],
    ivr: list[IvrConfig],
    routes: list[RouteConfig],
    schedules: list[ScheduleConfig],
    agents: list[str],
    users: list[UserConfig],
) -> list[tuple[tuple[int | str, ...], str]]:
    """Every error of the contact center's cross references: (key path, message)."""
    errors: list[tuple[tuple[int | str, ...], str]] = []
    sections: dict[str, tuple[str, list[str]]] = {
        "queues": ("id", [q.id for q in queues]),
        "ivr": ("id", [m.id for m in ivr]),
        "schedules": ("id", [s.id for s in schedules]),
        "routes": ("number", [r.number for r in routes]),
        "users": ("id", [u.id for u in users]),
    }
    for section, (key, values) in sections.items():
        seen: set[str] = set()
        for i, value in enumerate(values):
            if value in seen:
                errors.append(((section, i, key), f"{value!r} is defined twice"))
            seen.add(value)
    agent_ids = set(agents)
    for i, user in enumerate(users):
        if user.id in agent_ids:
            errors.append((("users", i, "id"), f"{user.id!r} is also an agent id"))
    known = {
        "queue": set(sections["queues"][1]),
        "ivr": set(sections["ivr"][1]),
        "agent": agent_ids,
    }
    schedule_ids = set(sections["schedules"][1])

    def check(loc: tuple[int | str, ...], target: str | None) -> None:
        if target is None:
            return
        kind, _, name = target.partition(":")
        if name not in known[kind]:
            errors.append((loc, f"{target!r} names no {kind}"))

    for i, route in enumerate(routes):
        check(("routes", i, "to"), route.to)
        check(("routes", i, "closed_to"), route.closed_to)
        if route.hours is not None and route.hours not in schedule_ids:
            errors.append((("routes", i, "hours"), f"no schedule {route.hours!r}"))
        if route.closed_to is not None and route.hours is None:
            errors.append((("routes", i, "closed_to"), "closed_to needs hours"))
    for i, menu in enumerate(ivr):
        for digit, target in menu.options.items():
            check(("ivr", i, "options", digit), target)
    for i, queue in enumerate(queues):
        if queue.hours is not None and queue.hours not in schedule_ids:
            errors.append((("queues", i, "hours"), f"no schedule {queue.hours!r}"))
        seen_questions: set[str] = set()
        for j, question in enumerate(queue.questions):
            if question.id in seen_questions:
                loc = ("queues", i, "questions", j, "id")
                errors.append((loc, f"{question.id!r} is defined twice"))
            seen_questions.add(question.id)
    return errors
