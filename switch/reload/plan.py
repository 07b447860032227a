"""What a config reload changes: the differences by key path, and which of them apply live.

Rules: the contact center's sections change while calls go on (:data:`LIVE_SECTIONS`:
agents, queues, IVR menus, routes, schedules, the routing engine's settings, people);
everything else (listen addresses, the store, SIP, browser phones, modems, trunks, the
fleet link, backups, webhooks, the log level, the runtime) is read once at start and
needs a restart. A reload never applies half a section: a section that needs a
restart keeps its running value whole (:attr:`ReloadPlan.effective`), and the reply
names each of its changed keys.

A queue's ``csat`` survey is set up at start: a change of it is listed as needing a
restart while the rest of the queue changes live. The other way round, a few keys of a
section read at start apply at once (:data:`LIVE_KEYS`: how long recordings are kept,
how much room they may take, the free space under which recording pauses); the rest of
that section keeps its running value.

Pure: two validated configs in, a :class:`ReloadPlan` out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

if TYPE_CHECKING:
    from switch.config import Config

LIVE_SECTIONS = frozenset({"agents", "queues", "ivr", "routes", "schedules", "routing", "users"})
# Keys inside a live section that are still read only at start.
_RESTART_KEYS = ("csat",)
# Keys of a section read at start that still change at once.
LIVE_KEYS: dict[str, frozenset[str]] = {
    "sip": frozenset({"recordings_keep_days", "recordings_max_mb", "recordings_min_free_mb"}),
}

What = Literal["added", "removed", "changed"]


@dataclass(frozen=True, slots=True)
class Change:
    path: str  # "queues[sales].max_wait", "agents[bob]", "sip.listen"
    what: What

    def __str__(self) -> str:
        return f"{self.path} ({self.what})"


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    applied: tuple[Change, ...]  # take effect now
    restart: tuple[Change, ...]  # in the file, not running until the switch restarts
    effective: Config  # the config the switch runs from now on

    @property
    def changed(self) -> bool:
        return bool(self.applied or self.restart)


def plan_reload(running: Config, loaded: Config) -> ReloadPlan:
    """Compare the running config with the one just loaded and validated."""
    applied: list[Change] = []
    restart: list[Change] = []
    kept: dict[str, Any] = {}
    for name, field in type(running).model_fields.items():
        old, new = getattr(running, name), getattr(loaded, name)
        changes = diff(old, new, field.alias or name)
        if not changes:
            continue
        if name not in LIVE_SECTIONS:
            live = _live_keys(name, old, new, changes)
            restart += [c for c in changes if c not in live]
            applied += live
            keys = {c.path.rpartition(".")[2] for c in live}
            kept[name] = old.model_copy(update={k: getattr(new, k) for k in keys}) if live else old
            continue
        for change in changes:
            leaf = change.path.rpartition(".")[2]
            (restart if leaf in _RESTART_KEYS else applied).append(change)
    effective = loaded.model_copy(update=kept) if kept else loaded
    return ReloadPlan(tuple(applied), tuple(restart), effective)


def _live_keys(name: str, old: Any, new: Any, changes: list[Change]) -> list[Change]:
    """The changes of a section read at start that apply at once (:data:`LIVE_KEYS`);
    none when the section itself comes or goes."""
    keys = LIVE_KEYS.get(name)
    if not keys or not isinstance(old, BaseModel) or type(old) is not type(new):
        return []
    out = []
    for change in changes:
        section, _, key = change.path.rpartition(".")
        if section == name and key in keys:
            out.append(change)
    return out


def diff(old: Any, new: Any, path: str) -> list[Change]:
    """The changes from ``old`` to ``new`` under ``path``, as fine as the models allow:
    a field of a model, an entry of a list of entries with ids (routes by number)."""
    if old == new:
        return []
    if old is None:
        return [Change(path, "added")]
    if new is None:
        return [Change(path, "removed")]
    if isinstance(old, BaseModel) and type(old) is type(new):
        out: list[Change] = []
        for name, field in type(old).model_fields.items():
            out += diff(getattr(old, name), getattr(new, name), f"{path}.{field.alias or name}")
        return out
    if isinstance(old, list) and isinstance(new, list):
        old_keyed, new_keyed = _keyed(old), _keyed(new)
        if old_keyed is not None and new_keyed is not None:
            out = []
            for key, entry in new_keyed.items():
                if key not in old_keyed:
                    out.append(Change(f"{path}[{key}]", "added"))
                else:
                    out += diff(old_keyed[key], entry, f"{path}[{key}]")
            gone = [key for key in old_keyed if key not in new_keyed]
            out += [Change(f"{path}[{key}]", "removed") for key in gone]
            return out
    return [Change(path, "changed")]


def _keyed(entries: list[Any]) -> dict[str, Any] | None:
    """Entries by their id (or a route's number); None when they have none, or when
    two share one (then they are compared as a whole)."""
    out: dict[str, Any] = {}
    for entry in entries:
        key = getattr(entry, "id", None) or getattr(entry, "number", None)
        if not isinstance(key, str) or key in out:
            return None
        out[key] = entry
    return out
