"""rtpengine: the media relay that lets browsers (WebRTC) talk to the media workers.

Kamailio's ``rtpengine`` module sends rtpengine an offer and an answer for every call
that crosses between a WebSocket client (ICE, DTLS-SRTP, rtcp-mux, often Opus) and the
workers' plain RTP, so a browser's leg reaches a worker as an ordinary RTP leg. The
switch runs rtpengine and can ask it questions:

- :mod:`~drivers.sip.rtpengine.bencode` — bencode, sans-IO;
- :mod:`~drivers.sip.rtpengine.ng` — the ng control protocol's messages, sans-IO;
- :mod:`~drivers.sip.rtpengine.client` — ``NgClient``, its asyncio UDP client;
- :mod:`~drivers.sip.rtpengine.supervisor` — ``RtpengineSupervisor``, the process.

Imports nothing here (modules are loaded where used); nothing of rtpengine imports the
edge (:mod:`drivers.sip.edge`) or the media plane (:mod:`drivers.sip.media`).
"""
