"""What a message means for a call in its phase: an event name of the table in
:mod:`actors.call.state` (``customer_ended``, ``agent_answered``, ``stale``...).

Pure; imports nothing but ``base`` and this package. A transfer the call cannot take
raises :class:`base.errors.Rejected` here, before anything changes.
"""

from __future__ import annotations

from actors.call.ivr import menu_event
from actors.call.messages import (
    AgentBusy,
    AgentRung,
    Begin,
    BridgeDone,
    BridgeFailed,
    CallMessage,
    CancelTransfer,
    CompleteTransfer,
    DialFailed,
    DtmfReceived,
    EndCall,
    LegAnswered,
    LegEnded,
    ModemAnswered,
    ModemDialFailed,
    ModemEnded,
    ModemPickedUp,
    ModemPickupFailed,
    NoWorkerFree,
    PlayFinished,
    QueueOffer,
    QueueStatus,
    QueueTreatment,
    RecordingDone,
    TimerFired,
    TransferTo,
    WorkerReserved,
)
from actors.call.state import TRANSITIONS, CallState
from base.errors import Rejected

_TIMER_EVENTS = {
    "greeting": "greeting_timeout",
    "treatment": "treatment_timeout",
    "ring": "ring_timeout",
    "transfer": "transfer_timeout",
    "recording": "recording_timeout",
    "question": "question_timeout",
    "announce": "announce_due",
}


def role_of(state: CallState, leg: str) -> str | None:
    if leg not in state.legs:
        return None
    if leg == state.customer_leg:
        return "customer"
    if leg == state.agent_leg:
        return "agent"
    xfer = state.transfer
    if xfer is not None and xfer.state in ("ringing", "consulting") and leg == xfer.leg:
        return "transfer"
    return None


def _transfer_failed_event(state: CallState) -> str:
    xfer = state.transfer
    assert xfer is not None
    if not xfer.blind:
        return "transfer_failed_attended"
    return "transfer_failed_requeue" if state.kind == "inbound" else "transfer_failed_end"


