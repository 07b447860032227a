"""What the MQTT driver needs to know, as a small frozen value.

The driver never reads the switch's config: ``switch.settings`` maps ``[mqtt]`` to a
:class:`MqttSettings` once, at start.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from base.backoff import Backoff


@dataclass(frozen=True, slots=True)
class MqttSettings:
    host: str
    port: int
    box_id: str  # every topic lives under edge/<box_id>/
    tls: bool = False  # mqtts://
    tls_ca: str | None = None  # CA file that signed the broker's certificate (None: system CAs)
    username: str | None = None
    password: str | None = None
    keepalive: int = 30  # seconds; the broker publishes the last will after 1.5x silence
    queue_max: int = 100  # per outbox (telemetry, events, replies) while the broker is away
    max_commands: int = 4  # commands running at once; more are answered "busy"
    backoff: Backoff = field(default_factory=lambda: Backoff(initial=1.0, maximum=60.0))
