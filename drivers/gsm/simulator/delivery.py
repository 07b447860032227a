"""How the simulated network delivers one incoming SMS: a frozen value.

:class:`Delivery` is what :meth:`ModemMachine.deliver_sms`, :meth:`SimulatedModem.
deliver_sms` / ``deliver_sms_now`` and :meth:`SimulatorClient.deliver_sms` take; the
control socket's ``deliver_sms`` op carries the same fields as JSON
(:meth:`Delivery.from_json` / :meth:`Delivery.to_json`).

- ``order``: part numbers (from 1) in delivery order; parts it omits are not
  delivered. None: every part, in order.
- ``duplicate``: parts delivered once more after the rest. ``drop``: parts never
  delivered.
- ``mode``: ``"auto"`` routes by AT+CNMI, ``"cmti"`` stores in the SIM whatever CNMI
  says (like a class-2 SMS), ``"cmt"`` always gives ``+CMT``.
- ``ucs2``: UCS-2 even if the text fits GSM-7. ``timestamp``: the SCTS (a datetime, or
  epoch seconds; None: the modem's clock). ``reference``: the concatenation reference
  (None: derived from the content). ``interval``: seconds between the parts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

__all__ = ["DEFAULT_DELIVERY", "ROUTE_MODES", "Delivery", "RouteMode"]

RouteMode = Literal["auto", "cmti", "cmt"]
ROUTE_MODES: tuple[str, ...] = get_args(RouteMode)


def _parts(name: str, value: Iterable[int] | None) -> tuple[int, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValueError(f"{name!r} must be a list of integers")
    parts = tuple(value)
    if not all(isinstance(p, int) and not isinstance(p, bool) for p in parts):
        raise ValueError(f"{name!r} must be a list of integers")
    return parts


@dataclass(frozen=True, slots=True)
class Delivery:
    """How one incoming SMS is delivered (see the module docstring)."""

    order: tuple[int, ...] | None = None
    duplicate: tuple[int, ...] = ()
    drop: tuple[int, ...] = ()
    mode: RouteMode = "auto"
    ucs2: bool = False
    timestamp: datetime | float | None = None
    reference: int | None = None
    interval: float = 0.0

    def __post_init__(self) -> None:
        # sequences given as lists are kept as tuples: the value stays immutable
        if self.order is not None:
            object.__setattr__(self, "order", _parts("order", self.order))
        object.__setattr__(self, "duplicate", _parts("duplicate", self.duplicate))
        object.__setattr__(self, "drop", _parts("drop", self.drop))
        if self.mode not in ROUTE_MODES:
            raise ValueError("mode must be 'auto', 'cmti' or 'cmt'")
        if not isinstance(self.ucs2, bool):
            raise ValueError("'ucs2' must be true or false")
        ts = self.timestamp
        if ts is not None and (isinstance(ts, bool) or not isinstance(ts, datetime | int | float)):
            raise ValueError("'timestamp' must be an ISO 8601 string or epoch seconds")
        if self.reference is not None and (
            isinstance(self.reference, bool) or not isinstance(self.reference, int)
        ):
            raise ValueError("'reference' must be an integer")
        if isinstance(self.interval, bool) or not isinstance(self.interval, int | float):
            raise ValueError("'interval' must be a number")
        if self.interval < 0:
            raise ValueError("'interval' must be >= 0")
        object.__setattr__(self, "interval", float(self.interval))

    def select(self, count: int) -> list[int]:
        """The part numbers (1..count) to deliver, in order; ValueError if out of range."""
        sequence = list(self.order) if self.order is not None else list(range(1, count + 1))
        sequence += self.duplicate
        for part in [*sequence, *self.drop]:
            if not 1 <= part <= count:
                raise ValueError(f"part number {part!r} out of range 1..{count}")
        dropped = set(self.drop)
        return [p for p in sequence if p not in dropped]

    @classmethod
    def from_json(cls, params: Mapping[str, Any]) -> Delivery:
        """From a control request's fields (other keys are ignored); ValueError if bad."""
        timestamp = params.get("timestamp")
        if isinstance(timestamp, str):
            timestamp = datetime.fromisoformat(timestamp)
        order = params.get("order")
        return cls(
            order=None if order is None else _parts("order", order),
            duplicate=_parts("duplicate", params.get("duplicate") or ()),
            drop=_parts("drop", params.get("drop") or ()),
            mode=params.get("mode", "auto"),
            ucs2=bool(params.get("ucs2", False)),
            timestamp=timestamp,
            reference=params.get("reference"),
            interval=float(params.get("interval", 0.0)),
        )

    def to_json(self) -> dict[str, Any]:
        """The fields that differ from the defaults, JSON-able (timestamps as ISO 8601)."""
        out: dict[str, Any] = {}
        if self.order is not None:
            out["order"] = list(self.order)
        if self.duplicate:
            out["duplicate"] = list(self.duplicate)
        if self.drop:
            out["drop"] = list(self.drop)
        if self.mode != "auto":
            out["mode"] = self.mode
        if self.ucs2:
            out["ucs2"] = True
        if self.timestamp is not None:
            ts = self.timestamp
            out["timestamp"] = ts.isoformat() if isinstance(ts, datetime) else ts
        if self.reference is not None:
            out["reference"] = self.reference
        if self.interval:
            out["interval"] = self.interval
        return out


DEFAULT_DELIVERY = Delivery()
"""Every part once, in order, routed by AT+CNMI, timestamped by the modem's clock."""
