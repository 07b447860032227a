"""Supervision requests (``POST /api/v1/calls/{id}/supervise``): whose phone to dial,
the call's own checks first, then the call actor (:mod:`actors.call.supervise`).

The supervisor's phone is a SIP user registered at the edge (an agent's ``sip_user``,
or an agent id whose phone it is), else a number dialled through the trunk that takes
it. Without a phone, a signed-in person who is also an agent with a SIP phone is
dialled on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from actors.call import CallState
from actors.call import messages as msg
from actors.call.classify import classify
from base.errors import Rejected
from switch.calls.records import call_record
from switch.calls.routing import choose_trunk

if TYPE_CHECKING:
    from switch.calls.service import CallService

Mode = Literal["listen", "whisper", "barge"]


def supervisor_phone(
    service: CallService, phone: str | None, user: str | None
) -> tuple[str | None, str | None, str | None]:
    """``(sip_user, number, trunk)`` of the supervisor's phone."""
    agents = service.agents_cfg
    if phone is None:
        cfg = agents.get(user) if user is not None else None
        if cfg is None or not cfg.sip_user:
            raise Rejected("bad_request", "give 'phone': the supervisor's SIP user or number", 422)
        return cfg.sip_user, None, None
    sip_users = {a.sip_user for a in agents.values() if a.sip_user}
    if phone in sip_users:
        return phone, None, None
    cfg = agents.get(phone)
    if cfg is not None and cfg.sip_user:
        return cfg.sip_user, None, None
    if not service.trunks:
        raise Rejected("bad_request", f"{phone!r} is no SIP user here, and there is no trunk", 422)
    number = service.core.normalize(phone)
    trunk = choose_trunk(list(service.trunks.values()), number)
    return None, number, trunk.id


async def supervise(
    service: CallService, call_id: str, mode: Mode, phone: str | None, by: str, user: str | None
) -> dict[str, Any]:
    """Dial the supervisor into the answered call (or change the mode); the call record.
    404: no such call; 409: ended, not a conversation now, a GSM call."""
    state = service.live_call(call_id)
    sip_user, number, trunk = supervisor_phone(service, phone, user)
    message = msg.Supervise(mode, by, sip_user, number, trunk)
    classify(state, message)  # the call's own conditions first: nothing dialled if not
    new: CallState = await service.core.registry.ask(f"call:{call_id}", message)
    return call_record(new, service.recordings)
