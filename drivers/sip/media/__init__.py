"""The media plane: pjsua2 worker processes, their pool, and the typed commands and
events the core exchanges with them.

- :mod:`~drivers.sip.media.ops` — the media-plane API as typed commands and events;
- :mod:`~drivers.sip.media.protocol` — the core <-> worker wire protocol (sans-IO);
- :mod:`~drivers.sip.media.pool_state` — the pool's bookkeeping (sans-IO);
- :mod:`~drivers.sip.media.pool` — the pool, asyncio: processes, sockets, commands;
- :mod:`~drivers.sip.media.worker` — one worker process (pjsua2);
- :mod:`~drivers.sip.media.pcm` — a leg bridged with a modem's raw PCM port.

Imports nothing here: a worker process (which loads this package on its way to its own
modules) must not pay for the pool's. Nothing of the media plane imports the edge.
"""
