"""Modem telemetry uses a drop-oldest mailbox: a burst keeps the newest status."""

from actors.modem import TELEMETRY_MAILBOX, GetModem, ModemActor, ModemTelemetry
from actors.runtime import Registry
from base.clock import FakeClock


async def test_burst_of_telemetry_drops_oldest_and_keeps_newest(clock: FakeClock) -> None:
    reg = Registry(clock)
    reg.register_kind("modem", ModemActor, mailbox_size=TELEMETRY_MAILBOX, overflow="drop_oldest")
    for i in range(100):  # no await: the actor cannot run until the burst is over
        reg.tell("modem:gsm1", ModemTelemetry({"id": "gsm1", "state": "ready", "signal": -i}, 1.0))
    status = await reg.ask("modem:gsm1", GetModem())
    assert status["signal"] == -99 and status["state"] == "ready"
