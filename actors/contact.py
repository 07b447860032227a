"""The contact actor: one customer's memory across every channel.

Theory of operation
-------------------
The contact's durable history is its event log in the store (actor id
``contact:<id>``). :func:`evolve` folds one stored event into a small in-memory
:class:`ContactState`; :func:`decide` turns an incoming message into the events to
record and the reply, without I/O and with the clock passed in. The actor shell
(:class:`ContactActor`) persists the decided events first and only then adopts the new
state and replies, so whatever a caller was told is on disk.

Journey events carry ``channel`` and ``kind`` (see :data:`actors.messages.JOURNEY_KINDS`);
bookkeeping events (``contact_created``, ``identity_added``, ``merged``...) are not part
of the customer's journey. A call's phases are recorded once each: however many agent
phones ring, the journey shows one ``call_started``, at most one ``call_answered`` and
one ``call_ended``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from actors.messages import (
    JOURNEY_KINDS,
    AddIdentity,
    AddNote,
    CallEvent,
    GetContact,
    InboundMessage,
    JourneyEntry,
    MergeFrom,
    OutboundMessage,
    Reload,
    SetDetails,
    UndoMerge,
)
from actors.metrics import JOURNEY_EVENTS
from actors.runtime import Actor, Registry
from actors.store import Committed, Event, EventStore, Put, Snapshot, StoredEvent, Write
from base.errors import Rejected
from base.timestamps import iso_utc

IDENTITY_NS = "identity"


@dataclass(frozen=True, slots=True)
class ContactState:
    contact_id: str
    exists: bool = False
    identities: tuple[str, ...] = ()
    name: str | None = None
    created_at: float = 0.0
    last_channel: str | None = None
    last_at: float = 0.0
    journey_len: int = 0
    merged_from: tuple[str, ...] = ()
    merged_into: str | None = None
    # Calls seen, with the phases already recorded: (call_id, "s"|"sa"|"sae"...)
    calls: tuple[tuple[str, str], ...] = ()
    absorbed: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())
    last_agent: str | None = None  # who served the customer last (sticky routing)
    attributes: tuple[tuple[str, str], ...] = ()  # what people noted: ("plan", "gold")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.contact_id,
            "identities": list(self.identities),
            "name": self.name,
            "created_at": self.created_at,
            "last_channel": self.last_channel,
            "last_at": self.last_at or None,
            "journey_events": self.journey_len,
            "merged_from": list(self.merged_from),
            "merged_into": self.merged_into,
        }
        if self.attributes:  # (absent when none: a contact's form before attributes)
            out["attributes"] = dict(self.attributes)
        return out

    def snapshot_json(self) -> dict[str, Any]:
        return {
            **self.to_json(),
            "calls": [list(c) for c in self.calls],
            "absorbed": [[cid, list(ids)] for cid, ids in self.absorbed],
            "last_agent": self.last_agent,
        }

    def phases(self, call_id: str) -> str:
        for cid, phases in self.calls:
            if cid == call_id:
                return phases
        return ""


_PHASE_CODE = {"started": "s", "answered": "a", "ended": "e"}
_MAX_CALLS_REMEMBERED = 20


def evolve(state: ContactState, kind: str, at: float, data: dict[str, Any]) -> ContactState:
    """Fold one recorded event into the state (pure)."""
    if kind == "contact_created":
        return replace(
            state,
            exists=True,
            identities=tuple(data.get("identities", ())),
            name=data.get("name"),
            created_at=at,
        )
    if kind == "details_changed":
        return replace(
            state, name=data.get("name"), attributes=tuple(data.get("attributes", {}).items())
        )
    if kind == "identity_added":
        if data["identity"] in state.identities:
            return state
        return replace(state, identities=(*state.identities, data["identity"]))
    if kind == "merged":
        ids = tuple(i for i in data["identities"] if i not in state.identities)
        return replace(
            state,
            identities=state.identities + ids,
            merged_from=(*state.merged_from, data["other"]),
            absorbed=(*state.absorbed, (data["other"], ids)),
        )
    if kind == "merge_undone":
        moved = set(data["identities"])
        return replace(
            state,
            identities=tuple(i for i in state.identities if i not in moved),
            merged_from=tuple(c for c in state.merged_from if c != data["other"]),
            absorbed=tuple(a for a in state.absorbed if a[0] != data["other"]),
        )
    if kind == "merged_into":
        return replace(state, merged_into=data["into"])
    if kind == "unmerged":
        return replace(state, merged_into=None)
    if kind in ("call_answered", "dequeued") and data.get("agent"):
        state = replace(state, last_agent=data["agent"])
    if kind in {"call_started", "call_answered", "call_ended"}:
        code = _PHASE_CODE[kind.removeprefix("call_")]
        call_id = data["call_id"]
        calls = [c for c in state.calls if c[0] != call_id]
        calls.append((call_id, state.phases(call_id) + code))
        state = replace(state, calls=tuple(calls[-_MAX_CALLS_REMEMBERED:]))
    if "channel" in data:
        channel = data["channel"]
        return replace(
            state,
            journey_len=state.journey_len + 1,
            last_at=at,
            last_channel=channel if channel != "note" else state.last_channel,
        )
    return state


@dataclass(frozen=True, slots=True)
class Decision:
    events: tuple[tuple[str, dict[str, Any]], ...] = ()
    puts: tuple[Put, ...] = ()
    idem: str | None = None
    reply: Any = None


def _journey(
    state: ContactState, channel: str, kind: str, data: dict[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    """The journey event, preceded by ``channel_switched`` when the channel changes."""
    out: list[tuple[str, dict[str, Any]]] = []
    if (
        channel != "note"
        and state.last_channel is not None
        and state.last_channel != channel
        and kind in {"message_in", "message_out", "call_started"}
    ):
        out.append(
            ("channel_switched", {"channel": channel, "from": state.last_channel, "to": channel})
        )
    out.append((kind, {"channel": channel, **{k: v for k, v in data.items() if v is not None}}))
    return out


def decide(state: ContactState, message: Any, now: float) -> Decision:
    """What to record, and what to answer, for ``message`` (pure; ``now`` injected)."""
    if not state.exists and not isinstance(message, (GetContact, Reload)):
        raise Rejected("unknown_contact", f"contact {state.contact_id} does not exist", 404)
    match message:
        case GetContact():
            return Decision(reply=state)
        case InboundMessage():
            data = {
                "text": message.text,
                "via": message.via,
                "from": message.sender,
                "message_id": message.message_id,
                "parts": message.parts,
                "incomplete": message.incomplete or None,
            }
            return Decision(
                events=tuple(_journey(state, message.channel, "message_in", data)),
                puts=message.puts,
                idem=message.idem,
            )
        case OutboundMessage():
            data = {
                "text": message.text,
                "via": message.via,
                "to": message.recipient,
                "message_id": message.message_id,
                "parts": message.parts,
            }
            return Decision(
                events=tuple(_journey(state, message.channel, "message_out", data)),
                puts=message.puts,
                idem=message.idem,
            )
        case CallEvent():
            return _decide_call(state, message)
        case JourneyEntry(channel=channel, kind=kind, data=data, idem=idem):
            return Decision(events=tuple(_journey(state, channel, kind, dict(data))), idem=idem)
        case AddNote():
            data = {"text": message.text, "author": message.author}
            return Decision(events=tuple(_journey(state, "note", "note", data)))
        case SetDetails(name=name, attributes=attributes, by=by):
            if (name, attributes) == (state.name, state.attributes):
                return Decision(reply=state)
            data = {"name": name, "attributes": dict(attributes), "by": by}
            return Decision(events=(("details_changed", data),))
        case AddIdentity(identity=identity):
            if identity in state.identities:
                return Decision(reply=state)
            return Decision(
                events=(("identity_added", {"identity": identity}),),
                puts=(Put(IDENTITY_NS, identity, state.contact_id),),
            )
    raise Rejected("unsupported", f"contact cannot handle {type(message).__name__}")


def _decide_call(state: ContactState, msg: CallEvent) -> Decision:
    seen = state.phases(msg.call_id)
    data: dict[str, Any] = {
        "call_id": msg.call_id,
        "via": msg.via,
        "direction": msg.direction,
        "number": msg.number,
    }
    if msg.phase == "transferred":
        data.update(agent=msg.agent, target=msg.target)
        if msg.note:
            data["note"] = msg.note
        return Decision(events=tuple(_journey(state, "voice", "transferred", data)))
    code = _PHASE_CODE[msg.phase]
    if code in seen or "e" in seen:
        return Decision(reply="duplicate")
    events: list[tuple[str, dict[str, Any]]] = []
    if "s" not in seen and msg.phase != "started":
        # A call we never saw start (e.g. recovered after a crash): record its start once.
        events += _journey(state, "voice", "call_started", data)
    if msg.phase == "answered" or (msg.phase == "started" and msg.direction == "out"):
        data["agent"] = msg.agent  # an outgoing call starts with its agent (who dials)
    if msg.phase == "ended":
        data.update(
            cause=msg.cause or "normal",
            agent=msg.agent,
            recording=msg.recording,
            recording_seconds=msg.recording_seconds,
        )
    if events:
        events.append((f"call_{msg.phase}", {"channel": "voice", **_clean(data)}))
    else:
        events = _journey(state, "voice", f"call_{msg.phase}", data)
    return Decision(events=tuple(events))


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


class ContactActor(Actor):
    """Shell around :func:`decide`: persist first, then adopt state, then reply."""

    __slots__ = ("snapshot_every", "state", "store")

    def __init__(
        self, actor_id: str, registry: Registry, store: EventStore, *, snapshot_every: int = 200
    ) -> None:
        super().__init__(actor_id, registry)
        self.store = store
        self.snapshot_every = snapshot_every
        self.state = ContactState(actor_id.partition(":")[2])

    async def start(self) -> None:
        self.state = load_contact(self.store, self.state.contact_id)

    async def handle(self, message: Any) -> Any:
        now = self.registry.clock.now()
        match message:
            case Reload():
                await self.start()
                return self.state
            case MergeFrom():
                return await self._merge(message, now)
            case UndoMerge():
                return await self._undo_merge(message, now)
        decision = decide(self.state, message, now)
        if not decision.events and not decision.puts:
            return decision.reply
        at = getattr(message, "at", now)
        new_state = self.state
        for kind, data in decision.events:
            new_state = evolve(new_state, kind, at, data)
        snapshots: tuple[Snapshot, ...] = ()
        if (
            new_state.journey_len // self.snapshot_every
            > self.state.journey_len // self.snapshot_every
        ):
            snapshots = (Snapshot(self.actor_id, new_state.snapshot_json()),)
        write = Write(
            events=tuple(Event(self.actor_id, kind, at, data) for kind, data in decision.events),
            puts=decision.puts,
            snapshots=snapshots,
            idem=decision.idem,
        )
        committed = await self.store.write(write)
        if not committed.duplicate:
            self.state = new_state
            for kind, data in decision.events:
                if "channel" in data:
                    JOURNEY_EVENTS.labels(data["channel"], kind).inc()
        return committed if decision.reply is None else decision.reply

    async def _merge(self, msg: MergeFrom, now: float) -> Committed:
        other_id = f"contact:{msg.other_id}"
        me = self.state.contact_id
        if msg.other_id == me:
            raise Rejected("invalid_merge", "a contact cannot be merged into itself", 422)
        if not self.state.exists:
            raise Rejected("unknown_contact", f"contact {me} not found", 404)
        if self.state.merged_into is not None:
            # Merging into a contact that was itself merged away would hide the result
            # (and A into B, then B into A, would make a cycle).
            raise Rejected(
                "merged_away",
                f"contact {me} was merged into {self.state.merged_into}: merge into that one",
                409,
            )
        other: ContactState = await self.registry.ask(other_id, GetContact())
        if not other.exists:
            raise Rejected("unknown_contact", f"contact {msg.other_id} not found", 404)
        if other.merged_into is not None:
            raise Rejected(
                "merged_away",
                f"contact {msg.other_id} is already merged into {other.merged_into}",
                409,
            )
        moved = [i for i in other.identities if i not in self.state.identities]
        events = (
            Event(self.actor_id, "merged", msg.at, {"other": msg.other_id, "identities": moved}),
            Event(other_id, "merged_into", msg.at, {"into": self.state.contact_id}),
        )
        puts = tuple(Put(IDENTITY_NS, i, self.state.contact_id) for i in moved)
        committed = await self.store.write(Write(events=events, puts=puts))
        self.state = evolve(self.state, "merged", msg.at, events[0].data)
        self.registry.tell(other_id, Reload())
        return committed

    async def _undo_merge(self, msg: UndoMerge, now: float) -> Committed:
        absorbed = dict(self.state.absorbed)
        if msg.other_id not in absorbed:
            raise Rejected(
                "not_merged", f"contact {msg.other_id} was not merged into this one", 409
            )
        moved = list(absorbed[msg.other_id])
        other_id = f"contact:{msg.other_id}"
        events = (
            Event(
                self.actor_id, "merge_undone", msg.at, {"other": msg.other_id, "identities": moved}
            ),
            Event(other_id, "unmerged", msg.at, {"from": self.state.contact_id}),
        )
        puts = tuple(Put(IDENTITY_NS, i, msg.other_id) for i in moved)
        committed = await self.store.write(Write(events=events, puts=puts))
        self.state = evolve(self.state, "merge_undone", msg.at, events[0].data)
        self.registry.tell(other_id, Reload())
        return committed


def load_contact(store: EventStore, contact_id: str) -> ContactState:
    """Rebuild a contact's state from its snapshot and events."""
    snapshot, events = store.load_actor(f"contact:{contact_id}")
    state = ContactState(contact_id)
    if snapshot is not None:
        state = _from_snapshot(contact_id, snapshot)
    for ev in events:
        state = evolve(state, ev.kind, ev.at, ev.data)
    return state


