"""The modem actor: the latest health telemetry of one modem (state, signal, SIM).

Telemetry is the case for the drop-oldest mailbox: when status updates arrive faster
than they are consumed, only the newest matters, so the oldest are dropped (and
counted) instead of refusing new ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from actors.runtime import Actor, Registry

TELEMETRY_MAILBOX = 16


@dataclass(frozen=True, slots=True)
class ModemTelemetry:
    status: dict[str, Any]
    at: float


@dataclass(frozen=True, slots=True)
class GetModem:
    pass


class ModemActor(Actor):
    __slots__ = ("changed_at", "status")

    def __init__(self, actor_id: str, registry: Registry) -> None:
        super().__init__(actor_id, registry)
        self.status: dict[str, Any] = {"id": actor_id.partition(":")[2], "state": "initialising"}
        self.changed_at = 0.0

    def idle(self) -> bool:
        return False  # a configured modem stays in memory

    async def handle(self, message: Any) -> Any:
        match message:
            case GetModem():
                return dict(self.status)
            case ModemTelemetry(status=status, at=at):
                # The driver logs the transition itself (modem_state): one line each.
                if status.get("state") != self.status.get("state"):
                    self.changed_at = at
                self.status = {**status, "state_since": self.changed_at}
                return None
        raise TypeError(f"modem cannot handle {type(message).__name__}")
