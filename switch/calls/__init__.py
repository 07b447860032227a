"""Voice calls: the core side of the SIP edge and the media workers.

- :mod:`switch.calls.service` — :class:`CallService`: lifecycle, events, call creation, API;
- :mod:`switch.calls.actor` — the call actor, the shell that performs a call's effects;
- :mod:`switch.calls.media` — a call's media effects as worker commands;
- :mod:`switch.calls.routing` — the next agent to ring, the way out to a number;
- :mod:`switch.calls.records` — a call as the API shows it;
- :mod:`switch.calls.gsm` — the modem's side of a GSM call;
- :mod:`switch.calls.trunk_test` — ``switch trunk test``.

What happens in a call is decided by :mod:`actors.call` (pure).
"""

from switch.calls.service import CallService

__all__ = ["CallService"]
