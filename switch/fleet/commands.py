"""Remote commands a fleet sends over MQTT, and what each does on this box.

A command runs only when three things agree: the broker let it through (its ACL), the
name is one this switch knows (:data:`HANDLERS`, the same names as
``switch.config.FLEET_COMMANDS``), and the box's config allows it
(``[mqtt] commands``, by default only those that cannot spend money or reach a
customer). Arguments are validated like an API body; a refusal is a
:class:`~base.errors.Rejected` with a code the reply carries.

``sms.send`` uses the command id as its idempotency key, so a command delivered twice
sends one SMS.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from base.errors import ChannelUnavailable, Rejected
from drivers.mqtt import Command
from switch.backup.schedule import backup_to_dir
from switch.config import BackupConfig

if TYPE_CHECKING:
    from switch.calls import CallService
    from switch.core import Core
    from switch.sms import SmsService


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoArgs(_Args):
    pass


class ModemArgs(_Args):
    modem: Annotated[str, Field(min_length=1, max_length=64)]


class UssdArgs(ModemArgs):
    code: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9*#+]+$")]


class SmsArgs(_Args):
    to: Annotated[str, Field(min_length=1, max_length=32)]
    text: Annotated[str, Field(min_length=1, max_length=1530)]
    modem: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class TrunkArgs(_Args):
    trunk: Annotated[str, Field(min_length=1, max_length=64)]
    call: Annotated[str, Field(min_length=1, max_length=32)] | None = None


@dataclass(frozen=True, slots=True)
class Context:
    core: Core
    config_source: Path | None  # the config file (backups include it)


Handler = Callable[[Context, Any, Command], Awaitable[dict[str, Any]]]


def _sms(core: Core) -> SmsService:
    if core.sms is None:
        raise Rejected("unavailable", "no modems are configured on this box", 503)
    return core.sms


def _calls(core: Core) -> CallService:
    if core.calls is None:
        raise Rejected("unavailable", "SIP is not configured on this box", 503)
    return core.calls


async def modem_diagnose(ctx: Context, args: ModemArgs, command: Command) -> dict[str, Any]:
    slot = _sms(ctx.core).modem_slot(args.modem)
    checks = await slot.modem.diagnose()
    return {
        "modem": args.modem,
        "checks": [{"name": c.name, "status": c.status, "detail": c.detail} for c in checks],
    }


async def modem_ussd(ctx: Context, args: UssdArgs, command: Command) -> dict[str, Any]:
    slot = _sms(ctx.core).modem_slot(args.modem)
    return {"modem": args.modem, "text": await slot.modem.ussd(args.code)}


async def sms_send(ctx: Context, args: SmsArgs, command: Command) -> dict[str, Any]:
    message_id = await _sms(ctx.core).submit(
        args.to, args.text, modem=args.modem, idem=f"mqtt:{command.id}"
    )
    return {"id": message_id}


async def trunk_test(ctx: Context, args: TrunkArgs, command: Command) -> dict[str, Any]:
    result: dict[str, Any] = await _calls(ctx.core).trunk_test(args.trunk, args.call)
    return result


async def backup_now(ctx: Context, args: NoArgs, command: Command) -> dict[str, Any]:
    config = ctx.core.config
    settings = config.backup or BackupConfig()
    info, removed = await asyncio.to_thread(backup_to_dir, config, ctx.config_source, settings)
    return {
        "file": info.path.name,
        "path": str(info.path),
        "bytes": info.size,
        "events": info.events,
        "removed": [p.name for p in removed],
    }


async def config_reload(ctx: Context, args: NoArgs, command: Command) -> dict[str, Any]:
    reloader = ctx.core.reloader
    if reloader is None:
        raise Rejected("unavailable", "config reload is not available", 503)
    result = await reloader.reload(who=f"mqtt:{command.id}", role="fleet", via="mqtt")
    if not result.reloaded:
        raise Rejected("invalid_config", result.summary(), 422)
    return result.to_json()


HANDLERS: dict[str, tuple[type[_Args], Handler]] = {
    "modem.diagnose": (ModemArgs, modem_diagnose),
    "modem.ussd": (UssdArgs, modem_ussd),
    "sms.send": (SmsArgs, sms_send),
    "trunk.test": (TrunkArgs, trunk_test),
    "backup.now": (NoArgs, backup_now),
    "config.reload": (NoArgs, config_reload),
}


async def run(ctx: Context, command: Command, allowed: frozenset[str]) -> dict[str, Any]:
    entry = HANDLERS.get(command.name)
    if entry is None:
        known = ", ".join(HANDLERS)
        raise Rejected("unknown_command", f"no command {command.name!r} (known: {known})", 404)
    if command.name not in allowed:
        raise Rejected(
            "forbidden",
            f"{command.name} is not allowed on this box (its [mqtt] commands)",
            403,
        )
    model, handler = entry
    try:
        args = model.model_validate(command.args)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'args'}: "
            + ("unknown argument" if err["type"] == "extra_forbidden" else err["msg"])
            for err in exc.errors()
        )
        raise Rejected("invalid_args", problems, 422) from None
    try:
        return await handler(ctx, args, command)
    except ChannelUnavailable as exc:
        raise Rejected("unavailable", str(exc) or "the channel is unavailable", 503) from None


def redact(args: dict[str, Any]) -> dict[str, Any]:
    """Arguments as the audit log shows them: message texts by length, secrets hidden."""
    out: dict[str, Any] = {}
    for key, value in args.items():
        if key == "text" and isinstance(value, str):
            out[key] = f"<{len(value)} characters>"
        elif key in ("password", "pin", "token"):
            out[key] = "<hidden>"
        elif isinstance(value, str | int | float | bool) or value is None:
            out[key] = value if not isinstance(value, str) else value[:100]
        else:
            out[key] = f"<{type(value).__name__}>"
    return out
