"""Config section ``[[webhooks]]``: journey events delivered to a CRM over HTTP.

```toml
[[webhooks]]
url = "https://crm.example/hooks/switch"
secret = "a long shared secret"      # signs every delivery (HMAC-SHA256)
events = ["call_ended", "csat"]       # journey kinds; ["*"] for every kind
```

Validated like the rest of the config (pydantic, unknown keys are errors).
"""

from __future__ import annotations

import hashlib
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from actors.messages import JOURNEY_KINDS


class WebhookConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")] | None = None
    url: str
    secret: Annotated[str, Field(min_length=16, max_length=512)]
    events: Annotated[list[str], Field(min_length=1)]
    timeout: Annotated[float, Field(gt=0, le=120)] = 10.0  # seconds per attempt
    retry_initial: Annotated[float, Field(gt=0, le=3600)] = 1.0  # seconds; doubles
    retry_max: Annotated[float, Field(gt=0, le=86400)] = 300.0
    max_attempts: Annotated[int, Field(ge=1, le=1000)] = 20  # then the failure log

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url must be http(s)://host/..., got {value!r}")
        if parts.username or parts.password:
            raise ValueError("url must not carry credentials (the secret signs the body)")
        return value

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        if value == ["*"]:
            return value
        for kind in value:
            if kind not in JOURNEY_KINDS:
                known = ", ".join(sorted(JOURNEY_KINDS))
                raise ValueError(f"unknown journey kind {kind!r} (known: {known}, or '*')")
        return value

    @model_validator(mode="after")
    def _retries(self) -> WebhookConfig:
        if self.retry_max < self.retry_initial:
            raise ValueError("retry_max must not be less than retry_initial")
        return self

    @property
    def hook_id(self) -> str:
        """The webhook's name in the store (its cursor, its failures): ``id``, or one
        derived from the URL."""
        return self.id or "h" + hashlib.sha256(self.url.encode()).hexdigest()[:12]

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(sorted(JOURNEY_KINDS)) if self.events == ["*"] else tuple(self.events)


def check_webhooks(hooks: list[WebhookConfig]) -> list[tuple[tuple[int | str, ...], str]]:
    """Every webhook names its own place in the store: ``(key path, message)`` each."""
    seen: set[str] = set()
    errors: list[tuple[tuple[int | str, ...], str]] = []
    for i, hook in enumerate(hooks):
        if hook.hook_id in seen:
            message = f"a second webhook named {hook.hook_id!r} (same url or id)"
            errors.append((("webhooks", i), message))
        seen.add(hook.hook_id)
    return errors
