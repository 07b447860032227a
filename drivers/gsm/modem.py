"""The modem driver's public names (``Modem`` lives in :mod:`drivers.gsm.driver`)."""

from drivers.gsm.driver import Modem, SmsSendError
from drivers.gsm.types import (
    Check,
    DeliveryReport,
    GsmCallEvent,
    InboundSms,
    ModemSink,
    ModemStatus,
)

__all__ = [
    "Check",
    "DeliveryReport",
    "GsmCallEvent",
    "InboundSms",
    "Modem",
    "ModemSink",
    "ModemStatus",
    "SmsSendError",
]
