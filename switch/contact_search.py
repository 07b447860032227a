"""Finding contacts the way a person asks: by a number (whole, or a piece of one), a
name, or any text that was said (an SMS, a note, an attribute).

A whole number goes through the identity directory (exact and cheap); anything else is
looked for in the contacts' event logs (names, identities and texts are all there), the
most recently mentioned first. A contact merged into another is shown as the one it
became.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from actors.contact import ContactState
from base.errors import Rejected

if TYPE_CHECKING:
    from switch.core import Core

MIN_TEXT = 2
_NUMBERISH = re.compile(r"^[+\d][\d\s().\-/]*$")


def needle(text: str) -> str:
    """What to look for in the stored events: a piece of a number as digits, other
    text as it is stored in JSON (quotes and backslashes escaped)."""
    text = text.strip()
    if _NUMBERISH.match(text):
        digits = re.sub(r"\D", "", text)
        # a national number's trunk prefix is not in the stored E.164 form
        return digits[1:] if digits.startswith("0") and len(digits) > 3 else digits
    return json.dumps(text, ensure_ascii=False)[1:-1]


async def search_contacts(core: Core, text: str, limit: int = 20) -> list[ContactState]:
    text = text.strip()
    if len(text) < MIN_TEXT:
        raise Rejected("invalid_request", f"search for at least {MIN_TEXT} characters", 422)
    found: list[ContactState] = []
    seen: set[str] = set()

    async def add(state: ContactState) -> None:
        hops = 0
        while state.merged_into is not None and hops < 10:
            state = await core.contact_state(state.merged_into)
            hops += 1
        if state.contact_id not in seen and state.merged_into is None:
            seen.add(state.contact_id)
            found.append(state)

    if _NUMBERISH.match(text):
        try:
            for state in await core.contacts_by_phone(text):
                await add(state)
        except Rejected:
            pass  # not a whole number: a piece of one, looked for below
    for actor in core.store.actors_mentioning("contact:", needle(text), limit=limit * 2):
        if len(found) >= limit:
            break
        try:
            await add(await core.contact_state(actor.partition(":")[2]))
        except Rejected:
            continue  # an actor id that is no contact (yet)
    return found[:limit]
