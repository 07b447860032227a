""" "Leave your number": the shell around :mod:`actors.verification`.

One actor per visitor (``verify:<visitor>``) keeps their verification (``widget_verify``
records) and serialises their requests (two tabs typing codes at once are taken in
turn). It makes the codes (6 random digits), keeps only their keyed hash, shares each
number's counters with every visitor (``widget_number`` records), sends the code by SMS
in the page's language, and, once the number is proven, joins the visitor to it:

- nobody has the number yet: it becomes an identity of the visitor's contact;
- the visitor has no contact yet: their web identity joins the number's contact;
- both exist: the visitor's contact is merged into the number's (the agent then sees
  SMS, calls and chat as one journey), and its open conversations move along.

Nothing joins before the code is right: a wrong, expired or missing code changes
nothing but the counters.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from actors import verification as vf
from actors.messages import AddIdentity
from actors.runtime import Actor, Registry
from actors.store import Put, Write
from base.errors import ChannelUnavailable, Rejected
from switch.center.texts import text
from switch.phone import phone_identity
from switch.widget.visitor import VisitorKeys, visitor_identity

if TYPE_CHECKING:
    from switch.core import Core

log = structlog.get_logger("widget")

VERIFY_NS = "widget_verify"
NUMBER_NS = "widget_number"
CODE_DIGITS = 6


@dataclass(frozen=True, slots=True)
class RequestCode:
    phone: str  # E.164
    language: str


@dataclass(frozen=True, slots=True)
class CheckCode:
    code: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the page is told: ``code_sent``, ``verified`` or ``refused`` (``reason``)."""

    state: str
    phone: str | None = None
    reason: str | None = None
    left: int | None = None
    until: float | None = None
    contact_id: str | None = None


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


class VerifyActor(Actor):
    __slots__ = ("core", "keys", "state")

    def __init__(self, actor_id: str, registry: Registry, core: Core, keys: VisitorKeys) -> None:
        super().__init__(actor_id, registry)
        self.core = core
        self.keys = keys
        visitor = actor_id.partition(":")[2]
        policy = policy_of(core)
        record = core.store.get(VERIFY_NS, visitor)
        self.state = (
            vf.VerificationState.from_json(record, policy)
            if isinstance(record, dict)
            else vf.VerificationState(visitor, policy=policy)
        )

    async def handle(self, message: Any) -> Any:
        visitor = self.state.visitor
        code = ""
        match message:
            case RequestCode(phone=phone):
                code = new_code()
                msg: vf.VerificationMessage = vf.AskCode(
                    phone, self.keys.code_hash(visitor, phone, code), self._number(phone)
                )
            case CheckCode(code=typed):
                phone = self.state.phone or ""
                msg = vf.TryCode(self.keys.code_hash(visitor, phone, typed), self._number(phone))
            case _:
                raise TypeError(f"verification cannot handle {type(message).__name__}")
        state, effects = vf.decide(self.state, msg, self.core.clock.now())
        puts = [Put(VERIFY_NS, visitor, state.to_json())]
        puts += [
            Put(NUMBER_NS, e.number.phone, e.number.to_json())
            for e in effects
            if isinstance(e, vf.SaveNumber)
        ]
        await self.core.store.write(Write(puts=tuple(puts)))
        self.state = state
        for effect in effects:
            match effect:
                case vf.Refused(reason=reason, left=left, until=until):
                    log.info("widget_code_refused", visitor=visitor, reason=reason)
                    return Outcome("refused", state.phone, reason, left, until)
                case vf.SendCode(phone=phone):
                    assert isinstance(message, RequestCode)
                    await self._send(phone, code, message.language)
                    return Outcome("code_sent", phone)
                case vf.Proven(phone=phone):
                    contact_id = await join(self.core, visitor, phone)
                    log.info("widget_number_proven", visitor=visitor, contact_id=contact_id)
                    return Outcome("verified", phone, contact_id=contact_id)
        return Outcome("refused", state.phone, "no_code")

    def _number(self, phone: str) -> vf.NumberState:
        record = self.core.store.get(NUMBER_NS, phone) if phone else None
        return (
            vf.NumberState.from_json(record) if isinstance(record, dict) else vf.NumberState(phone)
        )

    async def _send(self, phone: str, code: str, language: str) -> None:
        sms = self.core.sms
        if sms is None:
            raise Rejected("unavailable", "this switch sends no SMS (no modems)", 503)
        minutes = max(1, self.state.policy.code_ttl // 60)
        body = text("widget_code", language, code=code, minutes=int(minutes))
        try:
            await sms.submit(phone, body)
        except ChannelUnavailable as exc:
            raise Rejected("unavailable", f"the code could not be sent: {exc}", 503) from None


def policy_of(core: Core) -> vf.VerifyPolicy:
    widget = core.config.widget
    return vf.VerifyPolicy(
        code_ttl=float(widget.code_ttl),
        attempts=widget.code_attempts,
        lock=widget.lock_minutes * 60.0,
        codes_per_hour=widget.codes_per_hour,
    )


async def join(core: Core, visitor: str, phone: str) -> str:
    """Join a visitor who proved ``phone`` to the number's contact; the contact's id."""
    web = visitor_identity(visitor)
    now = core.clock.now()
    mine = core.directory.lookup(web)
    theirs = await core.contacts_by_phone(phone)
    if mine is not None:
        mine = (await core.conversations.live_contact(mine)).contact_id
    if not theirs:
        if mine is None:
            mine = await core.directory.contact_for(web)
        await core.registry.ask(f"contact:{mine}", AddIdentity(phone_identity(phone), now))
        return mine
    into = theirs[0].contact_id
    if mine is None:
        await core.registry.ask(f"contact:{into}", AddIdentity(web, now))
    elif mine != into:
        await core.merge(into, mine)
        await core.conversations.move(mine, into)
    return into
