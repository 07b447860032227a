"""Reassembly of concatenated SMS (TS 23.040 §9.2.3.24.1), sans-IO.

Theory of operation:

- The driver feeds every decoded part with :meth:`Reassembler.add`, the clock as an
  argument. A message without a concatenation IE (or with ``total == 1``) comes back at
  once; a part of a longer one is held until its siblings arrive.
- Parts are keyed by ``(sender, reference, total)``; they may come in any order.
- A duplicate part (same key and sequence number) is ignored. So is a late copy of a
  part of a message completed within the last ``timeout`` seconds, when its text is the
  same. The ``meta`` of an ignored part is kept for :meth:`Reassembler.take_discarded`,
  so the driver can still delete that SIM slot.
- A message whose parts stop coming for ``timeout`` seconds (counted from its latest
  new part) is handed out by :meth:`Reassembler.expire` with ``incomplete=True``: the
  parts that arrived, in order, with :data:`MISSING_MARK` in each gap. Nothing is lost.
- ``meta`` is opaque (a SIM slot index, a PDU fingerprint...): every part's meta comes
  back in the :class:`CompleteMessage` it went into, in sequence order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.gsm.pdu import Concat

__all__ = ["MISSING_MARK", "CompleteMessage", "Reassembler"]

MISSING_MARK = "[…]"
"""Stands in the text for a part that never arrived."""

_Key = tuple[str, int, int]


@dataclass(frozen=True, slots=True)
class CompleteMessage:
    sender: str
    text: str
    parts: int  # how many parts the message has (arrived or not)
    incomplete: bool
    missing: tuple[int, ...]  # 1-based sequence numbers that never arrived
    metas: tuple[object, ...]  # meta of each part that went into it, in sequence order
    reference: int | None = None  # concatenation reference, None for a single SMS


@dataclass(slots=True)
class _Pending:
    total: int
    deadline: float
    texts: dict[int, str] = field(default_factory=dict)
    metas: dict[int, object] = field(default_factory=dict)


@dataclass(slots=True)
class _Done:
    texts: dict[int, str]
    forget_at: float


class Reassembler:
    """Holds parts of concatenated messages until they are complete or time out."""

    def __init__(self, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {timeout}")
        self.timeout = timeout
        self._pending: dict[_Key, _Pending] = {}
        self._done: dict[_Key, _Done] = {}
        self._discarded: list[object] = []

    def add(
        self,
        key_sender: str,
        concat: Concat | None,
        text: str,
        now: float,
        meta: object = None,
    ) -> CompleteMessage | None:
        """Feed one part; returns the whole message once it is complete."""
        self._forget_done(now)
        if concat is None or concat.total <= 1 or not 1 <= concat.sequence <= concat.total:
            # Not concatenated (an out-of-range sequence is treated the same: never lose it).
            return CompleteMessage(
                sender=key_sender,
                text=text,
                parts=1,
                incomplete=False,
                missing=(),
                metas=(meta,),
                reference=None if concat is None else concat.reference,
            )
        key = (key_sender, concat.reference, concat.total)
        seq = concat.sequence
        done = self._done.get(key)
        if done is not None and done.texts.get(seq) == text:
            self._discarded.append(meta)
            return None
        entry = self._pending.get(key)
        if entry is None:
            entry = self._pending[key] = _Pending(total=concat.total, deadline=now + self.timeout)
        if seq in entry.texts:
            self._discarded.append(meta)
            return None
        entry.texts[seq] = text
        entry.metas[seq] = meta
        entry.deadline = now + self.timeout
        if len(entry.texts) < entry.total:
            return None
        del self._pending[key]
        self._done[key] = _Done(texts=entry.texts, forget_at=now + self.timeout)
        return self._message(key, entry)

    def expire(self, now: float) -> list[CompleteMessage]:
        """Messages whose wait is over, oldest deadline first, marked incomplete."""
        self._forget_done(now)
        due = sorted(
            (entry.deadline, key) for key, entry in self._pending.items() if entry.deadline <= now
        )
        return [self._message(key, self._pending.pop(key)) for _, key in due]

    def next_deadline(self) -> float | None:
        """When :meth:`expire` will next have something to return, if ever."""
        return min((e.deadline for e in self._pending.values()), default=None)

    def pending_count(self) -> int:
        """How many messages are waiting for parts."""
        return len(self._pending)

    def take_discarded(self) -> list[object]:
        """The metas of duplicate parts ignored since the last call (then forgotten)."""
        out, self._discarded = self._discarded, []
        return out

    def _forget_done(self, now: float) -> None:
        for key in [k for k, d in self._done.items() if d.forget_at <= now]:
            del self._done[key]

    @staticmethod
    def _message(key: _Key, entry: _Pending) -> CompleteMessage:
        sender, reference, total = key
        seqs = range(1, total + 1)
        missing = tuple(s for s in seqs if s not in entry.texts)
        return CompleteMessage(
            sender=sender,
            text="".join(entry.texts.get(s, MISSING_MARK) for s in seqs),
            parts=total,
            incomplete=bool(missing),
            missing=missing,
            metas=tuple(entry.metas[s] for s in seqs if s in entry.metas),
            reference=reference,
        )
