"""SIP: the Kamailio edge and the pool of pjsua2 media workers.

- :mod:`drivers.sip.kamailio` — the edge's config (rendered) and its supervisor;
- :mod:`drivers.sip.subscribers` — the SQLite file Kamailio reads (agents, workers, trunk
  registrations);
- :mod:`drivers.sip.pool` — the media worker pool (processes, commands, events);
- :mod:`drivers.sip.worker` — one media worker process (pjsua2);
- :mod:`drivers.sip.protocol` — the core <-> worker wire protocol;
- :mod:`drivers.sip.numbers` — E.164 <-> a provider's number format;
- :mod:`drivers.sip.pcm` — a leg bridged with a modem's raw PCM port.

The app uses only the names exported here (``from drivers.sip import WorkerPool``). They
are loaded on first use, so a media worker process (which imports this package first)
does not pay for the edge's modules.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drivers.sip.settings import AgentPhone, EdgeSettings, TrunkSettings

if TYPE_CHECKING:
    from drivers.sip.kamailio import KamailioSupervisor, sip_options
    from drivers.sip.numbers import from_provider, to_provider
    from drivers.sip.pool import WorkerPool
    from drivers.sip.protocol import Event
    from drivers.sip.uri import uri_user

_LAZY = {
    "KamailioSupervisor": "drivers.sip.kamailio",
    "sip_options": "drivers.sip.kamailio",
    "from_provider": "drivers.sip.numbers",
    "to_provider": "drivers.sip.numbers",
    "WorkerPool": "drivers.sip.pool",
    "Event": "drivers.sip.protocol",
    "uri_user": "drivers.sip.uri",
}

__all__ = [
    "AgentPhone",
    "EdgeSettings",
    "Event",
    "KamailioSupervisor",
    "TrunkSettings",
    "WorkerPool",
    "builtin_sound",
    "from_provider",
    "sip_options",
    "to_provider",
    "uri_user",
]


def builtin_sound(name: str) -> Path:
    """A sound shipped with the switch (``drivers/sip/sounds/<name>.wav``)."""
    return Path(__file__).resolve().parent / "sounds" / f"{name}.wav"


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'drivers.sip' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
