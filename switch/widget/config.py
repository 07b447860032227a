"""The ``[widget]`` config section: the customer's chat/call widget (``GET /widget.js``).

Validated like the rest of the config (pydantic, unknown keys are errors, key paths in
messages). Colours are CSS hex colours only: they are written into the widget's style,
so nothing else may get in.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_ORIGIN = re.compile(
    r"^https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?$|^https?://\[[0-9a-fA-F:.]+\](?::[0-9]{1,5})?$"
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class WidgetColours(_Model):
    primary: str = "#0b6e4f"  # the header, the launcher and the buttons
    on_primary: str = "#ffffff"  # text on them
    customer: str = "#e3f1ec"  # the customer's own messages

    @field_validator("primary", "on_primary", "customer")
    @classmethod
    def _colour(cls, value: str) -> str:
        if not _COLOUR.fullmatch(value):
            raise ValueError(f"a colour is #rgb or #rrggbb, got {value!r}")
        return value.lower()


class WidgetConfig(_Model):
    # Pages (scheme://host[:port]) that may embed the widget; the switch's own pages
    # (/widget/demo) always may. "*" lets any site embed it.
    allowed_origins: list[str] = Field(default_factory=list)
    queue: str | None = None  # where chats go: a [[queues]] id (default: the first queue)
    language: Literal["en", "km", "th", "fa"] = "en"  # the page may ask for another
    colours: WidgetColours = Field(default_factory=WidgetColours)
    max_message: Annotated[int, Field(ge=1, le=4000)] = 2000  # characters per message
    messages_per_minute: Annotated[int, Field(ge=1, le=600)] = 30  # per visitor
    connections_per_minute: Annotated[int, Field(ge=1, le=10_000)] = 60  # per client address
    sockets_per_visitor: Annotated[int, Field(ge=1, le=50)] = 5  # open tabs of one visitor
    cookie_days: Annotated[int, Field(ge=1, le=730)] = 365
    code_ttl: Annotated[int, Field(ge=60, le=3600)] = 600  # s a phone code stays valid
    code_attempts: Annotated[int, Field(ge=1, le=10)] = 3  # wrong codes before the lock
    lock_minutes: Annotated[int, Field(ge=1, le=1440)] = 15
    codes_per_hour: Annotated[int, Field(ge=1, le=20)] = 5  # codes sent to one number

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f'an origin is scheme://host[:port] with no path (or "*"), got {origin!r}'
                )
        return [o.lower() for o in value]
