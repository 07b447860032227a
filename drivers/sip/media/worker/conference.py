"""A media worker's conference bridge: which audio ports should hear which, and the diff
that makes it so.

The wanted connections are a function of the legs' state (:func:`wanted_connections`):
a leg and each bridged peer hear each other, a player is heard by its leg (one looping
player may feed many legs), a PCM port and its leg hear each other, so do a link's port
(a leg of another worker) and its leg, a recorder hears the leg, its peers, its player,
its PCM port and its links (the mix of the conversation), and a modem leg listening
for keys is heard by the ``sink`` (the null sound device: the bridge only reads a port
that something hears, and the keys are found in what it reads). :class:`Conference`
remembers what it applied and, after every change, applies only the difference
(``startTransmit`` / ``stopTransmit``). A conference slot that went away took its
connections with it: they are forgotten, never touched.

Knows pjsua2 only through the objects and the module it is given; must not import the
agent, the commands or the pump.
"""

from __future__ import annotations

from typing import Any

from drivers.sip.media.worker.legs import Leg, Legs

__all__ = ["Conference", "wanted_connections"]

Connections = set[tuple[int, int]]


def wanted_connections(
    legs: Legs, media: dict[int, Any], sink: Any = None
) -> tuple[Connections, dict[int, Any]]:
    """The conference connections the legs' state asks for, and the port objects by slot
    (each object has ``getPortId()``)."""
    wanted: Connections = set()
    objs: dict[int, Any] = {}

    def connect(src: Any, dst: Any) -> None:
        s, d = int(src.getPortId()), int(dst.getPortId())
        objs[s], objs[d] = src, dst
        wanted.add((s, d))

    for leg in legs:
        mine = media.get(leg.port) if leg.port is not None else None
        peers = [
            media[p.port]
            for p in (legs.get(pid) for pid in leg.peers)
            if p is not None and p.port is not None and p.port in media
        ]
        if mine is not None:
            for peer_media in peers:
                connect(mine, peer_media)
            if leg.player is not None:
                connect(leg.player, mine)
            if leg.keys is not None and sink is not None:
                connect(mine, sink)
            if leg.pcm is not None and leg.pcm is not mine:  # modem <-> leg (a modem leg's
                # audio is its PCM port itself)
                connect(mine, leg.pcm)
                connect(leg.pcm, mine)
            for port in leg.links.values():  # the leg of another worker, both ways
                connect(mine, port)
                connect(port, mine)
        if leg.recorder is not None:
            sources = [*peers]
            if mine is not None:
                sources.append(mine)
                if leg.player is not None:
                    sources.append(leg.player)
                if leg.pcm is not None:
                    sources.append(leg.pcm)
                sources.extend(leg.links.values())
            for src in sources:
                connect(src, leg.recorder)
    return wanted, objs


class Conference:
    """The connections applied to the bridge, and each leg's audio port."""

    def __init__(self, pj: Any, log: Any) -> None:
        self.pj = pj
        self.log = log
        self.sink: Any = None  # the null sound device's port, once the endpoint runs
        self.media: dict[int, Any] = {}  # conference slot -> a leg's AudioMedia
        self.connections: Connections = set()
        self.port_objs: dict[int, Any] = {}  # slot -> object, for the applied connections

    def attach(self, leg: Leg, media: Any) -> None:
        """``media`` is the leg's audio from now on."""
        leg.port = int(media.getPortId())
        self.media[leg.port] = media

    def detach(self, leg: Leg) -> None:
        """The leg's audio port is gone (or about to be)."""
        if leg.port is None:
            return
        port, leg.port = leg.port, None
        self.media.pop(port, None)
        self.port_objs.pop(port, None)
        # The slot may be gone or reused: forget its connections without touching them.
        self.connections = {(s, d) for s, d in self.connections if port not in (s, d)}

    def apply(self, legs: Legs) -> None:
        """Make the bridge's connections what the legs ask for."""
        wanted, objs = wanted_connections(legs, self.media, self.sink)
        known = {**self.port_objs, **objs}
        for src_port, dst_port in self.connections - wanted:
            src, dst = known.get(src_port), known.get(dst_port)
            if src is None or dst is None:
                continue  # a slot that is gone took its connections with it
            try:
                src.stopTransmit(dst)
            except self.pj.Error as exc:
                self.log.warning(
                    "disconnect_failed", src=src_port, dst=dst_port, error=exc.info(False)
                )
        for src_port, dst_port in wanted - self.connections:
            try:
                objs[src_port].startTransmit(objs[dst_port])
            except self.pj.Error as exc:
                self.log.warning(
                    "connect_failed", src=src_port, dst=dst_port, error=exc.info(False)
                )
        self.connections = wanted
        self.port_objs = objs

    def clear(self) -> None:
        """Drop every pjsua2 object held (before ``libDestroy``)."""
        self.sink = None
        self.media.clear()
        self.port_objs.clear()
