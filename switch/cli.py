"""Command line: ``switch run``, ``switch check-config``, and technician tools.

Technician tools (``switch modem ...``, ``switch simulate ...``, ``switch trunk ...``)
talk to the running switch over its HTTP API, with the token from ``--token`` or
``$SWITCH_TOKEN`` (default: the config's first technician token).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

from base.errors import ConfigError, SwitchError
from switch.config import Config, config_warnings, load_config, store_path


def _load(path: str | None) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        for key, message in exc.errors:
            print(f"config error: {key}: {message}", file=sys.stderr)
        raise SystemExit(1) from None


def cmd_run(args: argparse.Namespace) -> int:
    from base.logs import configure_logging

    # Everything the switch and its children create (store, recordings, sockets,
    # rendered configs) is for the switch's own user only.
    os.umask(0o077)
    config = _load(args.config)
    configure_logging(config.log.level)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_run(config, args.config))
    except ConfigError as exc:
        for key, message in exc.errors:
            print(f"config error: {key}: {message}", file=sys.stderr)
        return 1
    except SwitchError as exc:
        print(f"error: the switch could not start: {exc}", file=sys.stderr)
        return 1
    return 0


async def _run(config: Config, source: str | None) -> None:
    """Serve; on a terminal, say in one line where to look once the API is up."""
    from switch.app import serve

    ready = asyncio.Event()

    async def announce() -> None:
        await ready.wait()
        print(started_line(config, source), flush=True)

    task = asyncio.create_task(announce()) if sys.stdout.isatty() else None
    try:
        await serve(config, ready=ready, config_path=source)
    finally:
        if task is not None:
            task.cancel()


def started_line(config: Config, source: str | None) -> str:
    """The one human line ``switch run`` prints on a terminal once it serves."""
    host = config.http.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    base = f"http://{host}:{config.http.port}"
    where = os.path.abspath(source) if source else "built-in demo (configs/demo.toml)"
    return (
        f"switch running: API {base}/api/v1, docs {base}/docs; config {where}; "
        f"store {store_path(config)}. JSON logs on stderr; Ctrl-C stops it."
    )


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for key, message in exc.errors:
            print(f"{key}: {message}")
        print(f"{len(exc.errors)} error(s) in {args.config or 'demo config'}", file=sys.stderr)
        return 1
    for key, message in config_warnings(config):
        print(f"warning: {key}: {message}")
    print(
        f"ok: {len(config.modems)} modem(s), {len(config.trunks)} trunk(s), "
        f"{len(config.agents)} agent(s)"
    )
    where = "" if os.path.isabs(config.store.path) else " (relative to where `switch run` starts)"
    print(f"store: {store_path(config)}{where}")
    return 0


def cmd_passwd(args: argparse.Namespace) -> int:
    """Print an argon2 hash for ``password_hash`` of an agent or a user."""
    from switch.passwords import hash_password, read_new_password

    try:
        password = read_new_password()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (EOFError, KeyboardInterrupt):
        print("error: no password given", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


# ------------------------------------------------------------ backup, restore


def cmd_backup(args: argparse.Namespace) -> int:
    from pathlib import Path

    from switch.backup.archive import make_backup
    from switch.backup.schedule import config_text

    config = _load(args.config)
    try:
        info = make_backup(
            Path(config.store.path),
            Path(args.to),
            config_text=config_text(Path(args.config) if args.config else None),
            recordings_dir=Path(config.sip.recordings) if config.sip is not None else None,
            box_id=config.mqtt.box_id if config.mqtt is not None else None,
        )
    except (SwitchError, OSError) as exc:
        print(f"error: backup failed: {exc}", file=sys.stderr)
        return 1
    print(
        f"backup written: {info.path} ({info.size} bytes; {info.events} events, "
        f"{info.records} records, {info.recordings} recordings indexed)"
    )
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from pathlib import Path

    from switch.backup.archive import restore_backup

    store = Path(args.store) if args.store else Path(_load(args.config).store.path)
    try:
        info = restore_backup(
            Path(args.from_),
            store,
            config_out=Path(args.config_out) if args.config_out else None,
        )
    except (SwitchError, OSError) as exc:
        print(f"error: restore refused: {exc}", file=sys.stderr)
        return 1
    print(
        f"restored {args.from_} into {info.store} (backup of "
        f"{info.manifest.get('created_at')}, {info.manifest.get('events')} events)"
    )
    for path in info.moved_aside:
        print(f"kept the previous file as {path}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from switch.doctor.checks import run_checks

    config = _load(args.config)
    findings = run_checks(config)
    marks = {"ok": " OK ", "warn": "WARN", "fail": "FAIL", "unknown": " ?? "}
    print(f"switch doctor: {args.config or 'the demo config'}")
    for f in findings:
        print(f"[{marks[f.status]}] {f.name}: {f.detail}")
        if f.fix and f.status != "ok":
            print(f"       what to do: {f.fix}")
    failed = sum(f.status == "fail" for f in findings)
    warned = sum(f.status in ("warn", "unknown") for f in findings)
    if failed:
        print(f"{failed} problem(s) must be fixed, {warned} warning(s)")
        return 1
    print(f"nothing must be fixed ({warned} warning(s))")
    return 0


# --------------------------------------------------------------- API client


class ApiClient:
    def __init__(self, config: Config, token: str | None) -> None:
        host = config.http.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        self.base = f"http://{host}:{config.http.port}"
        self.token = (
            token
            or os.environ.get("SWITCH_TOKEN")
            or next(iter(config.api.technician_tokens), None)
            or next(iter(config.api.tokens), None)
            or ""
        )

    def call(self, method: str, path: str, body: Any = None, timeout: float = 90) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                err = json.loads(exc.read())["error"]
                message = f"{err['code']}: {err['message']}"
            except (ValueError, KeyError, TypeError):
                message = str(exc)
            raise SystemExit(f"error: {message}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise SystemExit(f"error: the switch is not reachable at {self.base} ({exc})") from None


def _client(args: argparse.Namespace) -> ApiClient:
    return ApiClient(_load(args.config), args.token)


def cmd_modem_list(args: argparse.Namespace) -> int:
    modems = _client(args).call("GET", "/api/v1/modems")
    if not modems:
        print("no modems configured")
    for m in modems:
        signal = f"{m['signal']} dBm" if m.get("signal") is not None else "unknown"
        print(
            f"{m['id']:<10} {m['state']:<14} operator={m.get('operator') or '-'} "
            f"signal={signal} registered={'yes' if m.get('registered') else 'no'} "
            f"imei={m.get('imei') or '-'} iccid={m.get('iccid') or '-'}"
        )
    return 0


def cmd_modem_diagnose(args: argparse.Namespace) -> int:
    report = _client(args).call("POST", f"/api/v1/modems/{args.id}/diagnose")
    failed = 0
    for check in report["checks"]:
        mark = {"ok": "OK  ", "warn": "WARN", "fail": "FAIL"}.get(check["status"], "?   ")
        failed += check["status"] == "fail"
        print(f"[{mark}] {check['name']}: {check['detail']}")
    return 1 if failed else 0


def cmd_modem_at(args: argparse.Namespace) -> int:
    result = _client(args).call("POST", f"/api/v1/modems/{args.id}/at", {"command": args.command})
    for line in result["lines"]:
        print(line)
    return 0


def cmd_modem_ussd(args: argparse.Namespace) -> int:
    result = _client(args).call("POST", f"/api/v1/modems/{args.id}/ussd", {"code": args.code})
    print(result["text"])
    return 0


def cmd_simulate_sms(args: argparse.Namespace) -> int:
    body = {"from": args.sender, "text": args.text, "modem": args.modem}
    result = _client(args).call("POST", "/api/v1/simulator/sms", body)
    print(f"delivered to simulated modem {result['modem']} ({result['parts']} part(s))")
    return 0


def cmd_trunk_test(args: argparse.Namespace) -> int:
    body = {"call": args.call} if args.call else {}
    report = _client(args).call("POST", f"/api/v1/trunks/{args.id}/test", body, timeout=120)
    failed = 0
    for check in report["checks"]:
        mark = {"ok": "OK  ", "warn": "WARN", "fail": "FAIL"}.get(check["status"], "?   ")
        failed += check["status"] == "fail"
        print(f"[{mark}] {check['name']}: {check['detail']}")
    if failed:
        print(f"trunk {args.id}: {failed} check(s) failed", file=sys.stderr)
        return 1
    print(f"trunk {args.id}: all checks passed")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switch", description="Edge telephony switch")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the switch in the foreground")
    run.add_argument("--config", help="config file (default: built-in demo config)")
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("--config", required=True)
    check.set_defaults(func=cmd_check_config)

    p = sub.add_parser(
        "passwd",
        help="print a password hash for password_hash in [[agents]] or [[users]]",
        description="Reads the password twice from a terminal, or one line from a pipe.",
    )
    p.set_defaults(func=cmd_passwd)

    p = sub.add_parser("doctor", help="check the box: ports, programs, modems, time, disk")
    p.add_argument("--config", help="config of the switch (default: demo)")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("backup", help="write a backup file (online: the switch may run)")
    p.add_argument("--to", required=True, help="the backup file to write (.tar.gz)")
    p.add_argument("--config", help="config of the switch (default: demo)")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("restore", help="put a backup's store back (the switch must be stopped)")
    p.add_argument("--from", dest="from_", required=True, help="the backup file")
    p.add_argument("--store", help="store file to restore into (default: the config's)")
    p.add_argument("--config", help="config whose store.path to restore into")
    p.add_argument("--config-out", help="also write the backup's config file here")
    p.set_defaults(func=cmd_restore)

    def tool(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", help="config of the running switch (default: demo)")
        p.add_argument("--token", help="API token (default: $SWITCH_TOKEN or from config)")

    modem = sub.add_parser("modem", help="technician tools for GSM modems")
    msub = modem.add_subparsers(dest="modem_command", required=True)
    p = msub.add_parser("list", help="modems and their state")
    tool(p)
    p.set_defaults(func=cmd_modem_list)
    p = msub.add_parser("diagnose", help="plain-language checks of one modem")
    p.add_argument("id")
    tool(p)
    p.set_defaults(func=cmd_modem_diagnose)
    p = msub.add_parser("at", help="send one raw AT command (technician token)")
    p.add_argument("id")
    p.add_argument("command")
    tool(p)
    p.set_defaults(func=cmd_modem_at)
    p = msub.add_parser("ussd", help="send a USSD code, print the answer")
    p.add_argument("id")
    p.add_argument("code")
    tool(p)
    p.set_defaults(func=cmd_modem_ussd)

    simulate = sub.add_parser("simulate", help="drive the simulated modem (demo, tests)")
    ssub = simulate.add_subparsers(dest="simulate_command", required=True)
    p = ssub.add_parser("sms", help="make the simulated modem receive an SMS")
    p.add_argument("--from", dest="sender", required=True, help="sender number")
    p.add_argument("--modem", help="simulated modem id (default: the first)")
    p.add_argument("text")
    tool(p)
    p.set_defaults(func=cmd_simulate_sms)

    trunk = sub.add_parser("trunk", help="technician tools for SIP trunks")
    tsub = trunk.add_subparsers(dest="trunk_command", required=True)
    p = tsub.add_parser("test", help="registration, OPTIONS round trip, optional test call")
    p.add_argument("id")
    p.add_argument("--call", help="number to place a test call to")
    tool(p)
    p.set_defaults(func=cmd_trunk_test)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
