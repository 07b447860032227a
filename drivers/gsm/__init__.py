"""GSM/LTE modems on USB serial: AT engine, SMS codec, modem driver, simulated modem.

- :mod:`drivers.gsm.engine` — the sans-IO AT engine;
- :mod:`drivers.gsm.pdu`, :mod:`~drivers.gsm.gsm7`, :mod:`~drivers.gsm.reassembly`,
  :mod:`~drivers.gsm.ussd` — the SMS/USSD codecs;
- :mod:`drivers.gsm.modem` — :class:`Modem`, the asyncio driver of one port (a package:
  one module per concern);
- :mod:`drivers.gsm.types` — what the driver hands to the core (and the sink it needs);
- :mod:`drivers.gsm.lifecycle`, :mod:`~drivers.gsm.profiles` — lifecycle table, model
  profiles (``hw/modems/*.toml``);
- :mod:`drivers.gsm.audio` — the PCM audio port of a voice call;
- :mod:`drivers.gsm.simulator` — a scripted modem on a pty (demo, tests, technicians).

The app uses only the names exported here (``from drivers.gsm import Modem``); the
modules above are the driver's own business.
"""

from drivers.gsm.modem import Modem, SmsSendError
from drivers.gsm.pdu import sms_parts_needed
from drivers.gsm.settings import ModemSettings
from drivers.gsm.simulator import SimulatedModem
from drivers.gsm.types import (
    Check,
    DeliveryReport,
    GsmCallEvent,
    InboundPart,
    InboundSms,
    ModemSink,
    ModemStatus,
)

__all__ = [
    "Check",
    "DeliveryReport",
    "GsmCallEvent",
    "InboundPart",
    "InboundSms",
    "Modem",
    "ModemSettings",
    "ModemSink",
    "ModemStatus",
    "SimulatedModem",
    "SmsSendError",
    "sms_parts_needed",
]
