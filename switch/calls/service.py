"""Voice calls as a channel of the switch: the core side of Kamailio and the media workers.

The service runs the edge and the worker pool, turns the workers' events into messages
for call actors (``call:<id>``, :mod:`switch.calls.actor`), creates calls (a trunk
caller, an agent dialling out, click-to-call, a GSM caller) and answers the API. What
happens in a call is decided by :mod:`actors.call`; the flows are in docs/calls.md.

Events: one lane per media worker. A worker's events are routed strictly in order (a
leg's ``ended`` never overtakes the ``incoming`` that creates its call), while workers
proceed concurrently. With ``[sip] callers_per_worker`` above 1 a worker parks several
callers; a call's commands go where its legs are (``WorkerPool.run``: an agent's leg is
dialled on the caller's worker while it has room, else elsewhere and linked).

Must not import driver internals: only ``drivers.sip``'s public names and media API.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import structlog

from actors.call import CallPolicy, CallState
from actors.call import messages as msg
from actors.call.classify import classify
from actors.call.state import Kind
from actors.call.transfer import MEDIA_WORKER_REFUSED
from actors.messages import CallEvent
from base.errors import ChannelUnavailable, ConfigError, Rejected
from drivers.sip import (
    KamailioSupervisor,
    TrunkSettings,
    WorkerPool,
)
from drivers.sip.media import ops
from switch.calls.actor import CallActor
from switch.calls.gsm import GsmDialer, GsmLine, GsmSide
from switch.calls.inbound import InboundCalls
from switch.calls.media import MediaCommands, prompt_path
from switch.calls.policy import Entrances, call_policy, missing_prompts, prompt_library
from switch.calls.records import CALL_NS, call_record, iso
from switch.calls.routing import AgentRouter, choose_route, choose_trunk
from switch.calls.trunk_test import TrunkTester
from switch.calls.web import BrowserPhones
from switch.config import AgentConfig, Config
from switch.metrics import CALLS_ACTIVE, CALLS_TOTAL
from switch.phone import phone_identity
from switch.settings import agent_phone, edge_settings, trunk_settings

if TYPE_CHECKING:
    from fastapi import APIRouter

    from switch.core import Core

log = structlog.get_logger("calls")

SHUTDOWN_WAIT = 12.0  # s for live calls to end (their recordings to close) at stop


class CallService:
    name = "calls"

    def __init__(self, core: Core) -> None:
        self.core = core
        self.clock = core.clock
        config = core.config
        assert config.sip is not None
        self.sip = config.sip
        self.trunks: dict[str, TrunkSettings] = {t.id: trunk_settings(t) for t in config.trunks}
        self.agents_cfg: dict[str, AgentConfig] = {a.id: a for a in config.agents}
        self.agent_by_user = {a.sip_user: a.id for a in config.agents if a.sip_user}
        self.rundir = Path(config.store.path).parent / "sip"
        self.recordings = Path(self.sip.recordings)
        self.web = BrowserPhones(config, self.rundir) if config.webrtc is not None else None
        self.kamailio = KamailioSupervisor(
            edge_settings(self.sip),
            list(self.trunks.values()),
            [agent_phone(a) for a in config.agents],
            rundir=self.rundir,
            worker_maxload=self.sip.callers_per_worker,
            webrtc=self.web.settings if self.web is not None else None,
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
            max_inbound=self.sip.callers_per_worker,
        )
        self.greeting = prompt_path(self.sip.greeting)
        self.hold_music = prompt_path(self.sip.hold_music)
        self.policy: CallPolicy = self._policy(config)
        self.entrances = Entrances(config)
        self.prompts = prompt_library(config)
        self.media = MediaCommands(
            edge=self.sip.listen,
            phones={a.id: a.sip_user for a in config.agents if a.sip_user},
            trunks=self.trunks,
            prompts={"greeting": self.greeting, "hold": self.hold_music},
            recordings=self.recordings,
            library=self.prompts,
        )
        self.router = AgentRouter(
            core.registry, core.clock, {a.id: a.skills for a in config.agents}
        )
        self.inbound = InboundCalls(self)
        self.trunk_tests = TrunkTester(self.trunks, self.pool, self.kamailio, core.normalize)
        self.queues = core.queues
        self.states: dict[str, CallState] = {}  # live calls (the actors' last states)
        self.leg_owner: dict[str, str] = {}  # leg -> call id
        self._legs_of: dict[str, set[str]] = {}
        self.gsm: dict[str, GsmSide] = {}  # call id -> its modem side
        self.gsm_calls: dict[str, str] = {}  # driver call id -> call id
        self.modem_calls: dict[str, str] = {}  # modem id -> the outgoing call that has it
        self._done: dict[str, asyncio.Future[None]] = {}
        self._lanes: dict[int, asyncio.Queue[Any]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        core.registry.register_kind("call", lambda aid, reg: CallActor(aid, reg, self))

    def _policy(self, config: Config) -> CallPolicy:
        return call_policy(
            config,
            greeting=self.greeting is not None,
            hold_music=self.hold_music is not None,
            menu=dict(self.sip.menu),
            ring_timeout=self.sip.ring_timeout,
            record=self.sip.record_calls,
            missed_break=config.routing.missed_call_break,
        )

    def _policy_now(self) -> CallPolicy:
        """The policy of a call starting now: not recorded while the recordings' disk
        is low (:mod:`switch.calls.storage`)."""
        guard = self.core.recordings
        if self.policy.record and guard is not None and not guard.check():
            return replace(self.policy, record=False)
        return self.policy

    def reconfigure(self, config: Config) -> None:
        """The contact center's part of a reloaded config (:meth:`Core.reconfigure`):
        agents and their phones, menus, routes, prompts, and the ``[sip]`` keys that
        change live (the recordings' limits; the plan kept the rest as it runs). A call
        keeps the policy it started with; calls that start from now on follow the new
        one."""
        if config.sip is not None:
            self.sip = config.sip
        self.agents_cfg = {a.id: a for a in config.agents}
        self.agent_by_user = {a.sip_user: a.id for a in config.agents if a.sip_user}
        self.media.phones = {a.id: a.sip_user for a in config.agents if a.sip_user}
        self.router.skills = {a.id: list(a.skills) for a in config.agents}
        self.prompts = prompt_library(config)
        self.media.library = self.prompts
        self.policy = self._policy(config)
        self.entrances = Entrances(config)
        if self.web is not None:
            self.web.sip_users = dict(self.media.phones)
        self.kamailio.set_agents([agent_phone(a) for a in config.agents])
        for name in missing_prompts(self.policy, self.prompts):
            log.warning("prompt_missing", prompt=name, looked_in=str(self.prompts.directory))

    # ------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        self.rundir.mkdir(parents=True, exist_ok=True)
        if self.sip.record_calls:
            self.recordings.mkdir(parents=True, exist_ok=True)
        for name, path in (("sip.greeting", self.greeting), ("sip.hold_music", self.hold_music)):
            if path is not None and not Path(path).is_file():
                raise ConfigError([(name, f"no such sound file: {path}")])
        for name in missing_prompts(self.policy, self.prompts):
            log.warning("prompt_missing", prompt=name, looked_in=str(self.prompts.directory))
        await self._close_calls_of_a_previous_run()
        await self.pool.start()
        if self.web is not None:
            await self.web.start()  # before Kamailio: its rtpengine module pings it
        await self.kamailio.start()
        self._tasks = [
            asyncio.create_task(self._events(), name="calls:events"),
            asyncio.create_task(self._watch_registrations(), name="calls:registrations"),
        ]
        log.info("calls_started", workers=self.sip.workers, edge=self.sip.listen)

    async def _close_calls_of_a_previous_run(self) -> None:
        """Calls a killed switch left open died with it: each gets its ``call_ended``
        (cause ``switch_restarted``) in the journey and an ended record, once."""
        now = self.clock.now()
        closed = 0
        for call_id, record in self.core.store.scan(CALL_NS):
            if record.get("state") == "ended":
                continue
            inbound = record.get("direction") == "in"
            event = CallEvent(
                call_id,
                "ended",
                now,
                via=str(record.get("via") or ""),
                direction="in" if inbound else "out",
                agent=record.get("agent"),
                cause="switch_restarted",
                number=str(
                    record.get("from") if record.get("direction") == "in" else record.get("to")
                ),
            )
            await self.core.registry.ask(f"contact:{record['contact_id']}", event)
            ended = {**record, "state": "ended", "cause": "switch_restarted", "ended_at": iso(now)}
            await self.core.store.put(CALL_NS, call_id, ended)
            closed += 1
        if closed:
            log.warning("calls_closed_after_restart", count=closed)

    async def stop(self) -> None:
        # End live calls while the event loop still runs (recordings report back).
        waits = [self._done[cid] for cid in self.states if cid in self._done]
        for call_id in list(self.states):
            with contextlib.suppress(Exception):
                await self.core.registry.ask(f"call:{call_id}", msg.EndCall("switch_shutdown"))
        if waits:
            await asyncio.wait(waits, timeout=SHUTDOWN_WAIT)
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.kamailio.stop()
        if self.web is not None:
            await self.web.stop()
        await self.pool.stop()

    def routers(self) -> list[APIRouter]:
        from switch.api.calls import call_routers
        from switch.api.webrtc import credential_routers

        routers = call_routers()
        if self.web is not None:  # (without [webrtc] the path does not exist: 404)
            routers += credential_routers()
        return routers

    # ------------------------------------------------------- calls' bookkeeping

    async def new_call(
        self,
        kind: Kind,
        number_raw: str,
        via: str,
        worker: int,
        identity: str | None = None,
        **fields: Any,
    ) -> CallState:
        if identity is not None:
            number = number_raw
        else:
            try:
                number = self.core.normalize(number_raw)
                identity = phone_identity(number)
            except Rejected:
                number = number_raw or "anonymous"
                identity = f"sip:{number}"
        known = number_raw != "" and self.core.directory.lookup(identity) is not None
        contact_id = await self.core.directory.contact_for(identity)
        direction: Literal["in", "out"] = "in" if kind in ("inbound", "gsm_in") else "out"
        state = CallState(
            id="c" + secrets.token_hex(6),
            kind=kind,
            direction=direction,
            contact_id=contact_id,
            number=number,
            via=via,
            started_at=self.clock.now(),
            policy=self._policy_now(),
            worker=worker,
            identified=known and identity.startswith("phone:"),
            **fields,
        )
        self.states[state.id] = state
        self._legs_of[state.id] = set()
        self._done[state.id] = asyncio.get_running_loop().create_future()
        for leg in state.legs:
            self.own_leg(leg, state.id)
        CALLS_ACTIVE.set(len(self.states))
        CALLS_TOTAL.labels(direction).inc()
        return state

    def begin(self, state: CallState, refuse: tuple[str, int] | None = None) -> Any:
        return self.core.registry.ask_nowait(f"call:{state.id}", msg.Begin(refuse))

    def own_leg(self, leg: str, call_id: str) -> None:
        self.leg_owner[leg] = call_id
        self._legs_of.setdefault(call_id, set()).add(leg)

    def gsm_side(
        self, modem_id: str, gsm_call: str, line: GsmLine | None, port: str | None, call_id: str
    ) -> GsmSide:
        self.gsm_calls[gsm_call] = call_id
        return GsmSide(modem_id, gsm_call, line, port)

    def forget_gsm(self, call_id: str) -> None:
        side = self.gsm.pop(call_id, None)
        if side is not None and self.gsm_calls.get(side.gsm_call) == call_id:
            del self.gsm_calls[side.gsm_call]

    def call_done(self, state: CallState) -> None:
        """The call actor finished: forget everything of the call."""
        for leg in self._legs_of.pop(state.id, set()):
            if self.leg_owner.get(leg) == state.id:
                del self.leg_owner[leg]
        self.forget_gsm(state.id)
        if self.modem_calls.get(state.via) == state.id:
            del self.modem_calls[state.via]
        self.states.pop(state.id, None)
        done = self._done.pop(state.id, None)
        if done is not None and not done.done():
            done.set_result(None)
        CALLS_ACTIVE.set(len(self.states))

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
                    state = await self.router.state(agent_id)
                    registered = bool(contacts.get(user))
                    if registered and state.status == "offline":
                        await self.router.event(agent_id, "registered")
                    elif not registered and state.status != "offline":
                        await self.router.event(agent_id, "unregistered")
            await asyncio.sleep(1.0)

    # ----------------------------------------------------------------- events

    async def _events(self) -> None:
        """Deal the workers' events into one lane per worker; it must never die."""
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
        if self.trunk_tests.event(leg, name, data):
            return
        event = ops.parse_event(name, data)
        if isinstance(event, ops.Incoming):
            await self.inbound.sip(worker, event)
            return
        if isinstance(event, ops.Dtmf):  # digits may be private: debug level only
            log.debug("dtmf_received", worker=worker, leg=leg, digit=event.digit, how=event.method)
        message = _call_message(event)
        if message is None:
            return
        call_id = self.leg_owner.get(leg)
        if call_id is None:
            if isinstance(event, ops.RecordDone):
                log.info("recording_done", leg=leg, path=event.path, duration=event.duration)
            return
        self.core.registry.tell(f"call:{call_id}", message)

    # ---------------------------------------------------------------- outbound

    def dialer(self) -> GsmDialer | None:
        dialer: GsmDialer | None = self.core.sms.voice if self.core.sms else None
        return dialer

    def choose_route(self, number: str) -> tuple[str, str]:
        return choose_route(list(self.trunks.values()), self.dialer(), number)

    def modem_taken(self, modem_id: str) -> bool:
        """One call per modem: an outgoing call holds it, or the modem has a call."""
        dialer = self.dialer()
        return modem_id in self.modem_calls or (
            dialer is not None and dialer.modem_in_call(modem_id)
        )

    async def click_to_call(self, agent_id: str, to_raw: str) -> str:
        """Ring the agent, then the number; the call's id (202 for the API)."""
        return await self.place_click(agent_id, self.core.normalize(to_raw))

    async def place_click(self, agent_id: str, number: str, *, owner: str | None = None) -> str:
        """A call that rings the agent first, then calls ``number`` (E.164) through its
        route. ``owner``: an actor told how the call went (a callback)."""
        if agent_id not in self.agents_cfg or not self.agents_cfg[agent_id].sip_user:
            raise Rejected("unknown_agent", f"no SIP agent {agent_id!r}", 422)
        route, via = self.choose_route(number)
        if route == "modem" and self.modem_taken(via):
            raise Rejected("modem_busy", f"modem {via} is busy with another call", 409)
        # Reserved until its first leg exists: the edge must not hand it an inbound call.
        worker = await self.pool.reserve()
        if worker is None:
            raise ChannelUnavailable("all media workers are busy")
        if route == "modem":
            if self.modem_taken(via):  # taken while a worker was picked
                await self.pool.release(worker)
                raise Rejected("modem_busy", f"modem {via} is busy with another call", 409)
            self.modem_calls[via] = ""
        try:
            state = await self.new_call(
                "click", number, via, worker, route=route, agent=agent_id, owner=owner
            )
        except BaseException:
            await self.pool.release(worker)
            if route == "modem":
                self.modem_calls.pop(via, None)
            raise
        if route == "modem":
            self.modem_calls[via] = state.id
        final: CallState = await self.begin(state)
        if final.cause == "dial_failed":
            raise ChannelUnavailable("the media worker did not accept the call")
        return state.id

    # -------------------------------------------------------------------- GSM

    async def gsm_incoming(
        self, modem_id: str, gsm_call: str, number: str | None, line: GsmLine, audio_port: str
    ) -> bool:
        """An incoming GSM call (:meth:`InboundCalls.gsm`): False when no worker is free."""
        return await self.inbound.gsm(modem_id, gsm_call, number, line, audio_port)

    async def gsm_event(self, gsm_call: str, kind: str, cause: str | None) -> None:
        """The modem's side of a GSM call we own changed: its end; for an outgoing call
        also the customer's answer."""
        call_id = self.gsm_calls.get(gsm_call)
        if kind == "ended":
            self.gsm_calls.pop(gsm_call, None)
        if call_id is None:
            return  # we ended it ourselves (the driver reports our own ATH too)
        if kind == "answered":
            self.core.registry.tell(f"call:{call_id}", msg.ModemAnswered())
        elif kind == "ended":
            log.info("gsm_call_remote_end", call_id=call_id, cause=cause)
            self.core.registry.tell(f"call:{call_id}", msg.ModemEnded(cause))

    # -------------------------------------------------------------- transfer

    async def transfer(
        self,
        call_id: str,
        agent: str | None = None,
        to: str | None = None,
        *,
        queue: str | None = None,
        mode: Literal["attended", "consult", "blind"] | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        """Transfer an answered call to an agent, a number or a queue (see
        :mod:`actors.call.transfer` for the modes); the answer is the call record with
        its ``transfer``."""
        if sum(x is not None for x in (agent, to, queue)) != 1:
            raise Rejected("bad_request", "give one of 'agent', 'to' or 'queue'", 422)
        state = self.live_call(call_id)
        kind: Literal["agent", "number", "queue"] = (
            "agent" if agent is not None else "queue" if queue is not None else "number"
        )
        if kind == "queue" and mode not in (None, "blind"):
            raise Rejected("bad_request", "a transfer to a queue is blind", 422)
        # The call's own conditions first: nothing changes if it cannot take a transfer.
        classify(state, msg.TransferTo(kind, agent or queue or ""))
        message: msg.TransferTo
        if agent is not None:
            cfg = self.agents_cfg.get(agent)
            if cfg is None or not cfg.sip_user:
                raise Rejected("unknown_agent", f"no SIP agent {agent!r}", 422)
            target = await self.router.claim(agent, call_id)
            if target.status != "ringing" or target.current_call != call_id:
                raise Rejected("agent_unavailable", f"agent {agent} is {target.status}", 409)
            message = msg.TransferTo("agent", agent, mode=mode, note=note)
        elif queue is not None:
            if not self.queues.has(queue) or queue.startswith("agent:"):
                raise Rejected("unknown_queue", f"no queue {queue!r}", 422)
            message = msg.TransferTo("queue", queue, note=note)
        else:
            assert to is not None
            number = self.core.normalize(to)
            trunk = choose_trunk(list(self.trunks.values()), number)
            message = msg.TransferTo("number", number, trunk.id, mode=mode, note=note)
        try:
            new: CallState = await self.core.registry.ask(f"call:{call_id}", message)
        except Rejected:
            if agent is not None:
                await self.router.event(agent, "no_answer")
            raise
        xfer = new.transfer
        if xfer is not None and xfer.state == "failed" and xfer.detail == MEDIA_WORKER_REFUSED:
            raise ChannelUnavailable("the media worker did not place the transfer call")
        return call_record(new, self.recordings)

    async def finish_transfer(self, call_id: str, complete: bool) -> dict[str, Any]:
        """Complete (hand the customer to the consulted target) or cancel a transfer."""
        self.live_call(call_id)
        message = msg.CompleteTransfer() if complete else msg.CancelTransfer()
        new: CallState = await self.core.registry.ask(f"call:{call_id}", message)
        return call_record(new, self.recordings)

    def live_call(self, call_id: str) -> CallState:
        """A call not ended (404 if there never was one, 409 if it has ended)."""
        state = self.states.get(call_id)
        if state is None or state.cause is not None:
            self.call_record(call_id)  # 404 when there never was such a call
            raise Rejected("call_ended", f"call {call_id} has ended", 409)
        return state

    # ---------------------------------------------------------- trunk test

    async def trunk_test(self, trunk_id: str, number: str | None) -> dict[str, Any]:
        return await self.trunk_tests.run(trunk_id, number)

    # ------------------------------------------------------------------ API

    def list_calls(self, active: bool | None) -> list[dict[str, Any]]:
        out = []
        for _, record in self.core.store.scan(CALL_NS):
            if active is True and record["state"] == "ended":
                continue
            if active is False and record["state"] != "ended":
                continue
            out.append(record)
        return sorted(out, key=lambda r: str(r.get("started_at") or ""))

    def call_record(self, call_id: str) -> dict[str, Any]:
        record = self.core.store.get(CALL_NS, call_id) if len(call_id) < 64 else None
        if record is None:
            raise Rejected("not_found", f"call {call_id!r} not found", 404)
        result: dict[str, Any] = record
        return result


def _call_message(event: ops.MediaEvent | None) -> msg.CallMessage | None:
    match event:
        case ops.Answered(leg=leg):
            return msg.LegAnswered(leg)
        case ops.Ended(leg=leg, code=code, reason=reason):
            return msg.LegEnded(leg, code, reason)
        case ops.Dtmf(leg=leg, digit=digit):
            return msg.DtmfReceived(leg, digit)
        case ops.PlayDone(leg=leg):
            return msg.PlayFinished(leg)
        case ops.RecordDone(leg=leg, path=path, duration=duration):
            return msg.RecordingDone(leg, path, duration)
    return None
