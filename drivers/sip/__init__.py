"""SIP: the Kamailio edge and the pool of pjsua2 media workers, one package per plane.

- :mod:`drivers.sip.edge` — the signalling plane: Kamailio's config (rendered), the
  SQLite file it reads, its supervisor, RPC queries, the OPTIONS probe;
- :mod:`drivers.sip.media` — the media plane: the worker pool, one worker process, the
  wire protocol between them, the typed commands and events, the PCM bridge;
- :mod:`drivers.sip.rtpengine` — the media relay for browsers (WebRTC <-> plain RTP):
  its process, its ng control protocol;
- :mod:`drivers.sip.process` — the supervised child process both planes run theirs with;
- :mod:`drivers.sip.settings` — what the app tells the driver (frozen values);
- :mod:`drivers.sip.numbers` — E.164 <-> a provider's number format;
- :mod:`drivers.sip.uri` — SIP URI bits both planes use.

The app uses only the names exported here (``from drivers.sip import WorkerPool``). They
are loaded on first use, so a media worker process (which imports this package first)
does not pay for the edge's modules or the pool's: this module imports only the
settings, never a plane.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drivers.sip.settings import (
    AgentPhone,
    EdgeSettings,
    RtpengineSettings,
    TrunkSettings,
    WebRtcSettings,
)

if TYPE_CHECKING:
    from drivers.sip.edge.ephemeral import (
        EphemeralCredential,
        ephemeral_credential,
        guest_user,
        is_guest_user,
        load_or_create_secret,
    )
    from drivers.sip.edge.probe import sip_options
    from drivers.sip.edge.supervisor import KamailioSupervisor
    from drivers.sip.media.pool import WorkerPool
    from drivers.sip.media.protocol import Event
    from drivers.sip.numbers import from_provider, to_provider
    from drivers.sip.rtpengine.client import NgClient
    from drivers.sip.rtpengine.supervisor import RtpengineSupervisor
    from drivers.sip.uri import uri_user

_LAZY = {
    "EphemeralCredential": "drivers.sip.edge.ephemeral",
    "ephemeral_credential": "drivers.sip.edge.ephemeral",
    "guest_user": "drivers.sip.edge.ephemeral",
    "is_guest_user": "drivers.sip.edge.ephemeral",
    "load_or_create_secret": "drivers.sip.edge.ephemeral",
    "KamailioSupervisor": "drivers.sip.edge.supervisor",
    "sip_options": "drivers.sip.edge.probe",
    "from_provider": "drivers.sip.numbers",
    "to_provider": "drivers.sip.numbers",
    "WorkerPool": "drivers.sip.media.pool",
    "Event": "drivers.sip.media.protocol",
    "uri_user": "drivers.sip.uri",
    "NgClient": "drivers.sip.rtpengine.client",
    "RtpengineSupervisor": "drivers.sip.rtpengine.supervisor",
}

__all__ = [
    "AgentPhone",
    "EdgeSettings",
    "EphemeralCredential",
    "Event",
    "KamailioSupervisor",
    "NgClient",
    "RtpengineSettings",
    "RtpengineSupervisor",
    "TrunkSettings",
    "WebRtcSettings",
    "WorkerPool",
    "builtin_sound",
    "ephemeral_credential",
    "from_provider",
    "guest_user",
    "is_guest_user",
    "load_or_create_secret",
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
