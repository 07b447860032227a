"""The shell around a call's pure state machine: one actor per call (``call:<id>``).

It feeds each message to :func:`actors.call.decide`, then performs the effects in
order: media commands to the call's worker, journey entries and the call record
(durable writes, all awaited before the message is done, so a crash never acknowledges
what the store does not hold), agent events, timers from the injected clock, the modem.
Effects whose outcome the call needs come back as messages, handled in the same turn,
before the next message from outside.

Must not import driver internals: only ``drivers.sip`` and its media API.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any

import structlog

from actors.agent import AgentUnavailable
from actors.call import CallState, decide
from actors.call import effects as fx
from actors.call import messages as msg
from actors.callback import CallOutcome, CustomerAnswered
from actors.messages import CallEvent, JourneyEntry
from actors.router import ROUTER, GetItem
from actors.runtime import Actor, Registry
from actors.store import Put, Write
from base.clock import TimerHandle
from base.errors import ChannelUnavailable, ProtocolError, Rejected
from drivers.sip.media import ops
from switch.calls.records import CALL_NS, call_record, recording_path

if TYPE_CHECKING:
    from switch.calls.service import CallService

log = structlog.get_logger("calls")


class CallActor(Actor):
    __slots__ = ("log", "service", "state", "timers")

    def __init__(self, actor_id: str, registry: Registry, service: CallService) -> None:
        super().__init__(actor_id, registry)
        self.service = service
        call_id = actor_id.partition(":")[2]
        # Rebuilt after a crash from the last state it reached (the service keeps it).
        self.state: CallState | None = service.states.get(call_id)
        self.timers: dict[str, TimerHandle] = {}
        contact = self.state.contact_id if self.state else None
        self.log = log.bind(call_id=call_id, contact_id=contact)

    def idle(self) -> bool:
        return self.state is None or self.state.phase == "ended"

    async def handle(self, message: Any) -> Any:
        if self.state is None:
            self.log.debug("call_message_for_unknown_call", message=type(message).__name__)
            return None
        pending: deque[Any] = deque([message])
        while pending:
            current = pending.popleft()
            try:
                # a request the call refuses raises Rejected: the asker gets the 4xx
                state, effects = decide(self.state, current, self.service.clock.now())
            except ProtocolError as exc:
                self.log.info("call_event_ignored", message=type(current).__name__, error=str(exc))
                continue
            self.state = state
            self.service.states[state.id] = state
            durable: list[asyncio.Future[Any]] = []
            for effect in effects:
                pending.extend(await self._perform(effect, durable))
            if durable:
                await self._settle(durable)
        return self.state

    async def _settle(self, durable: list[asyncio.Future[Any]]) -> None:
        results = await asyncio.gather(*durable, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                self.log.error("call_record_failed", error=repr(result))
                raise result

    # ------------------------------------------------------------------ effects

    async def _perform(self, effect: fx.Effect, durable: list[asyncio.Future[Any]]) -> list[Any]:
        """Do one effect; the messages it reports back (none for most)."""
        state = self.state
        assert state is not None
        service = self.service
        match effect:
            case fx.Journey():
                durable.append(self._journey(state, effect))
                if effect.phase == "answered" and state.owner is not None:
                    self.registry.tell(state.owner, CustomerAnswered(state.id))
            case fx.IvrChoice(via=via, text=text):
                entry = JourneyEntry(
                    "voice",
                    "ivr_choice",
                    service.clock.now(),
                    {"text": text, "via": via, "call_id": state.id},
                )
                durable.append(self.registry.ask_nowait(f"contact:{state.contact_id}", entry))
                self.log.info("ivr_choice", via=via, text=text)
            case fx.Save():
                record = call_record(state, service.recordings)
                put = Put(CALL_NS, state.id, record)
                durable.append(service.core.store.submit(Write(puts=(put,))))
            case fx.SetTimer(name=name, delay=delay, token=token):
                old = self.timers.pop(name, None)
                if old is not None:
                    old.cancel()
                self.timers[name] = self.registry.schedule(
                    self.actor_id, delay, msg.TimerFired(name, token)
                )
            case fx.CancelTimer(name=name):
                handle = self.timers.pop(name, None)
                if handle is not None:
                    handle.cancel()
            case fx.Log(event=event, fields=fields):
                self.log.info(event, **fields)
            case fx.JoinQueue(queue=queue, skill=skill, queued_at=queued_at):
                await service.queues.join(state, queue, skill, queued_at)
            case fx.LeaveQueue(reason=reason):
                await service.queues.leave(state.id, reason)
            case fx.QueueAccept(agent=agent):
                await service.queues.accept(state.id, agent)
            case fx.QueueDecline(agent=agent, reason=reason):
                service.queues.decline(state.id, agent, reason)
            case fx.QueryQueue():
                item = await self.registry.ask(ROUTER, GetItem(state.id))
                if item is None:
                    return []
                return [msg.QueueStatus(item.get("position"), item.get("expected_wait"))]
            case fx.RingAgent(agent=agent):
                try:
                    await service.router.event(agent, "ring", state.id)
                except AgentUnavailable:
                    return [msg.AgentBusy(agent)]
                return [msg.AgentRung(agent)]
            case fx.AgentEvent(agent=agent, event=event):
                await service.router.event(agent, event, state.id)
            case fx.AgentLeaves(agent=agent):
                await service.router.event(
                    agent, "hangup", state.id, wrap_up=service.queues.wrap_up(state.queue)
                )
            case fx.ReserveWorker():
                worker = await service.pool.reserve()
                if worker is None:
                    return [msg.NoWorkerFree()]
                return [msg.WorkerReserved(worker)]
            case fx.ReleaseWorker():
                if state.worker is not None:
                    await service.pool.release(state.worker)
            case fx.ModemPickUp():
                return [await self._modem_pick_up()]
            case fx.ModemHangup():
                await self._modem_hangup()
            case fx.ModemDial():
                return await self._modem_dial(state)
            case fx.Done():
                self._done(state)
            case _:
                return await self._media(state, effect)
        return []

    def _journey(self, state: CallState, effect: fx.Journey) -> asyncio.Future[Any]:
        recording = None
        if effect.phase == "ended" and state.recording:
            recording = str(recording_path(self.service.recordings, state.id))
        event = CallEvent(
            state.id,
            effect.phase,
            self.service.clock.now(),
            via=state.via,
            direction=state.direction,
            agent=effect.agent,
            cause=effect.cause,
            number=state.number,
            recording=recording,
            recording_seconds=effect.recording_seconds,
            target=effect.target,
            note=effect.note,
        )
        return self.registry.ask_nowait(f"contact:{state.contact_id}", event)

    async def _media(self, state: CallState, effect: Any) -> list[Any]:
        service = self.service
        gsm = service.gsm.get(state.id)
        try:
            command = service.media.command(
                state.id, effect, audio_port=gsm.audio_port if gsm else None
            )
        except Rejected as exc:  # a number the trunk cannot take
            self.log.warning("call_command_refused", effect=repr(effect), error=exc.message)
            return _failed(effect, exc.message)
        if command is None:
            if isinstance(effect, fx.Play) and not effect.loop:
                return [msg.PlayFinished(effect.leg)]  # no such prompt: as if it had played
            return _failed(effect, "nothing to send")
        if isinstance(command, ops.Dial | ops.PcmLeg):
            service.own_leg(command.leg, state.id)
        if state.worker is None:
            return _failed(effect, "no media worker")
        self.log.debug("worker_command", worker=state.worker, command=repr(command))
        try:
            # to the worker of its leg(s); a dial near the call's worker (where there is room)
            await service.pool.run(command, near=state.worker)
        except (ChannelUnavailable, ProtocolError, Rejected, OSError) as exc:
            self.log.warning("worker_command_failed", op=command.op, error=repr(exc))
            return _failed(effect, str(exc))
        if isinstance(effect, fx.PcmBridge | fx.ModemLeg):
            return [msg.BridgeDone(effect.leg)]
        return []

    async def _modem_pick_up(self) -> Any:
        gsm = self.service.gsm.get(self.actor_id.partition(":")[2])
        if gsm is None or gsm.line is None:
            return msg.ModemPickupFailed("no modem line")
        try:
            await gsm.line.answer()
        except ChannelUnavailable as exc:  # the caller gave up a moment ago
            return msg.ModemPickupFailed(str(exc))
        return msg.ModemPickedUp()

    async def _modem_hangup(self) -> None:
        gsm = self.service.gsm.get(self.actor_id.partition(":")[2])
        if gsm is None or gsm.line is None:
            return
        try:
            await gsm.line.hangup()
        except ChannelUnavailable as exc:
            self.log.warning("gsm_hangup_failed", error=str(exc))

    async def _modem_dial(self, state: CallState) -> list[Any]:
        """The customer is behind a modem: ATD; its answer comes as ModemAnswered."""
        service = self.service
        dialer = service.dialer()
        if dialer is None:
            return [msg.ModemDialFailed("dial_failed")]
        gsm_call = f"{state.via}-{state.id}"
        try:
            line, port = dialer.voice_line(state.via)
            service.gsm[state.id] = service.gsm_side(state.via, gsm_call, line, port, state.id)
            await dialer.dial_call(state.via, gsm_call, state.number)
        except (ChannelUnavailable, Rejected) as exc:
            service.forget_gsm(state.id)
            reason = exc.code if isinstance(exc, Rejected) else "dial_failed"
            self.log.warning("gsm_dial_failed", modem_id=state.via, error=str(exc))
            return [msg.ModemDialFailed(reason)]
        self.log.info("gsm_call_dialing", modem_id=state.via, agent=state.agent)
        return []

    def _done(self, state: CallState) -> None:
        for handle in self.timers.values():
            handle.cancel()
        self.timers.clear()
        self.service.call_done(state)
        if state.owner is not None:
            outcome = CallOutcome(
                state.id,
                agent_answered=state.agent_answered,
                customer_answered=state.answered_at is not None,
                cause=state.cause or "normal",
            )
            self.registry.tell(state.owner, outcome)


def _failed(effect: Any, error: str) -> list[Any]:
    """The message a failed media effect reports (most report nothing)."""
    if isinstance(effect, fx.DialAgent | fx.DialNumber):
        return [msg.DialFailed(effect.leg, error)]
    if isinstance(effect, fx.PcmBridge | fx.ModemLeg):
        return [msg.BridgeFailed(effect.leg, error)]
    if isinstance(effect, fx.PlayParts) or (isinstance(effect, fx.Play) and not effect.loop):
        return [msg.PlayFinished(effect.leg)]  # nothing to hear: the call goes on at once
    return []
