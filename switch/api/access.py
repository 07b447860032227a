"""What a signed-in person may do: every role limit of ``/api/v1``, in one table.

Rules: every route a person may use is listed in :data:`RULES` as ``(method, path
template) -> Rule``; a route not listed is for operators only (a route added later is
closed to agents and technicians until someone decides otherwise). Bearer tokens are
for machines and keep the checks they always had (a technician token for raw AT and
the audit trail): this table is about people.

- **operator**: everything of the box (agents, queues, contacts, calls, statistics,
  recordings, the audit trail; modems and trunks to read and check), but not a modem's
  raw AT or USSD.
- **technician**: modems (diagnose, USSD, raw AT), trunks (list, test), the audit trail,
  the box's health, a config reload.
- **agent**: their own state; their own work: the contacts they serve (an open
  conversation of theirs, the call they are on or being offered, or the last agent who
  served them), the calls they are on, replying, notes, click-to-call as themselves;
  the contact search by number and the queues' counts. Not other agents, not modems,
  not the audit trail.

:func:`decide` is pure (role, method, template -> allowed, refused, or "if it is their
own"); :func:`authorize`, a dependency of the whole app, looks ownership up. A refusal
is 403 with the API's error body.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from fastapi import Request

from actors.agent import GetAgent
from base.errors import Rejected
from switch.api.auth import Caller

if TYPE_CHECKING:
    from switch.core import Core

__all__ = ["RULES", "Rule", "authorize", "decide"]

Own = Literal[
    "any",  # nothing to check: any agent may
    "self",  # the path's {agent_id} is the agent
    "query_self",  # the query's agent=... is the agent
    "body_self",  # the body's "agent" is the agent (or absent, for replies)
    "contact",  # the path's {contact_id} is a contact the agent serves
    "contact_reply",  # "contact", and the body's "agent" is the agent or absent
    "call",  # the path's {call_id} is a call the agent is on
]

OPS = frozenset({"operator"})
TECH = frozenset({"technician"})
OPS_TECH = OPS | TECH
EVERYONE = frozenset({"agent", "operator", "technician"})
V1 = "/api/v1"


@dataclass(frozen=True, slots=True)
class Rule:
    roles: frozenset[str]  # roles allowed outright
    agent: Own | None = None  # what an agent may, if anything


RULES: dict[tuple[str, str], Rule] = {
    # the session itself, and helpers of the desktop
    ("GET", "/session"): Rule(EVERYONE),
    ("POST", "/session/language"): Rule(EVERYONE),
    ("POST", "/logout"): Rule(EVERYONE),
    ("GET", "/numbers"): Rule(EVERYONE),
    # agents and queues
    ("GET", "/agents"): Rule(OPS),
    ("GET", "/agents/{agent_id}"): Rule(OPS, "self"),
    ("POST", "/agents/{agent_id}/state"): Rule(OPS, "self"),
    ("GET", "/queues"): Rule(OPS, "any"),
    ("GET", "/queues/{queue_id}"): Rule(OPS),
    ("POST", "/callbacks"): Rule(OPS, "any"),
    ("GET", "/callbacks"): Rule(OPS),
    ("GET", "/callbacks/{callback_id}"): Rule(OPS),
    ("GET", "/conversations"): Rule(OPS, "query_self"),
    ("GET", "/stats"): Rule(OPS),
    # contacts
    ("GET", "/contacts"): Rule(OPS, "any"),
    ("GET", "/contacts/{contact_id}"): Rule(OPS, "contact"),
    ("PATCH", "/contacts/{contact_id}"): Rule(OPS, "contact"),
    ("GET", "/contacts/{contact_id}/journey"): Rule(OPS, "contact"),
    ("POST", "/contacts/{contact_id}/notes"): Rule(OPS, "contact"),
    ("POST", "/contacts/{contact_id}/wrapup"): Rule(OPS, "contact"),
    ("POST", "/contacts/{contact_id}/messages"): Rule(OPS, "contact_reply"),
    ("POST", "/contacts/{contact_id}/conversation/close"): Rule(OPS, "contact"),
    ("GET", "/contacts/{contact_id}/chat"): Rule(OPS, "contact"),  # the web chat, live
    ("POST", "/contacts/{contact_id}/typing"): Rule(OPS, "contact_reply"),
    ("POST", "/contacts/{contact_id}/merge"): Rule(OPS),
    ("POST", "/contacts/{contact_id}/unmerge"): Rule(OPS),
    # calls
    ("GET", "/calls"): Rule(OPS),
    ("GET", "/recordings"): Rule(OPS),
    ("GET", "/calls/{call_id}"): Rule(OPS, "call"),
    ("GET", "/calls/{call_id}/recording"): Rule(OPS, "call"),
    ("POST", "/calls"): Rule(OPS, "body_self"),
    ("POST", "/calls/{call_id}/transfer"): Rule(OPS, "call"),
    ("POST", "/calls/{call_id}/transfer/complete"): Rule(OPS, "call"),
    ("POST", "/calls/{call_id}/transfer/cancel"): Rule(OPS, "call"),
    ("POST", "/calls/{call_id}/supervise"): Rule(OPS),
    ("POST", "/webrtc/credentials"): Rule(OPS, "body_self"),
    # messages
    ("POST", "/messages"): Rule(OPS),
    ("GET", "/outbox"): Rule(OPS_TECH),
    ("GET", "/messages/{message_id}"): Rule(OPS),
    # the box: modems, trunks, audit
    ("GET", "/modems"): Rule(OPS_TECH),
    ("POST", "/modems/{modem_id}/diagnose"): Rule(OPS_TECH),
    ("POST", "/modems/{modem_id}/ussd"): Rule(TECH),
    ("POST", "/modems/{modem_id}/at"): Rule(TECH),
    ("POST", "/simulator/sms"): Rule(OPS_TECH),
    ("GET", "/trunks"): Rule(OPS_TECH),
    ("POST", "/trunks/{trunk_id}/test"): Rule(OPS_TECH),
    ("GET", "/audit"): Rule(OPS_TECH),
    ("GET", "/health"): Rule(OPS_TECH),
    ("POST", "/config/reload"): Rule(OPS_TECH),
    ("GET", "/config/check"): Rule(OPS_TECH),
}
DEFAULT = Rule(OPS)

Verdict = Literal["allow", "deny"] | Own


def decide(role: str, method: str, template: str) -> Verdict:
    """What ``role`` may do with ``method`` on the route ``template`` (under /api/v1)."""
    rule = RULES.get((method, template.removeprefix(V1)), DEFAULT)
    if role in rule.roles:
        return "allow"
    if role == "agent" and rule.agent is not None:
        return rule.agent
    return "deny"


def _forbidden(message: str) -> Rejected:
    return Rejected("forbidden", message, 403)


async def authorize(request: Request) -> None:
    """The app's dependency: refuse (403) what the signed-in person may not do."""
    caller = getattr(request.state, "caller", None)
    if not isinstance(caller, Caller) or caller.user is None:
        return  # a bearer token (or no /api/v1 route): the routes' own checks apply
    route = request.scope.get("route")
    template = str(getattr(route, "path", request.url.path))
    verdict = decide(caller.role, request.method, template)
    if verdict == "allow" or verdict == "any":
        return
    if verdict == "deny":
        raise _forbidden(f"a signed-in {caller.role} may not do this")
    await _check_own(request, caller.user, verdict)


