"""The modem driver's public names (``Modem`` lives in :mod:`drivers.gsm.gsm_modem`)."""

from drivers.gsm.gsm_modem import Modem
from drivers.gsm.values import (
    Check,
    DeliveryReport,
    GsmCallEvent,
    InboundSms,
    ModemSink,
    ModemStatus,
    SmsSendError,
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
