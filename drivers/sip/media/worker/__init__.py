"""A media worker process: one pjsua2 user agent, driven by the core over a Unix socket.

Started by the pool as ``python -m drivers.sip.media.worker`` (arguments: :mod:`.main`).

Theory of operation
-------------------
The worker decides nothing. It connects to the core's socket, says ``hello``, then turns
SIP/RTP happenings into events and the core's commands into pjsua2 calls (protocol:
:mod:`drivers.sip.media.protocol`). Its parts:

- :mod:`.main` — arguments, the control socket, signals;
- :mod:`.pump` — the one-thread loop: ``libHandleEvents`` (``--pump-ms``), then the
  control socket polled with a zero timeout, health, timers;
- :mod:`.commands` — one handler per op, exactly one reply per command;
- :mod:`.ua` — the pjsua2 endpoint, accounts, callbacks and the lifetime of every
  pjsua2 object (all dropped before ``libDestroy()``: the wheel aborts otherwise);
- :mod:`.legs` — the legs and the one-conversation rule: while any leg exists, or while
  the core holds a reservation (``reserve``, ended by the first ``dial``, ``release``
  or expiry), an incoming INVITE gets 486 and the edge tries the next worker;
- :mod:`.conference` — the audio wiring, recomputed from the legs after every change
  and applied as a diff (``bridge``: two legs both ways; ``play``: a WAV player to a
  leg; ``record_start``: the mix of the conversation to a WAV recorder; ``pcm_bridge``:
  a modem's raw PCM port and a leg both ways, :mod:`drivers.sip.media.pcm`);
- :mod:`.pjglue` — loading pjsua2 and its set-up; :mod:`.request` — reading an INVITE.

An incoming call is only announced (``incoming``); it rings (180) on ``ring``, is
answered on ``answer``, refused on ``reject``; if the core says nothing for
``--answer-timeout`` seconds (``--ring-timeout`` once it said ``ring``), the worker
refuses it with 480.

The process stays lean: this package imports nothing on its own, and nothing of the
worker imports asyncio, the pool or the edge.
"""
