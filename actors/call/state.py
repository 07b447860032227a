"""The state of one call, and the table of its phases.

Rules: everything that changes a call's phase is decided by :mod:`actors.call.decide`
through :data:`TRANSITIONS`; this module knows nothing of SIP, workers, modems or
clocks (times arrive as arguments). It imports nothing of ours but ``base``.

Theory of operation
-------------------
A call has one customer and at most one agent at a time, and a handful of *legs*: the
customer's SIP leg (a trunk caller, or the leg dialled to the customer), the agent's SIP
leg (dialled to the agent's phone, or the agent's own call when they dial out), and,
during a transfer, the leg to the transfer's target. A GSM customer has no SIP leg: the
modem holds their call and its PCM port is bridged to the agent's leg; a GSM caller
routed to a menu is answered by the switch and the modem's PCM port becomes their leg
(prompts play to it, keys are found in band), bridged to the agent's like a SIP leg.

The phases::

    new --> ivr --> queued                (a route to an IVR menu: menus, nested, then
                                           a queue or an agent's own queue)
    new --> answering_caller --> ivr      (GSM: the switch answers the modem, the worker
                                           makes its PCM port the caller's leg)
    new --> greeting --> queued <--> ringing_agent --> connected <--> transferring
             (inbound, with a greeting)  |  |              ^
    new --> queued (inbound, GSM)        |  +--> answering_modem (GSM: answer, bridge)
                                         +--> treatment (the queue gave up: a message)
    new --> dialing_agent --> dialing_customer --> connected   (click-to-call)
    new --> dialing_customer --> connected                      (an agent dials out)
    any live phase --> ending --> ended

In ``ivr`` the caller hears a menu's prompt and presses one digit (:mod:`actors.call.ivr`):
an option leads to another menu (the phase stays), a queue or an agent (``queued``); an
invalid digit or a timeout replays the prompt, ``retries`` times, then the menu's ``0``
leads on (a human).

In ``queued`` the call has an item in its queue (the routing engine); the engine
offers it an agent, the call rings them; an agent who does not answer goes back to the
engine as a decline and the call stays queued at its place. While it waits the caller
may hear their position and expected wait, and answer the queue's questions
(:mod:`actors.call.waiting`).

``ending`` waits for the call's recording to be reported closed (its duration goes in
the journey's ``call_ended``), at most ``recording_wait`` seconds; without a recording a
call passes through it at once.

Timers are named; each carries a token, and a timer whose token is no longer the
state's is stale and ignored, so cancelling is never a race.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from actors.call.policy import CallPolicy
from base.errors import ProtocolError

__all__ = ["CallPolicy", "CallState", "Phase", "TransferState", "next_phase"]

Phase = Literal[
    "new",
    "ivr",
    "answering_caller",
    "greeting",
    "queued",
    "ringing_agent",
    "answering_modem",
    "dialing_agent",
    "dialing_customer",
    "connected",
    "transferring",
    "consulting",
    "treatment",
    "ending",
    "ended",
]
Kind = Literal["inbound", "agent_out", "click", "gsm_in"]

LIVE: frozenset[Phase] = frozenset(
    {
        "ivr",
        "answering_caller",
        "greeting",
        "queued",
        "ringing_agent",
        "answering_modem",
        "dialing_agent",
        "dialing_customer",
        "connected",
        "transferring",
        "consulting",
        "treatment",
    }
)

# Events that may come in any live phase, with where they lead.
_ANY_LIVE: dict[str, Phase | None] = {
    "worker_died": "ending",
    "end_requested": "ending",
    "stale": None,
    "agent_unneeded": None,
    "worker_unneeded": None,
    "offer_unneeded": None,
}
_AFTER: dict[str, Phase | None] = {
    "stale": None,
    "end_requested": None,
    "worker_died": None,
    "agent_unneeded": None,
    "worker_unneeded": None,
    "offer_unneeded": None,
}

# {phase: {event: next phase}}; None = stay. An event not listed for the phase is a
# protocol error (the shell logs it and the state is unchanged).
TRANSITIONS: dict[Phase, dict[str, Phase | None]] = {
    "new": {
        "begin_menu": "ivr",
        "begin_modem_menu": "answering_caller",
        "begin_greeting": "greeting",
        "begin_queue": "queued",
        "begin_dial_agent": "dialing_agent",
        "begin_dial_customer": "dialing_customer",
        "begin_refused": "ending",
        "end_requested": "ending",
    },
    "ivr": {
        **_ANY_LIVE,
        "menu_stay": None,  # another menu, or the same one again
        "menu_exit": "queued",  # to a queue or an agent
        "prompt_played": None,
        "customer_ended": "ending",
        "modem_ended": "ending",
    },
    "answering_caller": {
        **_ANY_LIVE,
        "modem_picked_up": None,
        "modem_pickup_failed": "ending",
        "modem_leg_ready": "ivr",
        "modem_leg_failed": "ending",
        "modem_ended": "ending",
    },
    "greeting": {
        **_ANY_LIVE,
        "digit": "queued",
        "prompt_played": None,
        "greeting_timeout": "queued",
        "customer_ended": "ending",
    },
    "queued": {
        **_ANY_LIVE,
        "agent_offered": None,
        "agent_rung": "ringing_agent",
        "agent_busy": None,
        "worker_reserved": None,
        "no_worker": None,
        "treated": "treatment",
        "digit": None,
        "prompt_played": None,
        "announce_due": None,
        "queue_status": None,
        "question_timeout": None,
        "customer_ended": "ending",
        "modem_ended": "ending",
    },
    "ringing_agent": {
        **_ANY_LIVE,
        "agent_answered": "connected",
        "agent_answered_gsm": "answering_modem",
        "agent_ended": "queued",
        "agent_dial_failed": "queued",
        "ring_timeout": None,
        "treated": None,
        "digit": None,
        "prompt_played": None,
        "announce_due": None,
        "question_timeout": None,
        "customer_ended": "ending",
        "modem_ended": "ending",
    },
    "answering_modem": {
        **_ANY_LIVE,
        "modem_picked_up": None,
        "modem_pickup_failed": "ending",
        "bridge_done": "connected",
        "bridge_failed": "ending",
        "modem_ended": "ending",
        "agent_ended": "ending",
    },
    "dialing_agent": {
        **_ANY_LIVE,
        "agent_answered": "dialing_customer",
        "agent_ended": "ending",
        "agent_dial_failed": "ending",
    },
    "dialing_customer": {
        **_ANY_LIVE,
        "customer_answered": "connected",
        "customer_ended": "ending",
        "customer_dial_failed": "ending",
        "modem_answered": "answering_modem",
        "modem_ended": "ending",
        "modem_dial_failed": "ending",
        "agent_ended": "ending",
    },
    "connected": {
        **_ANY_LIVE,
        "customer_ended": "ending",
        "agent_ended": "ending",
        "modem_ended": "ending",
        "transfer_requested": "transferring",
        "transfer_to_queue": "queued",
        "digit": None,
        "prompt_played": None,
    },
    "consulting": {
        **_ANY_LIVE,
        "transfer_completed": "connected",
        "transfer_cancelled": "connected",
        "consult_target_left": "connected",
        "consult_agent_left": "connected",
        "customer_ended": "ending",
        "digit": None,
        "prompt_played": None,
    },
    "transferring": {
        **_ANY_LIVE,
        "transfer_answered": "connected",
        "consult_answered": "consulting",
        "transfer_cancelled": "connected",
        "transfer_failed_attended": "connected",
        "transfer_failed_requeue": "queued",
        "transfer_failed_end": "ending",
        "transfer_timeout": None,
        "agent_left": None,
        "customer_ended": "ending",
        "digit": None,
        "prompt_played": None,
    },
    "treatment": {
        **_ANY_LIVE,
        "prompt_played": "ending",
        "treatment_timeout": "ending",
        "digit": None,
        "customer_ended": "ending",
        "modem_ended": "ending",
    },
    "ending": {
        **_AFTER,
        "closed": "ended",
        "recording_done": "ended",
        "recording_timeout": "ended",
    },
    "ended": dict(_AFTER),
}


def next_phase(phase: Phase, event: str) -> Phase:
    """The phase after ``event``; :class:`ProtocolError` if the table does not allow it."""
    row = TRANSITIONS[phase]
    if event not in row:
        raise ProtocolError(f"call event {event!r} is not allowed in phase {phase!r}")
    target = row[event]
    return phase if target is None else target


@dataclass(frozen=True, slots=True)
class TransferState:
    """One transfer attempt (the last one stays on the call's record)."""

    kind: Literal["agent", "number", "queue"]
    target: str  # agent id, E.164 number, or queue id
    leg: str  # the leg to the target ("" for a queue)
    from_agent: str | None
    blind: bool = False  # the previous agent has already left the call
    state: Literal["ringing", "consulting", "completed", "failed", "cancelled"] = "ringing"
    detail: str = ""
    timed_out: bool = False
    mode: Literal["attended", "consult", "blind"] = "attended"
    note: str | None = None  # for the target, from the agent who transfers

    def record(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "to": self.target,
            "from_agent": self.from_agent,
            "state": self.state,
            "detail": self.detail,
            "mode": self.mode,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class CallState:
    id: str
    kind: Kind
    direction: Literal["in", "out"]
    contact_id: str
    number: str  # the customer's E.164 (or what the network gave when not a number)
    via: str  # trunk id or modem id
    started_at: float
    policy: CallPolicy
    phase: Phase = "new"
    route: Literal["trunk", "modem"] = "trunk"  # where the customer is
    did: str | None = None  # inbound: the number the customer dialled
    agent: str | None = None  # the agent on the call (busy with it)
    ringing_agent: str | None = None  # inbound: the agent whose phone rings now
    customer_leg: str | None = None
    agent_leg: str | None = None  # the leg of whoever talks to the customer
    legs: frozenset[str] = frozenset()  # legs alive
    seq: int = 0  # leg and timer numbering; never reused
    queue: str = "default"  # the queue the call waits in for an agent
    in_queue: bool = False  # the call has an item in its queue now
    queued_at: float | None = None  # first joined: a return to the queue keeps the place
    offered_agent: str | None = None  # the queue offered this agent; not rung yet
    treated: str | None = None  # why the queue gave up (max_wait, no_agents, closed)
    owner: str | None = None  # an actor told how the call went (a callback's call)
    agent_answered: bool = False  # click-to-call: the agent took their leg
    skill: str | None = None
    worker: int | None = None  # the media worker the call's legs live on
    worker_reserved: bool = False  # GSM: a worker is held for the next agent dial
    recording: bool = False
    recorded_leg: str | None = None
    pcm_leg: str | None = None  # GSM: the SIP leg bridged with the modem's port
    modem_call: bool = False  # GSM: the modem has a call of ours (to hang up at the end)
    transfer: TransferState | None = None
    requeued_from: str | None = None  # the agent of a failed blind transfer, while queued
    timers: tuple[tuple[str, int], ...] = ()  # (name, token) of the armed timers
    cause: str | None = None
    reject_code: int | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    # the contact center: where the call went, what the caller chose and answered
    menu: str | None = None  # the IVR menu the caller is in (set: the call starts there)
    menu_misses: int = 0  # invalid digits and timeouts in this menu
    language: str | None = None  # prompts' language (None: the switch's default)
    choices: tuple[tuple[str, str], ...] = ()  # (menu id, digit) in order
    answers: tuple[tuple[str, str], ...] = ()  # (question id, answer)
    asking: str | None = None  # the question being asked while queued
    asked: int = 0  # questions of the queue asked so far
    digits: str = ""  # digits of the answer so far
    question_misses: int = 0
    audio: str | None = None  # a prompt playing: menu, question, announcement
    identified: bool = False  # the caller's number belonged to a known contact

    def with_(self, **changes: object) -> CallState:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def customer_side(self) -> str | None:
        return self.customer_leg

    def timer_token(self, name: str) -> int | None:
        for timer, token in self.timers:
            if timer == name:
                return token
        return None

    @property
    def status(self) -> Literal["ringing", "answered", "ended"]:
        """The call as the API shows it."""
        if self.phase in ("ending", "ended"):
            return "ended"
        if self.phase in ("connected", "transferring", "consulting", "answering_modem"):
            return "answered"
        return "ringing"
