"""A modem's reported status: lifecycle moves, the facts it shows, its recent errors.

Every change of state goes through :func:`drivers.gsm.lifecycle.next_state`; every
change of the :class:`ModemStatus` value goes to the sink (a sink that fails is logged,
never fatal). Errors are kept (the last ten) for ``diagnose`` and the status's
``last_error``.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Any

from drivers.gsm.lifecycle import IllegalTransition, next_state
from drivers.gsm.types import ModemSink, ModemStatus

__all__ = ["StatusBoard"]


class StatusBoard:
    def __init__(self, modem_id: str, sink: ModemSink, log: Any) -> None:
        self.modem_id = modem_id
        self.sink = sink
        self.log = log
        self.current = ModemStatus(modem_id, "initialising")
        self.errors: deque[str] = deque(maxlen=10)

    @property
    def state(self) -> str:
        return self.current.state

    def identity(self) -> str:
        """What names the SIM in idempotency keys: IMSI, else ICCID, else IMEI, else id."""
        st = self.current
        return st.imsi or st.iccid or st.imei or self.modem_id

    async def set(self, event: str | None = None, **changes: Any) -> None:
        old = self.current
        state = old.state
        if event is not None:
            try:
                state = next_state(old.state, event)
            except IllegalTransition as exc:
                self.log.error("modem_illegal_transition", error=str(exc))
        values = {f.name: getattr(old, f.name) for f in dataclasses.fields(old)}
        values.update(changes)
        values["state"] = state
        values["registered"] = bool(values["registered"]) and state == "ready"
        new = ModemStatus(**values)
        if new == old:
            return
        self.current = new
        if new.state != old.state:
            self.log.info("modem_state", state=new.state, previous=old.state)
        try:
            await self.sink.modem_status(new)
        except Exception as exc:
            self.log.warning("modem_status_sink_failed", error=repr(exc))

    def error(self, text: str) -> None:
        """Remember an error (shown as ``last_error`` with the next status change)."""
        self.errors.append(text)
        self.current = dataclasses.replace(self.current, last_error=text)
