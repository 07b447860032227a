"""Voice calls as a channel of the switch: the core side of Kamailio + media workers.

The core decides; workers execute. Every conversation lives in one media worker (the
caller's leg arrives there through Kamailio's dispatcher; agent and customer legs are
dialled from the same worker so it can bridge them locally).

Inbound from a trunk: find the caller's contact (E.164), record ``call_started``, answer,
play the greeting (a DTMF digit picks a skill from ``[sip].menu``), hold music while the
available agents are rung one after another, longest idle first, each for
``ring_timeout`` seconds; the first to answer is bridged (``call_answered`` with the
agent's id). Either side hanging up ends the other (``call_ended`` with the cause).

From an agent phone: the dialled number goes out through a trunk chosen by prefix;
click-to-call (API) rings the agent first, then the customer.

Transfer (API) of an answered call: to another agent, the same worker rings the target's
phone while the customer stays bridged with the current agent; when the target answers
the customer is re-bridged to the target and the previous agent's leg hung up
(``transferred`` in the journey). Not answered within ``ring_timeout``: the original
bridge stays. To an outside number (blind): the agent is released at once, the customer
hears hold music while the number is dialled through its trunk from the same worker. If
a blind transfer fails, an inbound customer goes back to the agents' queue and an
outbound call ends (``transfer_failed``).

GSM (``gsm_incoming``, from the modems' service): an incoming call on a modem with a
voice port gets a reserved worker, which rings the agents exactly as for a trunk call
(the modem keeps ringing the caller meanwhile). When an agent answers, the modem answers
(ATA) and the worker bridges the agent's leg with the modem's PCM port (``pcm_bridge``);
either side hanging up ends the other. Nobody available: the caller keeps hearing ring
back until they (or their network) give up. Between ring attempts the call holds no leg,
so the worker is reserved again before each one (another may be picked).

Outgoing GSM (``choose_route`` picked a modem): the modem dials (ATD, one call per
modem) once the agent's leg exists (dial-out) or has answered (click-to-call); the
modem's answer bridges the agent's leg with its PCM port; the network's busy/no answer
ends the agent's leg with that cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import structlog
from fastapi import APIRouter

from actors.agent import AgentEvent, GetAgent
from actors.agent_state import AgentState, ring_order
from actors.messages import CallEvent
from base.errors import ChannelUnavailable, ConfigError, Rejected
from drivers.sip import (
    KamailioSupervisor,
    TrunkSettings,
    WorkerPool,
    from_provider,
    sip_options,
    to_provider,
    uri_user,
)
from switch.call_model import (
    MODEM_FAILURES,
    Call,
    GsmDialer,
    GsmLine,
    Transfer,
    check_row,
    header_value,
    refusal_code,
    sip_cause,
    sound_path,
    transfer_detail,
)
from switch.config import AgentConfig
from switch.core import Core
from switch.metrics import CALLS_ACTIVE, CALLS_TOTAL
from switch.phone import phone_identity
from switch.settings import agent_phone, edge_settings, trunk_settings

log = structlog.get_logger("calls")

CALL_NS = "call"
WRAP_UP_SECONDS = 3.0
QUEUE_RETRY_SECONDS = 2.0
GREETING_WAIT_SECONDS = 5.0  # from the answer: greeting + time to press a digit
OPTIONS_TIMEOUT = 3.0  # trunk test: the provider's answer to one SIP OPTIONS
TEST_CALL_TIMEOUT = 30.0  # trunk test: the test call's answer


class CallService:
    name = "calls"

    def __init__(self, core: Core) -> None:
        self.core = core
        config = core.config
        assert config.sip is not None
        self.sip = config.sip
        self.trunks: dict[str, TrunkSettings] = {t.id: trunk_settings(t) for t in config.trunks}
        self.agents_cfg: dict[str, AgentConfig] = {a.id: a for a in config.agents}
        self.agent_by_user = {a.sip_user: a.id for a in config.agents if a.sip_user}
        self.calls: dict[str, Call] = {}
        self.leg_owner: dict[str, str] = {}
        data_dir = Path(config.store.path).parent
        self.rundir = data_dir / "sip"
        self.recordings = Path(self.sip.recordings)
        self.kamailio = KamailioSupervisor(
            edge_settings(self.sip),
            list(self.trunks.values()),
            [agent_phone(a) for a in config.agents],
            rundir=self.rundir,
        )
        socket_dir = (self.rundir / "w").resolve()
        if len(str(socket_dir)) > 80:  # Unix socket paths are limited to 108 bytes
            socket_dir = Path(tempfile.mkdtemp(prefix="switch-w-"))
        self.pool = WorkerPool(
            self.sip.workers,
            socket_dir=socket_dir,
            proxy=self.sip.listen,
            sip_port_base=self.sip.worker_port_base,
            rtp_port_base=self.sip.rtp_port_base,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self.greeting = sound_path(self.sip.greeting)
        self.hold_music = sound_path(self.sip.hold_music)
        self._test_legs: dict[str, asyncio.Future[tuple[str, dict[str, Any]]]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._recording_of: dict[str, Call] = {}
        self.gsm_calls: dict[str, str] = {}  # driver call id -> call id
        self.modem_calls: dict[str, str] = {}  # modem id -> the outgoing call that has it
        self._lanes: dict[int, asyncio.Queue[Any]] = {}
        # held from reading the agents' states to marking the chosen one ringing, so two
        # calls never pick the same free agent
        self._agent_pick = asyncio.Lock()

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        self.rundir.mkdir(parents=True, exist_ok=True)
        if self.sip.record_calls:
            self.recordings.mkdir(parents=True, exist_ok=True)
        for name, path in (("sip.greeting", self.greeting), ("sip.hold_music", self.hold_music)):
            if path is not None and not Path(path).is_file():
                raise ConfigError([(name, f"no such sound file: {path}")])
        await self.pool.start()
        await self.kamailio.start()
        self._tasks = [
            asyncio.create_task(self._events(), name="calls:events"),
            asyncio.create_task(self._watch_registrations(), name="calls:registrations"),
        ]
        log.info("calls_started", workers=self.sip.workers, edge=self.sip.listen)

    async def stop(self) -> None:
        # End live calls while the event loop still runs (recordings report back).
        for call in list(self.calls.values()):
            await self._finish(call, "switch_shutdown", hangup=True)
        if self._background:  # journey entries waiting for their recordings
            await asyncio.wait(self._background, timeout=10)
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.kamailio.stop()
        await self.pool.stop()

    def routers(self) -> list[APIRouter]:
        from switch.api.calls import call_routers

        return call_routers()

    # ------------------------------------------------------- registrations

    async def _watch_registrations(self) -> None:
        while True:
            try:
                contacts = await self.kamailio.registered_contacts()
            except Exception as exc:
                log.warning("registrations_unavailable", error=repr(exc))
                contacts = None
            if contacts is not None:
                for user, agent_id in self.agent_by_user.items():
                    state = await self._agent(agent_id)
                    registered = bool(contacts.get(user))
                    if registered and state.status == "offline":
                        await self._agent_event(agent_id, "registered")
                    elif not registered and state.status != "offline":
                        await self._agent_event(agent_id, "unregistered")
            await asyncio.sleep(1.0)

    # ----------------------------------------------------------------- agents

    async def _agent(self, agent_id: str) -> AgentState:
        state: AgentState = await self.core.registry.ask(f"agent:{agent_id}", GetAgent())
        return state

    async def _agent_event(
        self, agent_id: str, event: str, call_id: str | None = None
    ) -> AgentState:
        state: AgentState = await self.core.registry.ask(
            f"agent:{agent_id}", AgentEvent(event, self.core.clock.now(), call_id)
        )
        return state

    async def _agent_states(self) -> list[AgentState]:
        return [await self._agent(agent_id) for agent_id in self.agents_cfg]

    async def _agents_on_call(self, call: Call, status: str) -> list[str]:
        return [
            a.agent_id
            for a in await self._agent_states()
            if a.current_call == call.id and a.status == status
        ]

    # ----------------------------------------------------------------- events

    async def _events(self) -> None:
        """Deal the workers' events into one lane per worker; it must never die.

        A worker carries one conversation, so its events are handled strictly in order
        in its lane, while conversations on different workers proceed concurrently (one
        call waiting for a commit or a worker's reply never holds up the others)."""
        while True:
            worker, event = await self.pool.events.get()
            lane = self._lanes.get(worker)
            if lane is None:
                lane = self._lanes[worker] = asyncio.Queue()
                self._tasks.append(
                    asyncio.create_task(self._lane(worker, lane), name=f"calls:lane{worker}")
                )
            lane.put_nowait(event)

    async def _lane(self, worker: int, lane: asyncio.Queue[Any]) -> None:
        while True:
            event = await lane.get()
            try:
                await self._on_event(worker, event.name, dict(event.args))
            except Exception as exc:  # one bad event must not stop the call plane
                log.error(
                    "call_event_failed",
                    worker=worker,
                    worker_event=event.name,
                    error=repr(exc),
                    exc_info=exc,
                )

    async def _on_event(self, worker: int, name: str, data: dict[str, Any]) -> None:
        leg = str(data.get("call", ""))
        waiter = self._test_legs.get(leg)
        if waiter is not None:
            if name in ("answered", "ended") and not waiter.done():
                waiter.set_result((name, data))
            return
        if name == "incoming":
            await self._incoming(worker, leg, data)
            return
        call_id = self.leg_owner.get(leg)
        call = self.calls.get(call_id) if call_id else None
        if call is None:
            if name == "record_done":
                self._record_done(data)
            return
        if name == "answered":
            call.answered_legs.add(leg)
            await self._answered(call, leg)
        elif name == "ended":
            call.legs.discard(leg)
            self.leg_owner.pop(leg, None)
            await self._leg_ended(call, leg, data)
        elif name == "dtmf":
            await self._dtmf(call, leg, str(data.get("digit", "")))
        elif name == "play_done" and call.waiting_greeting and leg == call.caller_leg:
            # Greeting over; the menu digit may still come until the greeting timer.
            if self.hold_music:
                await self._cmd(call, "play", call=leg, file=self.hold_music, loop=True)
        elif name == "record_done" and call.record_done and not call.record_done.done():
            call.record_done.set_result((str(data.get("path")), float(data.get("duration", 0))))

    def _record_done(self, data: dict[str, Any]) -> None:
        leg = str(data.get("call", ""))
        call = self._recording_of.get(leg)
        log.info("recording_done", leg=leg, path=data.get("path"), duration=data.get("duration"))
        if call is not None and call.record_done is not None and not call.record_done.done():
            call.record_done.set_result((str(data.get("path")), float(data.get("duration", 0))))

    async def _cmd(self, owner: Call, op: str, /, **args: Any) -> dict[str, Any] | None:
        """Send a command to the call's worker; None (logged) when it fails."""
        log.debug("worker_command", call_id=owner.id, worker=owner.worker, op=op, args=args)
        try:
            reply: dict[str, Any] = await self.pool.command(owner.worker, op, **args)
        except Exception as exc:
            log.warning("worker_command_failed", call_id=owner.id, op=op, error=repr(exc))
            return None
        log.debug("worker_reply", call_id=owner.id, op=op, reply=reply)
        return reply

    def _new_leg(self, call: Call, tag: str) -> str:
        call.leg_seq += 1  # never reused, even when a ring round starts over
        leg = f"{call.id}-{tag}{call.leg_seq}"
        call.legs.add(leg)
        self.leg_owner[leg] = call.id
        return leg

    async def _incoming(self, worker: int, leg: str, data: dict[str, Any]) -> None:
        headers = {str(k): str(v) for k, v in dict(data.get("headers") or {}).items()}
        origin = header_value(headers, "X-Switch-Origin") or ""
        kind, _, params = origin.partition(";")
        attrs = dict(p.split("=", 1) for p in params.split(";") if "=" in p)
        if kind == "trunk" and attrs.get("id") in self.trunks:
            await self._incoming_trunk(worker, leg, data, self.trunks[attrs["id"]])
        elif kind == "agent" and attrs.get("user") in self.agent_by_user:
            await self._incoming_agent(worker, leg, data, self.agent_by_user[attrs["user"]])
        else:
            log.warning("incoming_unknown_origin", worker=worker, origin=origin)
            await self.pool.command(worker, "reject", call=leg, code=403)

    async def _open_call(
        self,
        worker: int,
        direction: str,
        number_raw: str,
        via: str,
        kind: str,
        *,
        record: bool = True,
        agent: str | None = None,
        route: str = "trunk",
    ) -> Call:
        try:
            number = self.core.normalize(number_raw)
            identity = phone_identity(number)
        except Rejected:
            number = number_raw or "anonymous"
            identity = f"sip:{number}"
        contact_id = await self.core.directory.contact_for(identity)
        call = Call(
            id="c" + secrets.token_hex(6),
            worker=worker,
            direction=direction,
            contact_id=contact_id,
            number=number,
            via=via,
            started_at=self.core.clock.now(),
            kind=kind,
            agent=agent,
            route=route,
        )
        self.calls[call.id] = call
        CALLS_ACTIVE.set(len(self.calls))
        CALLS_TOTAL.labels(direction).inc()
        if record:
            await self._record_start(call)
        return call

    def _record_start(self, call: Call) -> asyncio.Future[tuple[None, None]]:
        """Commit ``started`` in the journey and the call record, concurrently. Both
        tasks are scheduled now: after one loop turn 'started' is in the contact's
        mailbox, ahead of anything the caller does next."""
        journey = asyncio.ensure_future(self._journey(call, "started"))
        saved = asyncio.ensure_future(self._save(call))
        return asyncio.gather(journey, saved)

    async def _incoming_trunk(
        self, worker: int, leg: str, data: dict[str, Any], trunk: TrunkSettings
    ) -> None:
        caller_user = uri_user(str(data.get("from", ""))) or ""
        caller = from_provider(caller_user, trunk, self.core.config.numbers.default_region)
        call = await self._open_call(
            worker, "in", caller or caller_user, trunk.id, "inbound", record=False
        )
        call.caller_leg = leg
        call.legs.add(leg)
        self.leg_owner[leg] = call.id
        log.info("call_incoming", call_id=call.id, contact_id=call.contact_id, trunk=trunk.id)
        # The caller is answered while 'started' is being committed (the caller waits for
        # neither); 'started' is in the contact's mailbox first, so the journey keeps order.
        started = self._record_start(call)
        await asyncio.sleep(0)  # the journey task's first step enqueues 'started'
        await self._cmd(call, "answer", call=leg)
        try:
            await started
        except Exception:
            await self._cmd(call, "hangup", call=leg)
            raise
        if self.greeting:
            call.waiting_greeting = True
            await self._cmd(call, "play", call=leg, file=self.greeting, loop=False)
            loop = asyncio.get_running_loop()
            loop.call_later(GREETING_WAIT_SECONDS, self._greeting_timeout, call.id)
        else:
            await self._start_ringing(call)

    def _greeting_timeout(self, call_id: str) -> None:
        call = self.calls.get(call_id)
        if call is not None and call.waiting_greeting:
            call.waiting_greeting = False
            self._spawn(self._start_ringing(call))

    async def _dtmf(self, call: Call, leg: str, digit: str) -> None:
        log.info("call_dtmf", call_id=call.id, digit=digit)
        if leg == call.caller_leg and call.waiting_greeting:
            call.waiting_greeting = False
            call.skill = self.sip.menu.get(digit)
            await self._start_ringing(call)

    async def _start_ringing(self, call: Call) -> None:
        if call.ended or call.state != "ringing":
            return
        if self.hold_music and call.caller_leg:
            await self._cmd(call, "play", call=call.caller_leg, file=self.hold_music, loop=True)
        await self._ring_next(call)

    async def _ring_next(self, call: Call) -> None:
        if call.ended or call.state != "ringing":
            return
        async with self._agent_pick:
            agent_id = await self._pick_agent(call)
        if agent_id is not None:
            await self._dial_agent(call, agent_id)

    async def _pick_agent(self, call: Call) -> str | None:
        """The next agent to ring, already marked ringing; None when there is none now."""
        skills = {a.id: a.skills for a in self.agents_cfg.values()}
        states = await self._agent_states()
        candidates = [
            a
            for a in ring_order(states, {call.skill} if call.skill else None, skills)
            if a.agent_id not in call.tried
        ]
        if not candidates:
            call.tried.clear()  # everyone was tried: start over when someone is free
            if call.reserved:  # a GSM call holds no leg while it waits: free the worker
                call.reserved = False
                await self.pool.release(call.worker)
            asyncio.get_running_loop().call_later(
                QUEUE_RETRY_SECONDS, lambda: self._spawn(self._ring_next(call))
            )
            return None
        agent = candidates[0]
        if call.kind == "gsm" and not call.legs and not await self._gsm_worker(call):
            asyncio.get_running_loop().call_later(
                QUEUE_RETRY_SECONDS, lambda: self._spawn(self._ring_next(call))
            )
            return None
        call.tried.add(agent.agent_id)
        await self._agent_event(agent.agent_id, "ring", call.id)
        return agent.agent_id

    async def _dial_agent(self, call: Call, agent_id: str) -> None:
        leg = self._new_leg(call, "a")
        call.agent_leg = leg
        user = self.agents_cfg[agent_id].sip_user
        log.info("call_ringing_agent", call_id=call.id, agent=agent_id)
        call.reserved = False  # the dial consumes the reservation
        reply = await self._cmd(
            call, "dial", call=leg, uri=f"sip:{user}@{self.sip.listen}", from_user=call.number
        )
        if reply is None:
            call.legs.discard(leg)
            self.leg_owner.pop(leg, None)
            await self._agent_no_answer(call, leg)
            return
        call.ring_timer = asyncio.get_running_loop().call_later(
            self.sip.ring_timeout, lambda: self._spawn(self._ring_timeout(call, leg))
        )

    async def _ring_timeout(self, call: Call, leg: str) -> None:
        if call.agent_leg == leg and call.state == "ringing" and not call.ended:
            log.info("call_ring_timeout", call_id=call.id, agent=call.agent_leg)
            await self._cmd(call, "hangup", call=leg)

    async def _agent_no_answer(self, call: Call, leg: str) -> None:
        if call.agent_leg != leg:
            return
        call.agent_leg = None
        for agent_id in await self._agents_on_call(call, "ringing"):
            await self._agent_event(agent_id, "no_answer")
        await self._ring_next(call)

    async def _agent_took(self, call: Call) -> str | None:
        """The rung agent answered: stop the ring timer, mark her answered, the call
        answered by her; her id (None if nobody was ringing any more)."""
        if call.ring_timer:
            call.ring_timer.cancel()
        ringing = await self._agents_on_call(call, "ringing")
        agent_id = ringing[0] if ringing else None
        if agent_id:
            await self._agent_event(agent_id, "answered", call.id)
        call.agent = agent_id
        call.state = "answered"
        return agent_id

    async def _answered(self, call: Call, leg: str) -> None:
        xfer = call.transfer
        if xfer is not None and xfer.state == "ringing" and leg == xfer.leg:
            await self._transfer_answered(call, xfer)
            return
        if call.kind == "inbound" and leg == call.agent_leg and call.state == "ringing":
            agent_id = await self._agent_took(call)
            assert call.caller_leg is not None
            if self.hold_music or self.greeting:
                await self._cmd(call, "stop_play", call=call.caller_leg)
            await self._cmd(call, "bridge", a=call.caller_leg, b=leg)
            await self._start_recording(call, call.caller_leg)
            if call.requeued_from is not None:
                # Back from a failed blind transfer: the journey shows who took it over.
                previous, call.requeued_from = call.requeued_from, None
                await self._journey(call, "transferred", agent=previous, target=agent_id)
            else:
                await self._journey(call, "answered")
            await self._save(call)
        elif call.kind == "gsm" and leg == call.agent_leg and call.state == "ringing":
            await self._gsm_answered(call, leg)
        elif call.kind == "click" and leg == call.caller_leg:
            # the agent picked up: now call the customer
            await self._dial_customer(call)
        elif call.kind in ("agent_out", "click") and leg == call.customer_leg:
            call.state = "answered"
            if call.kind == "agent_out" and call.caller_leg:
                await self._cmd(call, "answer", call=call.caller_leg)
            assert call.caller_leg is not None
            await self._cmd(call, "bridge", a=call.caller_leg, b=leg)
            await self._start_recording(call, leg)
            await self._journey(call, "answered")
            await self._save(call)

    async def _start_recording(self, call: Call, leg: str) -> None:
        if not self.sip.record_calls or call.record_done is not None:
            return  # (a call back in the queue after a failed transfer: still recording)
        path = (self.recordings / f"{call.id}.wav").resolve()
        call.recording = str(path)
        call.record_done = asyncio.get_running_loop().create_future()
        await self._cmd(call, "record_start", call=leg, path=str(path))

    async def _leg_ended(self, call: Call, leg: str, data: dict[str, Any]) -> None:
        code = data.get("code")
        reason = str(data.get("reason") or "")
        if reason == "worker_died":
            await self._finish(call, "worker_died", hangup=True)
            return
        xfer = call.transfer
        if xfer is not None and xfer.state == "ringing":
            if leg == xfer.leg:
                await self._transfer_failed(call, xfer, transfer_detail(xfer, code, reason))
                return
            if leg == call.agent_side and not xfer.blind:
                # The agent hung up while the target rings: the transfer goes on blind.
                await self._release_agent(call, xfer, hangup=False)
                return
        if call.kind == "gsm":
            if leg == call.agent_leg and call.state == "ringing":
                if call.ring_timer:
                    call.ring_timer.cancel()
                await self._agent_no_answer(call, leg)
            elif leg == call.agent_leg:
                call.pcm_bridged = False  # the worker let go of the port with the leg
                await self._finish(call, "agent_hangup", hangup=True)
            return
        if call.kind == "inbound":
            if leg == call.caller_leg:
                await self._finish(call, "caller_hangup", hangup=True)
            elif leg == call.agent_leg and call.state == "ringing":
                if call.ring_timer:
                    call.ring_timer.cancel()
                await self._agent_no_answer(call, leg)
            elif leg == call.agent_leg:
                await self._finish(
                    call, "agent_hangup" if call.agent else "target_hangup", hangup=True
                )
            return
        # outbound / click-to-call
        if leg == call.caller_leg and leg == call.pcm_leg:
            call.pcm_bridged = False  # the worker let go of the modem's port with the leg
        if leg == call.customer_leg:
            cause = "customer_hangup" if call.state == "answered" else sip_cause(code, reason)
            await self._finish(call, cause, hangup=True, reject_code=code)
        elif leg == call.caller_leg:
            await self._finish(call, "agent_hangup" if call.agent else "target_hangup", hangup=True)

    async def _finish(
        self, call: Call, cause: str, *, hangup: bool, reject_code: Any = None
    ) -> None:
        if call.ended:
            return
        call.ended = True
        if call.ring_timer:
            call.ring_timer.cancel()
        if call.transfer is not None and call.transfer.timer is not None:
            call.transfer.timer.cancel()
        recorded_leg = call.recorded_leg
        if call.record_done is not None and recorded_leg in call.legs:
            await self._cmd(call, "record_stop", call=recorded_leg)
        if call.pcm_bridged and call.pcm_leg in call.legs:
            call.pcm_bridged = False
            await self._cmd(call, "pcm_unbridge", call=call.pcm_leg)
        for leg in list(call.legs):
            if hangup:
                if call.kind == "agent_out" and leg == call.caller_leg and call.state == "ringing":
                    code = refusal_code(reject_code)
                    await self._cmd(call, "reject", call=leg, code=code)
                else:
                    await self._cmd(call, "hangup", call=leg)
            self.leg_owner.pop(leg, None)
        call.legs.clear()
        if call.kind == "gsm" or call.route == "modem":
            await self._gsm_close(call, cause)
        if call.route == "modem" and self.modem_calls.get(call.via) == call.id:
            del self.modem_calls[call.via]
        for agent in await self._agent_states():
            if agent.current_call != call.id:
                continue
            if agent.status == "busy":
                await self._agent_leaves(agent.agent_id)
            elif agent.status == "ringing":
                await self._agent_event(agent.agent_id, "no_answer")
        call.state = "ended"
        self.calls.pop(call.id, None)
        CALLS_ACTIVE.set(len(self.calls))
        if call.record_done is not None and recorded_leg is not None:
            # The worker reports the recording's duration as an event, which this very
            # event loop must be free to receive: finish the journey entry aside.
            self._recording_of[recorded_leg] = call
            self._spawn(self._close_after_recording(call, recorded_leg, cause))
            return
        await self._journey(call, "ended", cause=cause)
        await self._save(call)
        log.info("call_ended", call_id=call.id, contact_id=call.contact_id, cause=cause)

    async def _close_after_recording(self, call: Call, leg: str, cause: str) -> None:
        seconds = None
        assert call.record_done is not None
        try:
            path, seconds = await asyncio.wait_for(call.record_done, 10.0)
            call.recording = path
        except TimeoutError:
            log.warning("recording_not_confirmed", call_id=call.id)
        finally:
            self._recording_of.pop(leg, None)
        await self._journey(call, "ended", cause=cause, recording_seconds=seconds)
        await self._save(call)
        log.info("call_ended", call_id=call.id, contact_id=call.contact_id, cause=cause)

    async def _journey(
        self,
        call: Call,
        phase: str,
        *,
        cause: str | None = None,
        recording_seconds: float | None = None,
        agent: str | None = None,
        target: str | None = None,
    ) -> None:
        await self.core.registry.ask(
            f"contact:{call.contact_id}",
            CallEvent(
                call.id,
                phase,  # type: ignore[arg-type]
                self.core.clock.now(),
                via=call.via,
                direction="in" if call.direction == "in" else "out",
                agent=agent if agent is not None else call.agent,
                cause=cause,
                number=call.number,
                recording=call.recording if phase == "ended" else None,
                recording_seconds=recording_seconds,
                target=target,
            ),
        )

    async def _save(self, call: Call) -> None:
        await self.core.store.put(CALL_NS, call.id, call.record())

    # ------------------------------------------------------------- outbound

    def choose_trunk(self, number: str) -> TrunkSettings:
        best: tuple[int, TrunkSettings] | None = None
        for trunk in self.trunks.values():
            for prefix in trunk.prefixes or [""]:
                if number.startswith(prefix) and (best is None or len(prefix) > best[0]):
                    best = (len(prefix), trunk)
        if best is None:
            raise Rejected("no_route", f"no trunk routes {number}", 422)
        return best[1]

    def _dialer(self) -> GsmDialer | None:
        dialer: GsmDialer | None = self.core.sms
        return dialer

    def choose_route(self, number: str) -> tuple[str, str]:
        """Where a call to ``number`` goes out: ``("trunk", id)`` or ``("modem", id)``.

        1. the trunk whose ``prefixes`` match (longest prefix);
        2. a voice modem (voice profile and PCM port) whose ``[sms] routes`` prefix
           matches (longest);
        3. the first trunk without ``prefixes`` (it takes any number);
        4. the ``[sms] default_modem`` when it has voice, else the first voice modem.
        """
        best: tuple[int, TrunkSettings] | None = None
        catch_all: TrunkSettings | None = None
        for trunk in self.trunks.values():
            if not trunk.prefixes:
                catch_all = catch_all or trunk
            for prefix in trunk.prefixes:
                if number.startswith(prefix) and (best is None or len(prefix) > best[0]):
                    best = (len(prefix), trunk)
        if best is not None:
            return "trunk", best[1].id
        dialer = self._dialer()
        modem = dialer.voice_modem(number) if dialer is not None else None
        if modem is not None and modem[0]:
            return "modem", modem[1]
        if catch_all is not None:
            return "trunk", catch_all.id
        if modem is not None:
            return "modem", modem[1]
        raise Rejected("no_route", f"no trunk or voice modem routes {number}", 422)

    def _modem_taken(self, modem_id: str) -> bool:
        """One call per modem: an outgoing call holds it, or the modem has a call."""
        dialer = self._dialer()
        return modem_id in self.modem_calls or (
            dialer is not None and dialer.modem_in_call(modem_id)
        )

    async def _incoming_agent(
        self, worker: int, leg: str, data: dict[str, Any], agent_id: str
    ) -> None:
        dialled = uri_user(str(data.get("ruri") or data.get("to") or "")) or ""
        try:
            number = self.core.normalize(dialled)
            route, via = self.choose_route(number)
        except Rejected as exc:
            log.warning("agent_dial_rejected", agent=agent_id, dialled=dialled, error=exc.message)
            await self.pool.command(worker, "reject", call=leg, code=404)
            return
        busy = route == "modem" and self._modem_taken(via)
        if route == "modem" and not busy:
            self.modem_calls[via] = ""  # claimed now: the next dial-out finds it taken
        try:
            call = await self._open_call(
                worker, "out", number, via, "agent_out", agent=agent_id, route=route
            )
        except BaseException:
            if route == "modem" and not busy:
                self.modem_calls.pop(via, None)
            raise
        if route == "modem" and not busy:
            self.modem_calls[via] = call.id
        call.caller_leg = leg
        call.legs.add(leg)
        self.leg_owner[leg] = call.id
        await self._agent_event(agent_id, "busy_elsewhere", call.id)
        if busy:
            log.info("gsm_dial_refused", call_id=call.id, modem_id=via, reason="modem busy")
            await self._finish(call, "modem_busy", hangup=True, reject_code=600)
            return
        await self._cmd(call, "ring", call=leg)
        await self._dial_customer(call)

    async def _dial_customer(self, call: Call) -> None:
        if call.route == "modem":
            await self._dial_modem(call)
            return
        trunk = self.trunks[call.via]
        leg = self._new_leg(call, "c")
        call.customer_leg = leg
        user = to_provider(call.number, trunk)
        from_user = trunk.dids[0].lstrip("+") if trunk.dids else None
        reply = await self._cmd(
            call, "dial", call=leg, uri=f"sip:{user}@{trunk.host}:{trunk.port}", from_user=from_user
        )
        if reply is None:
            await self._finish(call, "dial_failed", hangup=True, reject_code=503)

    async def click_to_call(self, agent_id: str, to_raw: str) -> str:
        if agent_id not in self.agents_cfg or not self.agents_cfg[agent_id].sip_user:
            raise Rejected("unknown_agent", f"no SIP agent {agent_id!r}", 422)
        number = self.core.normalize(to_raw)
        route, via = self.choose_route(number)
        if route == "modem" and self._modem_taken(via):
            raise Rejected("modem_busy", f"modem {via} is busy with another call", 409)
        # Reserved until its first leg exists: the edge must not hand it an inbound call.
        worker = await self.pool.reserve()
        if worker is None:
            raise ChannelUnavailable("all media workers are busy")
        if route == "modem":
            if self._modem_taken(via):  # taken while a worker was picked
                await self.pool.release(worker)
                raise Rejected("modem_busy", f"modem {via} is busy with another call", 409)
            self.modem_calls[via] = ""
        try:
            call = await self._open_call(
                worker, "out", number, via, "click", agent=agent_id, route=route
            )
        except BaseException:
            await self.pool.release(worker)
            if route == "modem":
                self.modem_calls.pop(via, None)
            raise
        if route == "modem":
            self.modem_calls[via] = call.id
        await self._agent_event(agent_id, "busy_elsewhere", call.id)
        leg = self._new_leg(call, "a")
        call.caller_leg = leg
        user = self.agents_cfg[agent_id].sip_user
        reply = await self._cmd(
            call,
            "dial",
            call=leg,
            uri=f"sip:{user}@{self.sip.listen}",
            from_user=number.lstrip("+"),
        )
        if reply is None:
            await self._finish(call, "dial_failed", hangup=True)
            raise ChannelUnavailable("the media worker did not accept the call")
        return call.id

    async def _dial_modem(self, call: Call) -> None:
        """The customer is behind a modem: ATD; the modem's answer bridges its PCM port
        with the agent's leg (``_modem_answered``)."""
        dialer = self._dialer()
        assert dialer is not None  # the route was chosen through it
        gsm_call = f"{call.via}-{call.id}"
        try:
            call.gsm_line, call.audio_port = dialer.voice_line(call.via)
            call.gsm_call = gsm_call
            self.gsm_calls[gsm_call] = call.id
            await dialer.dial_call(call.via, gsm_call, call.number)
        except (ChannelUnavailable, Rejected) as exc:
            call.modem_ended = True  # nothing of ours to hang up on the modem
            self.gsm_calls.pop(gsm_call, None)
            reason = exc.code if isinstance(exc, Rejected) else "dial_failed"
            cause, code = MODEM_FAILURES.get(reason, (reason, 503))
            log.warning("gsm_dial_failed", call_id=call.id, modem_id=call.via, error=str(exc))
            await self._finish(call, cause, hangup=True, reject_code=code)
            return
        log.info("gsm_call_dialing", call_id=call.id, modem_id=call.via, agent=call.agent)

    async def _modem_answered(self, call: Call) -> None:
        """The customer answered the modem's call: bridge the agent's leg with its port."""
        leg = call.caller_leg
        if call.ended or call.state != "ringing" or leg is None or leg not in call.legs:
            return
        assert call.audio_port is not None
        call.state = "answered"
        if call.kind == "agent_out":
            await self._cmd(call, "answer", call=leg)
        if await self._cmd(call, "pcm_bridge", call=leg, path=call.audio_port) is None:
            await self._finish(call, "bridge_failed", hangup=True)
            return
        call.pcm_bridged, call.pcm_leg = True, leg
        await self._start_recording(call, leg)
        await self._journey(call, "answered")
        await self._save(call)
        log.info("gsm_call_bridged", call_id=call.id, agent=call.agent, port=call.audio_port)

    # ------------------------------------------------------------------ GSM

    async def gsm_incoming(
        self, modem_id: str, gsm_call: str, number: str | None, line: GsmLine, audio_port: str
    ) -> bool:
        """An incoming GSM call on a modem with a voice port: ring the agents from a
        reserved worker. False (logged) when no worker is free: the caller hangs it up.
        Returns at once (the ringing goes on aside): the modem's driver waits for it."""
        worker = await self.pool.reserve()
        if worker is None:
            log.warning(
                "gsm_call_refused",
                modem_id=modem_id,
                gsm_call=gsm_call,
                reason="no free media worker",
            )
            return False
        try:
            call = await self._open_call(worker, "in", number or "", modem_id, "gsm")
        except BaseException:
            await self.pool.release(worker)
            raise
        call.gsm_line, call.audio_port, call.gsm_call = line, audio_port, gsm_call
        call.reserved = True
        self.gsm_calls[gsm_call] = call.id
        log.info(
            "gsm_call_incoming",
            call_id=call.id,
            contact_id=call.contact_id,
            modem_id=modem_id,
            worker=worker,
        )
        self._spawn(self._start_ringing(call))
        return True

    async def gsm_event(self, gsm_call: str, kind: str, cause: str | None) -> None:
        """The modem's side of a GSM call we own changed: its end; for an outgoing call
        also the customer's answer."""
        call_id = self.gsm_calls.get(gsm_call)
        call = self.calls.get(call_id) if call_id else None
        if kind == "ended":
            self.gsm_calls.pop(gsm_call, None)
        if call is None:
            return  # we ended it ourselves (the driver reports our own ATH too)
        if kind == "answered" and call.route == "modem":
            await self._modem_answered(call)
            return
        if kind != "ended":
            return
        call.modem_ended = True
        log.info("gsm_call_remote_end", call_id=call.id, cause=cause)
        if call.kind == "gsm":
            why = "caller_hangup" if cause in (None, "remote_hangup", "ended") else cause
            await self._finish(call, why, hangup=True)
        elif call.state == "answered":
            await self._finish(call, "customer_hangup", hangup=True)
        else:
            why, code = MODEM_FAILURES.get(cause or "", (cause or "rejected", 603))
            await self._finish(call, why, hangup=True, reject_code=code)

    async def _gsm_worker(self, call: Call) -> bool:
        """Reserve a worker for the next agent dial of a GSM call (it holds no leg)."""
        if call.reserved:
            return True
        worker = await self.pool.reserve()
        if worker is None:
            log.info("gsm_call_waiting_for_worker", call_id=call.id)
            return False
        call.worker, call.reserved = worker, True
        return True

    async def _gsm_answered(self, call: Call, leg: str) -> None:
        """An agent took the GSM call: answer the modem, bridge its PCM port."""
        agent_id = await self._agent_took(call)
        assert call.gsm_line is not None and call.audio_port is not None
        try:
            await call.gsm_line.answer()
        except ChannelUnavailable as exc:  # the caller gave up a moment ago
            log.info("gsm_answer_failed", call_id=call.id, error=str(exc))
            await self._finish(call, "caller_hangup", hangup=True)
            return
        if call.ended:  # the caller hung up while the modem answered
            return
        if await self._cmd(call, "pcm_bridge", call=leg, path=call.audio_port) is None:
            await self._finish(call, "bridge_failed", hangup=True)
            return
        call.pcm_bridged, call.pcm_leg = True, leg
        await self._start_recording(call, leg)
        await self._journey(call, "answered")
        await self._save(call)
        log.info("gsm_call_bridged", call_id=call.id, agent=agent_id, port=call.audio_port)

    async def _gsm_close(self, call: Call, cause: str) -> None:
        """The switch's side of a GSM call is over: hang up the modem, free the worker."""
        if call.reserved:
            call.reserved = False
            await self.pool.release(call.worker)
        if call.gsm_call is not None and call.modem_ended:
            self.gsm_calls.pop(call.gsm_call, None)
        if not call.modem_ended and call.gsm_line is not None and call.gsm_call is not None:
            call.modem_ended = True
            try:
                await call.gsm_line.hangup()
            except ChannelUnavailable as exc:
                log.warning("gsm_hangup_failed", call_id=call.id, cause=cause, error=str(exc))

    # -------------------------------------------------------------- transfer

    async def transfer(
        self, call_id: str, agent: str | None = None, to: str | None = None
    ) -> dict[str, Any]:
        """Transfer an answered call to another agent (attended by re-bridging) or to an
        outside number (blind); the answer is the call record with ``transfer`` ringing."""
        if (agent is None) == (to is None):
            raise Rejected("bad_request", "give either 'agent' or 'to'", 422)
        call = self.calls.get(call_id)
        if call is None or call.ended:
            self.call_record(call_id)  # 404 when there never was such a call
            raise Rejected("call_ended", f"call {call_id} has ended", 409)
        if call.kind == "gsm" or call.route == "modem":
            raise Rejected("not_supported", f"call {call_id} is a GSM call: no transfer", 409)
        if call.state != "answered" or call.customer_side is None:
            raise Rejected("not_answered", f"call {call_id} is not answered yet", 409)
        if call.transfer is not None and call.transfer.state == "ringing":
            raise Rejected("transfer_in_progress", f"call {call_id} is being transferred", 409)
        from_user: str | None
        if agent is not None:
            cfg = self.agents_cfg.get(agent)
            if cfg is None or not cfg.sip_user:
                raise Rejected("unknown_agent", f"no SIP agent {agent!r}", 422)
            if agent == call.agent:
                raise Rejected("same_agent", f"{agent} already has call {call_id}", 409)
            state = await self._agent(agent)
            if state.status == "available":
                state = await self._agent_event(agent, "ring", call.id)
            if state.status != "ringing" or state.current_call != call.id:
                raise Rejected("agent_unavailable", f"agent {agent} is {state.status}", 409)
            kind, target = "agent", agent
            uri = f"sip:{cfg.sip_user}@{self.sip.listen}"
            from_user = call.number
        else:
            assert to is not None
            number = self.core.normalize(to)
            trunk = self.choose_trunk(number)
            kind, target = "number", number
            uri = f"sip:{to_provider(number, trunk)}@{trunk.host}:{trunk.port}"
            from_user = trunk.dids[0].lstrip("+") if trunk.dids else None
        leg = self._new_leg(call, "t")
        xfer = Transfer(kind, target, leg, from_agent=call.agent)
        call.transfer = xfer
        log.info("call_transfer", call_id=call.id, kind=kind, target=target, agent=call.agent)
        if await self._cmd(call, "dial", call=leg, uri=uri, from_user=from_user) is None:
            call.legs.discard(leg)
            self.leg_owner.pop(leg, None)
            await self._transfer_failed(call, xfer, "the media worker did not place the call")
            raise ChannelUnavailable("the media worker did not place the transfer call")
        xfer.timer = asyncio.get_running_loop().call_later(
            self.sip.ring_timeout, lambda: self._spawn(self._transfer_timeout(call, xfer))
        )
        if kind == "number":
            await self._release_agent(call, xfer, hangup=True)
        await self._save(call)
        return call.record()

    async def _transfer_timeout(self, call: Call, xfer: Transfer) -> None:
        if call.transfer is xfer and xfer.state == "ringing" and not call.ended:
            xfer.timed_out = True
            xfer.detail = f"{xfer.target} did not answer within {self.sip.ring_timeout:g} s"
            log.info("call_transfer_timeout", call_id=call.id, target=xfer.target)
            await self._cmd(call, "hangup", call=xfer.leg)

    async def _release_agent(self, call: Call, xfer: Transfer, *, hangup: bool) -> None:
        """The current agent leaves (blind transfer, or hung up while the target rings);
        the customer hears hold music until the target answers."""
        xfer.blind = True
        old, customer = call.agent_side, call.customer_side
        call.agent_side = None  # its `ended` no longer ends the call
        if hangup and old is not None and old in call.legs:
            assert customer is not None
            await self._cmd(call, "unbridge", a=customer, b=old)
            await self._cmd(call, "hangup", call=old)
        if call.agent is not None:
            await self._agent_leaves(call.agent)
            call.agent = None
        if self.hold_music and customer is not None:
            await self._cmd(call, "play", call=customer, file=self.hold_music, loop=True)
        await self._save(call)

    async def _transfer_answered(self, call: Call, xfer: Transfer) -> None:
        if xfer.timer is not None:
            xfer.timer.cancel()
        customer, old = call.customer_side, call.agent_side
        assert customer is not None
        if xfer.blind and self.hold_music:
            await self._cmd(call, "stop_play", call=customer)
        if old is not None:
            await self._cmd(call, "unbridge", a=customer, b=old)
        await self._cmd(call, "bridge", a=customer, b=xfer.leg)
        call.agent_side = xfer.leg
        if old is not None:
            await self._cmd(call, "hangup", call=old)
        if not xfer.blind and xfer.from_agent is not None:
            await self._agent_leaves(xfer.from_agent)
        if xfer.kind == "agent":
            await self._agent_event(xfer.target, "answered", call.id)
            call.agent = xfer.target
        else:
            call.agent = None
        xfer.state, xfer.detail = "completed", f"{xfer.target} answered"
        log.info("call_transferred", call_id=call.id, agent=xfer.from_agent, target=xfer.target)
        await self._journey(call, "transferred", agent=xfer.from_agent, target=xfer.target)
        await self._save(call)

    async def _transfer_failed(self, call: Call, xfer: Transfer, detail: str) -> None:
        if xfer.timer is not None:
            xfer.timer.cancel()
        xfer.state, xfer.detail = "failed", detail
        log.info("call_transfer_failed", call_id=call.id, target=xfer.target, detail=detail)
        if xfer.kind == "agent":
            await self._agent_event(xfer.target, "no_answer")
        if not xfer.blind:
            await self._save(call)  # the customer and the agent are still bridged
        elif call.kind == "inbound":
            # Nobody talks to the customer any more: back into the agents' queue.
            call.state = "ringing"
            call.tried.clear()
            call.requeued_from = xfer.from_agent
            await self._save(call)
            await self._start_ringing(call)
        else:
            await self._finish(call, "transfer_failed", hangup=True)

    async def _agent_leaves(self, agent_id: str) -> None:
        """A busy agent's call (or their part of it) is over: wrap-up, then available."""
        await self._agent_event(agent_id, "hangup")
        self.core.registry.schedule(
            f"agent:{agent_id}",
            WRAP_UP_SECONDS,
            AgentEvent("wrap_up_done", self.core.clock.now() + WRAP_UP_SECONDS),
        )

    # ----------------------------------------------------------- trunk test

    async def trunk_test(self, trunk_id: str, number: str | None) -> dict[str, Any]:
        trunk = self.trunks.get(trunk_id)
        if trunk is None:
            raise Rejected("not_found", f"trunk {trunk_id!r} not found", 404)
        checks: list[dict[str, str]] = []
        if trunk.register_:
            regs = await self.kamailio.trunk_registrations()
            mine = [r for r in regs if r.get("trunk") == trunk_id]
            ok = bool(mine) and all(bool(r.get("registered")) for r in mine)
            state = mine[0].get("state") if mine else "no registration record"
            checks.append(
                check_row(
                    "registration",
                    ok,
                    "registered with the provider" if ok else f"not registered ({state})",
                )
            )
        else:
            checks.append(
                {
                    "name": "registration",
                    "status": "ok",
                    "detail": "IP peering (no registration needed)",
                }
            )
        checks.append(await self._options_check(trunk))
        if number:
            checks.append(await self._test_call(trunk, number))
        return {"trunk": trunk_id, "checks": checks}

    async def _options_check(self, trunk: TrunkSettings) -> dict[str, str]:
        where = f"{trunk.host}:{trunk.port}"
        started = time.monotonic()
        code = await sip_options(trunk.host, trunk.port, timeout=OPTIONS_TIMEOUT)
        ms = (time.monotonic() - started) * 1000
        if code is None:
            return check_row(
                "options",
                False,
                f"nothing answered at {where} within {OPTIONS_TIMEOUT:g} s (SIP OPTIONS over "
                "UDP): check the trunk's host and port, that the provider expects traffic "
                "from this switch's address, and any firewall in between",
            )
        if 200 <= code < 300:
            return check_row("options", True, f"the provider at {where} answered in {ms:.0f} ms")
        return {
            "name": "options",
            "status": "warn",
            "detail": f"the provider at {where} is reachable ({ms:.0f} ms) but answered "
            f"OPTIONS with {code}; many providers do, calls may still work",
        }

    async def _test_call(self, trunk: TrunkSettings, raw: str) -> dict[str, str]:
        number = self.core.normalize(raw)
        worker = await self.pool.reserve()
        if worker is None:
            return check_row("test_call", False, "no media worker is free for a test call")
        leg = "test-" + secrets.token_hex(4)
        waiter: asyncio.Future[tuple[str, dict[str, Any]]] = (
            asyncio.get_running_loop().create_future()
        )
        self._test_legs[leg] = waiter
        started = time.monotonic()
        try:
            await self.pool.command(
                worker,
                "dial",
                call=leg,
                uri=f"sip:{to_provider(number, trunk)}@{trunk.host}:{trunk.port}",
                from_user=trunk.dids[0].lstrip("+") if trunk.dids else None,
            )
            name, data = await asyncio.wait_for(waiter, TEST_CALL_TIMEOUT)
            if name == "answered":
                await self.pool.command(worker, "hangup", call=leg)
                return check_row(
                    "test_call",
                    True,
                    f"{number} answered in {time.monotonic() - started:.1f} s; hung up",
                )
            code, reason = data.get("code"), str(data.get("reason") or "")
            return check_row(
                "test_call",
                False,
                f"the call to {number} failed: {code} {reason} "
                f"({sip_cause(code, reason).replace('_', ' ')})",
            )
        except TimeoutError:
            with contextlib.suppress(Exception):
                await self.pool.command(worker, "hangup", call=leg)
            return check_row(
                "test_call", False, f"{number} did not answer within {TEST_CALL_TIMEOUT:g} s"
            )
        except (Rejected, ChannelUnavailable) as exc:
            await self.pool.release(worker)
            return check_row("test_call", False, f"the test call could not be placed: {exc}")
        finally:
            self._test_legs.pop(leg, None)

    # ------------------------------------------------------------------ API

    def list_calls(self, active: bool | None) -> list[dict[str, Any]]:
        out = []
        for _, record in self.core.store.scan(CALL_NS):
            if active is True and record["state"] == "ended":
                continue
            if active is False and record["state"] != "ended":
                continue
            out.append(record)
        return sorted(out, key=lambda r: r.get("started_at") or 0)

    def call_record(self, call_id: str) -> dict[str, Any]:
        record = self.core.store.get(CALL_NS, call_id) if len(call_id) < 64 else None
        if record is None:
            raise Rejected("not_found", f"call {call_id!r} not found", 404)
        result: dict[str, Any] = record
        return result

    async def agents_json(self) -> list[dict[str, Any]]:
        return [
            {
                "id": a.agent_id,
                "name": self.agents_cfg[a.agent_id].name,
                "status": a.status,
                "calls_handled": a.calls_handled,
                "skills": self.agents_cfg[a.agent_id].skills,
            }
            for a in await self._agent_states()
        ]