def classify(state: CallState, msg: CallMessage) -> str:
    """What ``msg`` means for this call now (an event name of the table)."""
    live = state.phase not in ("new", "ending", "ended")
    match msg:
        case Begin(refuse=refuse):
            if refuse is not None:
                return "begin_refused"
            if state.kind == "click":
                return "begin_dial_agent"
            if state.kind == "agent_out":
                return "begin_dial_customer"
            if state.menu is not None and state.customer_leg is not None:
                return "begin_menu"
            if state.menu is not None and state.kind == "gsm_in":
                return "begin_modem_menu"
            if state.kind == "inbound" and state.policy.greeting:
                return "begin_greeting"
            return "begin_queue"
        case EndCall():
            return "end_requested"
        case LegEnded(leg=leg, reason="worker_died") if live and leg in state.legs:
            return "worker_died"
        case LegAnswered(leg=leg):
            role = role_of(state, leg) if live else None
            if role == "transfer":
                consult = state.transfer is not None and state.transfer.mode == "consult"
                return "consult_answered" if consult else "transfer_answered"
            if role == "agent" and state.phase == "ringing_agent":
                gsm = state.kind == "gsm_in" and state.customer_leg is None  # not answered
                return "agent_answered_gsm" if gsm else "agent_answered"
            if role == "agent" and state.phase == "dialing_agent":
                return "agent_answered"
            if role == "customer" and state.phase == "dialing_customer":
                return "customer_answered"
            return "stale"
        case LegEnded(leg=leg):
            role = role_of(state, leg) if live else None
            if role == "transfer":
                if state.phase == "consulting":
                    return "consult_target_left"
                return _transfer_failed_event(state)
            if role == "customer":
                return "customer_ended"
            if role == "agent":
                xfer = state.transfer
                if state.phase == "consulting":
                    return "consult_agent_left"
                if state.phase == "transferring" and xfer is not None and not xfer.blind:
                    return "agent_left"
                return "agent_ended"
            return "stale"
        case DialFailed(leg=leg):
            role = role_of(state, leg) if live else None
            if role == "transfer":
                return _transfer_failed_event(state)
            if role == "agent" and state.phase in ("ringing_agent", "dialing_agent"):
                return "agent_dial_failed"
            if role == "customer" and state.phase == "dialing_customer":
                return "customer_dial_failed"
            return "stale"
        case DtmfReceived(leg=leg, digit=digit):
            if state.phase == "ivr" and role_of(state, leg) == "customer":
                return menu_event(state, digit)
            if role_of(state, leg) == "customer" and "digit" in TRANSITIONS[state.phase]:
                return "digit"
            return "stale"
        case PlayFinished(leg=leg):
            if role_of(state, leg) == "customer" and "prompt_played" in TRANSITIONS[state.phase]:
                return "prompt_played"
            return "stale"
        case RecordingDone():
            return "recording_done" if state.phase == "ending" else "stale"
        case BridgeDone():
            if state.phase == "answering_caller":
                return "modem_leg_ready"
            return "bridge_done" if state.phase == "answering_modem" else "stale"
        case BridgeFailed():
            if state.phase == "answering_caller":
                return "modem_leg_failed"
            return "bridge_failed" if state.phase == "answering_modem" else "stale"
        case QueueOffer():
            if state.phase == "queued" and state.in_queue and state.offered_agent is None:
                return "agent_offered"
            return "offer_unneeded"
        case AgentRung(agent=agent):
            if state.phase == "queued" and agent == state.offered_agent:
                return "agent_rung"
            return "agent_unneeded"
        case AgentBusy(agent=agent):
            if state.phase == "queued" and agent == state.offered_agent:
                return "agent_busy"
            return "stale"
        case WorkerReserved():
            if state.phase == "queued" and state.offered_agent is not None:
                return "worker_reserved"
            return "worker_unneeded"
        case NoWorkerFree():
            if state.phase == "queued" and state.offered_agent is not None:
                return "no_worker"
            return "stale"
        case QueueTreatment():
            if state.in_queue and "treated" in TRANSITIONS[state.phase]:
                return "treated"
            return "stale"
        case TimerFired(name=name, token=token):
            if state.timer_token(name) != token:
                return "stale"
            if name == "menu":
                return menu_event(state, None) if state.phase == "ivr" else "stale"
            return _TIMER_EVENTS[name]
        case QueueStatus():
            return "queue_status" if state.phase == "queued" else "stale"
        case ModemAnswered():
            return "modem_answered" if state.phase == "dialing_customer" else "stale"
        case ModemEnded():
            if state.modem_call and "modem_ended" in TRANSITIONS[state.phase]:
                return "modem_ended"
            return "stale"
        case ModemDialFailed():
            return "modem_dial_failed" if state.phase == "dialing_customer" else "stale"
        case ModemPickedUp():
            answering = state.phase in ("answering_modem", "answering_caller")
            return "modem_picked_up" if answering else "stale"
        case ModemPickupFailed():
            answering = state.phase in ("answering_modem", "answering_caller")
            return "modem_pickup_failed" if answering else "stale"
        case TransferTo(kind=kind, target=target):
            _check_transfer(state, kind, target)
            return "transfer_to_queue" if kind == "queue" else "transfer_requested"
        case CompleteTransfer():
            if state.phase != "consulting":
                raise Rejected("no_consultation", f"call {state.id} has no consultation", 409)
            return "transfer_completed"
        case CancelTransfer():
            xfer = state.transfer
            if state.phase == "consulting" or (
                state.phase == "transferring" and xfer is not None and not xfer.blind
            ):
                return "transfer_cancelled"
            raise Rejected("no_transfer", f"call {state.id} has no transfer to cancel", 409)
    raise TypeError(f"a call cannot handle {type(msg).__name__}")


def _check_transfer(state: CallState, kind: str, target: str) -> None:
    if state.phase in ("ending", "ended"):
        raise Rejected("call_ended", f"call {state.id} has ended", 409)
    if state.kind == "gsm_in" or state.route == "modem":
        raise Rejected("not_supported", f"call {state.id} is a GSM call: no transfer", 409)
    if state.phase in ("transferring", "consulting"):
        raise Rejected("transfer_in_progress", f"call {state.id} is being transferred", 409)
    if state.phase != "connected" or state.customer_leg is None:
        raise Rejected("not_answered", f"call {state.id} is not answered yet", 409)
    if kind == "agent" and target == state.agent:
        raise Rejected("same_agent", f"{target} already has call {state.id}", 409)