def _from_snapshot(contact_id: str, snap: dict[str, Any]) -> ContactState:
    return ContactState(
        contact_id,
        exists=True,
        identities=tuple(snap["identities"]),
        name=snap.get("name"),
        created_at=snap.get("created_at", 0.0),
        last_channel=snap.get("last_channel"),
        last_at=snap.get("last_at") or 0.0,
        journey_len=snap.get("journey_events", 0),
        merged_from=tuple(snap.get("merged_from", ())),
        merged_into=snap.get("merged_into"),
        calls=tuple((c[0], c[1]) for c in snap.get("calls", ())),
        absorbed=tuple((a[0], tuple(a[1])) for a in snap.get("absorbed", ())),
        last_agent=snap.get("last_agent"),
        attributes=tuple(snap.get("attributes", {}).items()),
    )


def journey_actor_ids(store: EventStore, contact_id: str) -> list[str]:
    """The contact's own log plus those of contacts merged into it (transitively)."""
    out: list[str] = []
    todo = [contact_id]
    while todo:
        cid = todo.pop()
        if f"contact:{cid}" in out:
            continue
        out.append(f"contact:{cid}")
        todo.extend(load_contact(store, cid).merged_from)
    return out


def journey_view(events: list[StoredEvent]) -> list[dict[str, Any]]:
    view = []
    for ev in events:
        if ev.kind not in JOURNEY_KINDS:
            continue
        item = {
            "at": iso_utc(ev.at),
            "channel": ev.data.get("channel"),
            "kind": ev.kind,
        }
        item.update({k: v for k, v in ev.data.items() if k != "channel"})
        view.append(item)
    return view
