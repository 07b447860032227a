"""Desktop sessions: who is signed in, kept in the store so a restart signs nobody out.

A person signs in (``POST /api/v1/login``) with the id and password of an ``[[agents]]``
or ``[[users]]`` entry (:func:`people`); they get a random session token in an
HttpOnly cookie and a CSRF token for the requests that change something. Rules:

- The store keeps ``sha256(token)``, never the token: a copy of the database signs
  nobody in. Records live in the ``session`` namespace with the user, the CSRF token,
  when it was created and last used, and a stamp of the password hash it was opened
  with.
- A session ends after ``http.session_idle`` seconds without a request, when the person
  signs out, when they leave the config, when their role changes, or when their
  password hash changes (a new password signs every old session out).
- "Last used" is kept in memory on every request and written to the store at most once
  a minute per session (:data:`TOUCH_EVERY`): after a restart a session may look up to
  a minute older than it was, never younger.

People's preferences (the desktop's language) are records of the ``user_prefs``
namespace, keyed by user id.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import structlog

from actors.store import Put, Write
from base.errors import SwitchError

if TYPE_CHECKING:
    import asyncio

    from base.clock import Clock
    from switch.config import Config
    from switch.store import Store

log = structlog.get_logger("sessions")

__all__ = [
    "COOKIE",
    "CSRF_HEADER",
    "LANGUAGES",
    "Person",
    "PersonRole",
    "Session",
    "Sessions",
    "cookie_value",
    "people",
]

SESSION_NS = "session"
PREFS_NS = "user_prefs"
COOKIE = "switch_session"
CSRF_HEADER = "x-csrf-token"
TOUCH_EVERY = 60.0
LANGUAGES = ("en", "km", "th", "fa")

PersonRole = Literal["agent", "operator", "technician"]


@dataclass(frozen=True, slots=True)
class Person:
    """Someone who may sign in to the desktop (from the config)."""

    id: str
    role: PersonRole
    name: str
    password_hash: str | None
    language: str | None = None

    @property
    def stamp(self) -> str:
        return _digest(self.password_hash or "")[:16]


def people(config: Config) -> dict[str, Person]:
    """Agents and users by id (ids are unique across both: the config checks it)."""
    out = {
        a.id: Person(a.id, "agent", a.name or a.id, a.password_hash, a.language)
        for a in config.agents
    }
    for u in config.users:
        out[u.id] = Person(u.id, u.role, u.name or u.id, u.password_hash, u.language)
    return out


@dataclass(frozen=True, slots=True)
class Session:
    key: str  # sha256 of the token, hex
    user: str
    role: PersonRole
    csrf: str
    created: float
    last_seen: float
    stamp: str  # the password hash's stamp when the session was opened

    def to_json(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "role": self.role,
            "csrf": self.csrf,
            "created": self.created,
            "last_seen": self.last_seen,
            "stamp": self.stamp,
        }

    @classmethod
    def from_json(cls, key: str, data: dict[str, Any]) -> Session:
        return cls(
            key,
            str(data["user"]),
            data["role"],
            str(data["csrf"]),
            float(data["created"]),
            float(data["last_seen"]),
            str(data.get("stamp", "")),
        )


def cookie_value(header: str, name: str) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` header (other cookies of the host,
    however odd, do not matter)."""
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip().strip('"') or None
    return None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Sessions:
    """Open, find and close sessions; the store holds them, a cache serves lookups."""

    def __init__(self, store: Store, config: Config, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.idle = config.http.session_idle
        self.people = people(config)
        self._cache: dict[str, Session] = {}
        self._written: dict[str, float] = {}  # key -> last_seen as stored

    def person(self, user_id: str) -> Person | None:
        return self.people.get(user_id)

    async def open(self, person: Person) -> tuple[str, Session]:
        """A new session for ``person``: (the cookie's token, the session)."""
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        csrf = secrets.token_urlsafe(24)
        session = Session(_digest(token), person.id, person.role, csrf, now, now, person.stamp)
        await self.store.put(SESSION_NS, session.key, session.to_json())
        self._cache[session.key] = session
        self._written[session.key] = now
        return token, session

    def find(self, token: str) -> Session | None:
        """The live session of a cookie's token (and note that it was used now), or None."""
        if not token or len(token) > 128:
            return None
        key = _digest(token)
        session = self._cache.get(key)
        if session is None:
            record = self.store.get(SESSION_NS, key)
            if not isinstance(record, dict):
                return None
            try:
                session = Session.from_json(key, record)
            except (KeyError, TypeError, ValueError):
                log.warning("session_record_unreadable", key=key[:12])
                return None
            self._written[key] = session.last_seen
        now = self.clock.now()
        person = self.people.get(session.user)
        if (
            person is None
            or person.role != session.role
            or person.stamp != session.stamp
            or now - session.last_seen > self.idle
        ):
            self._forget(key)
            return None
        session = replace(session, last_seen=max(session.last_seen, now))
        self._cache[key] = session
        if now - self._written.get(key, 0.0) >= TOUCH_EVERY:
            self._written[key] = now
            self._submit(Put(SESSION_NS, key, session.to_json()))
        return session

    async def close(self, session: Session) -> None:
        self._cache.pop(session.key, None)
        self._written.pop(session.key, None)
        await self.store.put(SESSION_NS, session.key, None)

    def signed_in(self) -> list[Session]:
        """Sessions used within the idle time (from the cache: this run's)."""
        now = self.clock.now()
        return [s for s in self._cache.values() if now - s.last_seen <= self.idle]

    def sweep(self) -> int:
        """Delete the stored sessions that ended (at start, then now and then)."""
        now = self.clock.now()
        gone = 0
        for key, record in self.store.scan(SESSION_NS):
            try:
                session = Session.from_json(key, record)
                dead = now - session.last_seen > self.idle or session.user not in self.people
            except (KeyError, TypeError, ValueError):
                dead = True
            if dead:
                self._forget(key)
                gone += 1
        return gone

    # ----------------------------------------------------------- preferences

    def language(self, user_id: str) -> str:
        record = self.store.get(PREFS_NS, user_id)
        if isinstance(record, dict) and record.get("language") in LANGUAGES:
            return str(record["language"])
        person = self.people.get(user_id)
        return (person.language if person is not None else None) or "en"

    async def set_language(self, user_id: str, language: str) -> None:
        record = self.store.get(PREFS_NS, user_id)
        prefs = dict(record) if isinstance(record, dict) else {}
        prefs["language"] = language
        await self.store.put(PREFS_NS, user_id, prefs)

    # --------------------------------------------------------------- helpers

    def _forget(self, key: str) -> None:
        self._cache.pop(key, None)
        self._written.pop(key, None)
        self._submit(Put(SESSION_NS, key, None))

    def _submit(self, put: Put) -> None:
        """Write without waiting (a lookup must not wait for the disk); a failure is
        logged: at worst a session looks a minute older, or an ended one is deleted
        at the next sweep."""
        try:
            future = self.store.submit(Write(puts=(put,)))
        except SwitchError as exc:  # the store is closing
            log.info("session_write_skipped", error=str(exc))
            return

        def done(f: asyncio.Future[Any]) -> None:
            if not f.cancelled() and f.exception() is not None:
                log.warning("session_write_failed", error=repr(f.exception()))

        future.add_done_callback(done)