async def _check_own(request: Request, agent: str, own: Own) -> None:
    core: Core = request.app.state.core
    params = request.path_params
    if own == "self" and params.get("agent_id") != agent:
        raise _forbidden("an agent sees and changes only their own state")
    if own == "query_self" and request.query_params.get("agent") != agent:
        raise _forbidden(f"an agent lists only their own work: add agent={agent}")
    if own in ("body_self", "contact_reply"):
        named = await _body_agent(request)
        if named != agent and (own == "body_self" or named is not None):
            raise _forbidden("an agent acts only as themselves")
    if own in ("contact", "contact_reply"):
        contact_id = str(params.get("contact_id", ""))
        if not await serves_contact(core, agent, contact_id):
            raise _forbidden("this contact is not in your work")
    if own == "call" and not await on_call(core, agent, str(params.get("call_id", ""))):
        raise _forbidden("this call is not yours")


async def _body_agent(request: Request) -> str | None:
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        return None  # not JSON: the route answers 400
    value = body.get("agent") if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


async def current_call(core: Core, agent: str) -> str | None:
    if agent not in core.profiles:
        return None
    state = await core.registry.ask(f"agent:{agent}", GetAgent())
    call: str | None = state.current_call
    return call


async def on_call(core: Core, agent: str, call_id: str) -> bool:
    """The agent is on (or being offered) the call, or answered it."""
    if not call_id or len(call_id) > 64:
        return False
    if await current_call(core, agent) == call_id:
        return True
    record = core.store.get("call", call_id)
    return isinstance(record, dict) and record.get("agent") == agent


async def serves_contact(core: Core, agent: str, contact_id: str) -> bool:
    """The contact is in the agent's work: an open conversation of theirs, the call they
    are on or offered, or they served the contact last."""
    if not contact_id or len(contact_id) > 64:
        return False
    for channel in ("sms", "chat"):
        record = core.store.get("conversation", f"{contact_id}.{channel}")
        if (
            isinstance(record, dict)
            and record.get("agent") == agent
            and record.get("state") not in (None, "idle")
        ):
            return True
    call = await current_call(core, agent)
    if call is not None:
        record = core.store.get("call", call)
        if isinstance(record, dict) and record.get("contact_id") == contact_id:
            return True
        live = core.calls.states.get(call) if core.calls is not None else None
        if live is not None and live.contact_id == contact_id:
            return True
    try:
        state = await core.contact_state(contact_id)
    except Rejected:
        return False
    return state.last_agent == agent
