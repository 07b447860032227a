"""Identity directory: find-or-create the contact that owns an identity.

One place decides which contact owns ``phone:+855...``, so two messages from a new
number arriving at once land in the same, single new contact. Creation is durable
(the ``contact_created`` event and the identity record commit together) before the
contact id is handed out.
"""

from __future__ import annotations

import asyncio
import secrets

from actors.contact import IDENTITY_NS
from actors.runtime import ActorRef, Registry
from actors.store import Event, EventStore, Put, Write


class Directory:
    def __init__(self, registry: Registry, store: EventStore) -> None:
        self.registry = registry
        self.store = store
        self._locks: dict[str, asyncio.Lock] = {}

    def lookup(self, identity: str) -> str | None:
        """The contact id owning ``identity``, or None."""
        value = self.store.get(IDENTITY_NS, identity)
        return str(value) if value is not None else None

    async def contact_for(self, identity: str, *, name: str | None = None) -> str:
        """The id of the contact owning ``identity``, created (durably) if none does."""
        found = self.lookup(identity)
        if found is not None:
            return found
        lock = self._locks.setdefault(identity, asyncio.Lock())
        try:
            async with lock:
                found = self.lookup(identity)
                if found is not None:
                    return found
                contact_id = secrets.token_hex(8)
                data = {"identities": [identity], "name": name}
                await self.store.write(
                    Write(
                        events=(
                            Event(
                                f"contact:{contact_id}",
                                "contact_created",
                                self.registry.clock.now(),
                                data,
                            ),
                        ),
                        puts=(Put(IDENTITY_NS, identity, contact_id),),
                    )
                )
                return contact_id
        finally:
            if not lock.locked() and not lock._waiters:  # type: ignore[attr-defined]
                self._locks.pop(identity, None)

    async def ref_for(self, identity: str) -> ActorRef:
        return self.registry.ref(f"contact:{await self.contact_for(identity)}")
