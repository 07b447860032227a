"""The modem driver, one module per concern; :class:`Modem` composes them.

- :mod:`~drivers.gsm.modem.driver` — :class:`Modem`: the run loop, its tasks, and the
  calls the core makes (send, USSD, raw AT, calls, diagnose);
- :mod:`~drivers.gsm.modem.shell` — the serial shell: the only part that touches the fd;
- :mod:`~drivers.gsm.modem.initialise` — probe, identity, SIM/PIN, settings;
- :mod:`~drivers.gsm.modem.health`, :mod:`~drivers.gsm.modem.sms_settings` — signal,
  registration, storage; the SMS settings read back and restored after a reset;
- :mod:`~drivers.gsm.modem.urc` — unsolicited result codes as typed events;
- :mod:`~drivers.gsm.modem.inbox` (sans-IO), :mod:`~drivers.gsm.modem.receiver` — SMS
  and status reports in, store before delete;
- :mod:`~drivers.gsm.modem.outbox` — SMS out;
- :mod:`~drivers.gsm.modem.ussd_session` — USSD requests and answers;
- :mod:`~drivers.gsm.modem.call_state` (the call as a table), :mod:`~drivers.gsm.modem.voice`;
- :mod:`~drivers.gsm.modem.recovery` — escalation and backoff;
- :mod:`~drivers.gsm.modem.diagnosis` — the technician's checks;
- :mod:`~drivers.gsm.modem.status`, :mod:`~drivers.gsm.modem.responses` — the reported
  status; readers of AT answers.

The app imports :mod:`drivers.gsm` only; these names are re-exported there.
"""

from drivers.gsm.modem.driver import Modem
from drivers.gsm.modem.outbox import PERMANENT_CMS, SmsSendError
from drivers.gsm.modem.recovery import MAX_ROUNDS
from drivers.gsm.modem.responses import csq_to_dbm
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
    "MAX_ROUNDS",
    "PERMANENT_CMS",
    "Check",
    "DeliveryReport",
    "GsmCallEvent",
    "InboundPart",
    "InboundSms",
    "Modem",
    "ModemSink",
    "ModemStatus",
    "SmsSendError",
    "csq_to_dbm",
]
