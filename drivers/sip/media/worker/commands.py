"""A media worker's command dispatch: one handler per op of the control protocol.

:meth:`Commands.handle` checks a command against the protocol's table, runs its handler
(:data:`Commands.HANDLERS` names one per op) on the :class:`MediaAgent`, and answers
with exactly one :class:`Reply`: ``ok`` with the handler's result fields, or not ok with
a sentence (:class:`CommandFailed`, a pjsua2 error, an argument the op does not take,
or, logged with its traceback, anything else). A command never ends the worker.

Must not import the pump or anything asyncio; pjsua2 only through the agent's ``pj``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, ClassVar

from base.dtmf import DtmfDetector
from drivers.sip.media.link import FrameLink, check_link_path
from drivers.sip.media.pcm import PcmLink, check_pcm_path, pcm_media_format, pcm_port_class
from drivers.sip.media.protocol import Command, Reply, check_command
from drivers.sip.media.worker.legs import CommandFailed, Leg
from drivers.sip.media.worker.ua import MediaAgent

__all__ = ["Commands"]

Result = dict[str, Any] | None


class Commands:
    """The core's commands, carried out on one agent."""

    # op -> method name; every op of the protocol's COMMANDS table has one.
    HANDLERS: ClassVar[dict[str, str]] = {
        "answer": "answer",
        "ring": "ring",
        "reject": "reject",
        "dial": "dial",
        "bridge": "bridge",
        "unbridge": "unbridge",
        "play": "play",
        "stop_play": "stop_play",
        "record_start": "record_start",
        "record_stop": "record_stop",
        "send_dtmf": "send_dtmf",
        "hangup": "hangup",
        "transfer": "transfer",
        "stats": "stats",
        "pcm_bridge": "pcm_bridge",
        "pcm_unbridge": "pcm_unbridge",
        "pcm_leg": "pcm_leg",
        "link": "link",
        "unlink": "unlink",
        "reserve": "reserve",
        "release": "release",
        "shutdown": "shutdown",
    }

    def __init__(self, agent: MediaAgent, *, on_shutdown: Callable[[], None]) -> None:
        self.agent = agent
        self.pj = agent.pj
        self.legs = agent.legs
        self.log = agent.log
        self.on_shutdown = on_shutdown

    def handle(self, cmd: Command) -> Reply:
        """Carry out ``cmd``; its reply."""
        problem = check_command(cmd)
        if problem is not None:
            return Reply(cmd.id, False, problem, {})
        handler: Callable[..., Result] = getattr(self, self.HANDLERS[cmd.op])
        try:
            result = handler(**cmd.args)
        except CommandFailed as exc:
            reply = Reply(cmd.id, False, str(exc), {})
        except self.pj.Error as exc:
            reply = Reply(cmd.id, False, f"{cmd.op} failed: {str(exc.info(False)).strip()}", {})
        except TypeError as exc:  # an argument the op does not take
            reply = Reply(cmd.id, False, f"{cmd.op}: {exc}", {})
        except Exception as exc:
            self.log.exception("command_failed", op=cmd.op, id=cmd.id)
            reply = Reply(cmd.id, False, f"{cmd.op} failed: {type(exc).__name__}: {exc}", {})
        else:
            reply = Reply(cmd.id, True, None, result or {})
        self.log.debug("command", op=cmd.op, id=cmd.id)
        return reply

    # ------------------------------------------------------------ call control

    def answer(self, call: str) -> Result:
        leg = self.legs.leg(call)
        if leg.direction != "in":
            raise CommandFailed(f"{call} is an outgoing leg")
        prm = self.pj.CallOpParam(True)
        prm.statusCode = 200
        leg.call.answer(prm)
        leg.deadline = None
        return None

    def ring(self, call: str) -> Result:
        leg = self.legs.leg(call)
        if leg.direction != "in" or leg.answered:
            raise CommandFailed(f"{call} cannot ring")
        prm = self.pj.CallOpParam(True)
        prm.statusCode = 180
        leg.call.answer(prm)
        leg.deadline = time.monotonic() + self.agent.ring_timeout
        return None

    def reject(self, call: str, code: int) -> Result:
        leg = self.legs.leg(call)
        if leg.answered:
            raise CommandFailed(f"{call} is already answered: use hangup")
        self.agent.hangup(leg, code)
        return None

    def hangup(self, call: str, code: int | None = None) -> Result:
        self.agent.hangup(self.legs.leg(call), code)
        return None

    def dial(
        self,
        call: str,
        uri: str,
        from_user: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Result:
        if call in self.legs:
            raise CommandFailed(f"leg id {call!r} is in use")
        self.legs.room()
        self.legs.release()  # the leg itself keeps inbound calls away from now on
        classes = self.agent.classes
        assert classes is not None
        acc = self.agent.account(from_user)
        c = classes.call(acc)
        c.leg_id = call
        prm = self.pj.CallOpParam(True)
        for name, value in (headers or {}).items():
            h = self.pj.SipHeader()
            h.hName = name
            h.hValue = value
            prm.txOption.headers.append(h)
        leg = Leg(
            id=call, call=c, direction="out", created=time.monotonic(), account_key=from_user or ""
        )
        self.legs.add(leg)
        try:
            c.makeCall(uri, prm)
        except self.pj.Error:
            self.legs.remove(leg)
            raise
        return None

    def transfer(self, call: str, uri: str) -> Result:
        leg = self.legs.leg(call)
        if leg.modem:
            raise CommandFailed(f"{call} is a modem leg: no SIP call to transfer")
        if not leg.answered:
            raise CommandFailed(f"{call} is not answered")
        leg.call.xfer(uri, self.pj.CallOpParam(True))
        return None

    def send_dtmf(self, call: str, digits: str) -> Result:
        leg = self.legs.leg(call)
        if leg.modem:
            raise CommandFailed(f"{call} is a modem leg: no SIP call")
        if leg.port is None:
            raise CommandFailed(f"{call} has no active media")
        prm = self.pj.CallSendDtmfParam()
        prm.digits = digits
        prm.method = self.pj.PJSUA_DTMF_METHOD_RFC2833
        leg.call.sendDtmf(prm)
        return None

    # ------------------------------------------------------------ audio

    def bridge(self, a: str, b: str) -> Result:
        if a == b:
            raise CommandFailed("cannot bridge a leg with itself")
        la, lb = self.legs.leg(a), self.legs.leg(b)
        la.peers.add(b)
        lb.peers.add(a)
        self.agent.apply()
        return None

    def unbridge(self, a: str, b: str) -> Result:
        la, lb = self.legs.leg(a), self.legs.leg(b)
        la.peers.discard(b)
        lb.peers.discard(a)
        self.agent.apply()
        return None

    def play(self, call: str, file: str, loop: bool = False) -> Result:
        leg = self.legs.leg(call)
        if not os.path.isfile(file):
            raise CommandFailed(f"no such file {file!r}")
        if leg.player is not None:
            self.agent.drop_player(leg)
        if loop:  # hold music: every leg waiting to this file hears the same player
            player = self.agent.looping_player(file)
        else:
            classes = self.agent.classes
            assert classes is not None
            player = classes.player()
            player.createPlayer(file, self.pj.PJMEDIA_FILE_NO_LOOP)
        leg.player = player
        leg.player_loop = loop
        self.agent.apply()
        return None

    def stop_play(self, call: str) -> Result:
        leg = self.legs.leg(call)
        if leg.player is None:
            raise CommandFailed(f"{call} is not playing")
        self.agent.drop_player(leg)
        self.agent.apply()
        return None

    def record_start(self, call: str, path: str) -> Result:
        leg = self.legs.leg(call)
        if leg.recorder is not None:
            raise CommandFailed(f"{call} is already recording to {leg.record_path}")
        if not path.lower().endswith(".wav"):
            raise CommandFailed("recordings are WAV: the path must end in .wav")
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        rec = self.pj.AudioMediaRecorder()
        rec.createRecorder(path)
        leg.recorder = rec
        leg.record_path = path
        self.agent.apply()
        return None

    def record_stop(self, call: str) -> Result:
        leg = self.legs.leg(call)
        if leg.recorder is None:
            raise CommandFailed(f"{call} is not recording")
        return self.agent.stop_recording(leg)

    def stats(self, call: str) -> Result:
        leg = self.legs.leg(call)
        out: dict[str, Any] = {"answered": leg.answered, "media": leg.port is not None}
        if leg.pcm is not None:
            out["pcm"] = leg.pcm.link.stats()
        if leg.links:
            out["links"] = {key: port.link.stats() for key, port in leg.links.items()}
        if leg.port is not None and not leg.modem:
            try:
                st = leg.call.getStreamStat(0)
                out["rx_packets"] = int(st.rtcp.rxStat.pkt)
                out["tx_packets"] = int(st.rtcp.txStat.pkt)
                out["rx_lost"] = int(st.rtcp.rxStat.loss)
            except self.pj.Error:
                pass
        if leg.port is not None:
            media = self.agent.conference.media.get(leg.port)
            if media is not None:
                # pjsua2 names levels from the bridge's side: the call port's "tx" is
                # what the far end sends us, its "rx" what the bridge sends the far end.
                out["heard_level"] = int(media.getTxLevel())
                out["sent_level"] = int(media.getRxLevel())
        return out

    # ------------------------------------------------------------ GSM voice

    def _pcm_port(self, op: str, call: str, path: str, *, keys: bool = False) -> Any:
        problem = check_pcm_path(path)
        if problem is not None:
            raise CommandFailed(problem.replace("pcm_bridge", op, 1))
        try:
            link = PcmLink.open(path, keys=keys)
        except OSError as exc:
            raise CommandFailed(f"{op}: cannot open {path!r}: {exc.strerror}") from exc
        if self.agent.pcm_class is None:
            self.agent.pcm_class = pcm_port_class(self.pj)
        port = self.agent.pcm_class()
        port.link = link
        try:
            port.createPort(f"pcm-{call}"[:30], pcm_media_format(self.pj))
        except self.pj.Error:
            link.close()
            raise
        return port

    def pcm_bridge(self, call: str, path: str) -> Result:
        leg = self.legs.leg(call)
        if leg.pcm is not None:
            raise CommandFailed(f"{call} is already bridged with {leg.pcm.link.path}")
        leg.pcm = self._pcm_port("pcm_bridge", call, path)
        self.agent.apply()
        self.log.info("pcm_bridged", call=call, path=path, media=leg.port is not None)
        return {"path": path}

    def pcm_unbridge(self, call: str) -> Result:
        leg = self.legs.leg(call)
        if leg.modem:
            raise CommandFailed(f"{call} is a modem leg: hang it up")
        if leg.pcm is None:
            raise CommandFailed(f"{call} is not bridged with a PCM port")
        return self.agent.drop_pcm(leg)

    def pcm_leg(self, call: str, path: str) -> Result:
        """A leg that is the modem's PCM port: prompts, keys in band, bridges."""
        if call in self.legs:
            raise CommandFailed(f"leg id {call!r} is in use")
        self.legs.room()
        port = self._pcm_port("pcm_leg", call, path, keys=True)
        self.legs.release()  # the leg itself keeps inbound calls away from now on
        now = time.monotonic()
        leg = Leg(call, None, "modem", now, answered=True, pcm=port, keys=DtmfDetector())
        self.legs.add(leg)
        self.agent.conference.attach(leg, port)
        self.agent.apply()
        self.log.info("pcm_leg", call=call, path=path)
        return {"path": path}

    # ------------------------------------------------------------ links to other workers

    def link(self, call: str, link: str, local: str, remote: str) -> Result:
        leg = self.legs.leg(call)
        if link in leg.links:
            raise CommandFailed(f"{call} already has link {link!r}")
        for path in (local, remote):
            problem = check_link_path(path)
            if problem is not None:
                raise CommandFailed(problem)
        try:
            frames = FrameLink.open(local, remote)
        except OSError as exc:
            raise CommandFailed(f"link: cannot bind {local!r}: {exc.strerror}") from exc
        if self.agent.pcm_class is None:
            self.agent.pcm_class = pcm_port_class(self.pj)
        port = self.agent.pcm_class()
        port.link = frames
        try:
            port.createPort(f"link-{link}"[:30], pcm_media_format(self.pj))
        except self.pj.Error:
            frames.close()
            raise
        leg.links[link] = port
        self.agent.apply()
        self.log.info("linked", call=call, link=link, media=leg.port is not None)
        return None

    def unlink(self, call: str, link: str) -> Result:
        leg = self.legs.leg(call)
        if link not in leg.links:
            raise CommandFailed(f"{call} has no link {link!r}")
        return self.agent.drop_link(leg, link)

    # ------------------------------------------------------------ the worker itself

    def reserve(self, seconds: float = 5.0) -> Result:
        self.legs.reserve(seconds, time.monotonic())
        return None

    def release(self) -> Result:
        self.legs.release()
        return None

    def shutdown(self) -> Result:
        self.on_shutdown()
        return None
