"""What a technician checks on a box, each check with a plain-words fix.

Each check returns :class:`Finding` values: ``ok``, ``warn`` (works, but worth fixing),
``fail`` (must be fixed: ``switch doctor`` exits non-zero) or ``unknown`` (cannot tell
from here). The outside world (``/proc``, ``/dev/serial/by-id``, commands, the disk) is
reached through :class:`Probe`, which tests point at a fake.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from base.addr import split_host_port
from switch.config import Config
from switch.doctor.procfs import Process, device_users, port_owners, running

Status = Literal["ok", "warn", "fail", "unknown"]
MB = 1024 * 1024
DISK_FAIL = 200 * MB
DISK_WARN = 1024 * MB


@dataclass(frozen=True, slots=True)
class Finding:
    name: str
    status: Status
    detail: str
    fix: str = ""


def _run(argv: list[str]) -> tuple[int, str] | None:
    """``(exit code, stdout)``, or None when the program is missing."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.returncode, done.stdout


def _disk_usage(path: Path) -> tuple[int, int, int]:
    """``(total, used, free)`` bytes of the filesystem holding ``path``."""
    usage = shutil.disk_usage(path)
    return usage.total, usage.used, usage.free


@dataclass(frozen=True, slots=True)
class Probe:
    proc: Path = Path("/proc")
    by_id: Path = Path("/dev/serial/by-id")
    run: Callable[[list[str]], tuple[int, str] | None] = _run
    which: Callable[[str], str | None] = shutil.which
    access: Callable[[str | Path, int], bool] = os.access
    disk_usage: Callable[[Path], tuple[int, int, int]] = field(default=_disk_usage)


# --------------------------------------------------------------------- ports


def _healthy_switch(host: str, port: int) -> bool:
    host = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(json.loads(answer.read()).get("status") == "ok")
    except (OSError, ValueError):
        return False


def _bind(host: str, port: int, kind: int) -> int | None:
    """None when ``host:port`` could be bound now, else the errno."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as sock:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno or errno.EADDRINUSE
    return None


def _ours(owner: Process, config: Config) -> bool:
    data_dir = str(Path(config.store.path).parent.resolve())
    return ("switch" in owner.cmdline and " run" in owner.cmdline) or (
        owner.name == "kamailio" and data_dir in owner.cmdline
    )


def check_port(
    name: str, listen: str, kind: Literal["tcp", "udp"], config: Config, probe: Probe
) -> Finding:
    host, port = split_host_port(listen, name)
    error = _bind(host, port, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
    where = f"{listen} ({kind.upper()})"
    if error is None:
        return Finding(name, "ok", f"{where} is free")
    if error == errno.EADDRNOTAVAIL:
        return Finding(
            name,
            "fail",
            f"{host} is not an address of this machine",
            f"set {name.replace(' ', '.')} to one of this box's addresses (ip -brief address)",
        )
    if error == errno.EACCES:
        return Finding(
            name,
            "fail",
            f"port {port} needs privileges to listen on",
            "use a port above 1024, or give the service CAP_NET_BIND_SERVICE "
            "(AmbientCapabilities in the systemd unit)",
        )
    owners = port_owners(probe.proc, kind, port)
    if any(_ours(o, config) for o in owners) or (
        kind == "tcp" and name == "http" and _healthy_switch(host, port)
    ):
        return Finding(name, "ok", f"{where} is in use by this switch (it is running)")
    if not owners:
        return Finding(
            name,
            "fail",
            f"{where} is taken by a program this user cannot see",
            f"run `sudo ss -lnp 'sport = :{port}'` to find it, then stop it or pick another port",
        )
    who = ", ".join(o.describe() for o in owners)
    fix = "stop that program, or choose another port in the config"
    if any(o.name == "kamailio" for o in owners):
        fix = "Debian's own Kamailio holds it: systemctl disable --now kamailio"
    return Finding(name, "fail", f"{where} is taken by {who}", fix)


# ------------------------------------------------------------------ programs


def check_programs(config: Config, probe: Probe) -> list[Finding]:
    sip = config.sip
    if sip is None:
        return []
    out = []
    if probe.access(sip.kamailio, os.X_OK):
        out.append(Finding("kamailio", "ok", f"{sip.kamailio} is installed"))
    else:
        out.append(
            Finding(
                "kamailio",
                "fail",
                f"{sip.kamailio} is missing (the SIP edge)",
                "apt-get install kamailio kamailio-sqlite-modules kamailio-tls-modules "
                "kamailio-websocket-modules (scripts/install-deps)",
            )
        )
    webrtc = config.webrtc
    if webrtc is not None:
        if probe.access(webrtc.rtpengine, os.X_OK):
            out.append(Finding("rtpengine", "ok", f"{webrtc.rtpengine} is installed"))
        else:
            out.append(
                Finding(
                    "rtpengine",
                    "fail",
                    f"{webrtc.rtpengine} is missing: [webrtc] needs it for browser phones",
                    "apt-get install rtpengine-daemon kamailio-autheph-modules "
                    "(scripts/install-deps)",
                )
            )
    elif sip.ws_listen is not None or sip.wss_listen is not None:
        found = probe.which("rtpengine")
        if found:
            out.append(Finding("rtpengine", "ok", f"{found} is installed"))
        else:
            out.append(
                Finding(
                    "rtpengine",
                    "warn",
                    "rtpengine is missing: browser phones (WebRTC) cannot get audio",
                    "apt-get install rtpengine-daemon",
                )
            )
    return out


# -------------------------------------------------------------------- modems


def check_modems(config: Config, probe: Probe) -> list[Finding]:
    real = [m for m in config.modems if not m.simulated]
    if not real:
        return []
    out = []
    managers = running(probe.proc, "ModemManager")
    if managers:
        out.append(
            Finding(
                "modemmanager",
                "fail",
                f"ModemManager is running (pid {managers[0].pid}): it probes modems with "
                "AT commands and confuses the switch",
                "systemctl disable --now ModemManager (or install hw/udev rules so it "
                "ignores the switch's modems)",
            )
        )
    else:
        out.append(Finding("modemmanager", "ok", "ModemManager is not running"))
    names = _by_id_names(probe.by_id)
    for modem in real:
        for label, configured in (("port", modem.port), ("audio_port", modem.audio_port)):
            if configured:
                out.append(_check_port_file(modem.id, label, configured, names, config, probe))
    return out


def _by_id_names(by_id: Path) -> dict[Path, list[str]]:
    """Real device -> its stable /dev/serial/by-id names."""
    out: dict[Path, list[str]] = {}
    try:
        links = sorted(by_id.iterdir())
    except OSError:
        return out
    for link in links:
        try:
            out.setdefault(link.resolve(strict=True), []).append(str(link))
        except OSError:
            continue
    return out


def _check_port_file(
    modem_id: str,
    label: str,
    configured: str,
    names: dict[Path, list[str]],
    config: Config,
    probe: Probe,
) -> Finding:
    name = f"modem {modem_id} {label}"
    path = Path(configured)
    if not path.exists():
        visible = sorted(n for group in names.values() for n in group)
        hint = "; the serial ports seen are: " + ", ".join(visible) if visible else ""
        return Finding(
            name,
            "fail",
            f"{configured} does not exist{hint}",
            "check that the modem is plugged in and switched to modem mode "
            "(usb_modeswitch), then `ls -l /dev/serial/by-id/` and put that path in the config",
        )
    device = path.resolve()
    if not probe.access(path, os.R_OK | os.W_OK):
        return Finding(
            name,
            "fail",
            f"{configured} cannot be opened for reading and writing by this user",
            "add the service user to the dialout group: adduser edge-switch dialout",
        )
    others = [p for p in device_users(probe.proc, device) if not _ours(p, config)]
    if others:
        return Finding(
            name,
            "fail",
            f"{configured} is already open by " + ", ".join(p.describe() for p in others),
            "stop that program: two programs on one modem port garble each other's answers",
        )
    stable = names.get(device, [])
    is_stable = str(path).startswith(str(probe.by_id)) or path.name.startswith("modem-")
    if not is_stable and stable:
        return Finding(
            name,
            "warn",
            f"{configured} ({device}) can change name after a reboot or a replug",
            f"use its stable name instead: {stable[0]}",
        )
    detail = f"{configured} is present" + (f" ({device})" if device != path else "")
    return Finding(name, "ok", detail)


# ------------------------------------------------------------------- the box


def check_time(probe: Probe) -> Finding:
    result = probe.run(["timedatectl", "show", "--property=NTPSynchronized", "--value"])
    if result is not None and result[0] == 0 and result[1].strip() in ("yes", "no"):
        if result[1].strip() == "yes":
            return Finding("time", "ok", "the clock is synchronised (timedatectl)")
        return Finding(
            "time",
            "warn",
            "the clock is not synchronised: journeys, SMS times and backups use it",
            "timedatectl set-ntp true, and let the box reach an NTP server",
        )
    result = probe.run(["chronyc", "-n", "tracking"])
    if result is not None and result[0] == 0:
        leap = [line for line in result[1].splitlines() if line.startswith("Leap status")]
        if leap and leap[0].split(":", 1)[1].strip() == "Normal":
            return Finding("time", "ok", "the clock is synchronised (chrony)")
        return Finding(
            "time",
            "warn",
            "chrony runs but the clock is not synchronised",
            "check chrony's sources: chronyc sources",
        )
    return Finding(
        "time",
        "unknown",
        "cannot tell whether the clock is synchronised (no answer from timedatectl or chrony)",
        "install chrony (apt-get install chrony) so the box keeps the right time",
    )


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_disk(config: Config, probe: Probe) -> Finding:
    data_dir = Path(config.store.path).parent.absolute()
    _, _, free = probe.disk_usage(_existing(data_dir))
    text = f"{free // MB} MB free for {data_dir}"
    if free < DISK_FAIL:
        return Finding(
            "disk",
            "fail",
            text + ": the store may soon be unable to write",
            "free space (old backups, recordings, logs: journalctl --vacuum-size=200M)",
        )
    if free < DISK_WARN:
        return Finding("disk", "warn", text, "free some space before it runs out")
    return Finding("disk", "ok", text)


def check_data_dir(config: Config, probe: Probe) -> Finding:
    data_dir = Path(config.store.path).parent.absolute()
    user = _user()
    if not data_dir.exists():
        parent = _existing(data_dir)
        if probe.access(parent, os.W_OK | os.X_OK):
            return Finding("data dir", "ok", f"{data_dir} will be created at start")
        return Finding(
            "data dir",
            "fail",
            f"{data_dir} does not exist and {user} cannot create it",
            f"install -d -o edge-switch -g edge-switch -m 0750 {data_dir}",
        )
    if not data_dir.is_dir():
        return Finding("data dir", "fail", f"{data_dir} is not a directory", "fix store.path")
    if not probe.access(data_dir, os.W_OK | os.X_OK):
        return Finding(
            "data dir",
            "fail",
            f"{user} cannot write in {data_dir}",
            f"chown -R edge-switch:edge-switch {data_dir}",
        )
    store = Path(config.store.path).absolute()
    if store.exists() and not probe.access(store, os.R_OK | os.W_OK):
        return Finding(
            "data dir",
            "fail",
            f"{user} cannot read and write the store {store}",
            f"chown edge-switch:edge-switch {store}",
        )
    if data_dir.stat().st_mode & 0o002:
        return Finding(
            "data dir",
            "warn",
            f"{data_dir} is writable by every user of the box",
            f"chmod o-w {data_dir}",
        )
    return Finding("data dir", "ok", f"{data_dir} is writable by {user}")


def _user() -> str:
    try:
        import pwd

        return f"user {pwd.getpwuid(os.getuid()).pw_name}"
    except (ImportError, KeyError):
        return f"uid {os.getuid()}"


def run_checks(config: Config, probe: Probe | None = None) -> list[Finding]:
    probe = probe or Probe()
    out = [check_port("http", config.http.listen, "tcp", config, probe)]
    if config.sip is not None:
        out.append(check_port("sip", config.sip.listen, "udp", config, probe))
        tcp_ports = (
            ("sip tls", config.sip.tls_listen),
            ("sip ws", config.sip.ws_listen),
            ("sip wss", config.sip.wss_listen),
        )
        for name, listen in tcp_ports:
            if listen is not None:
                out.append(check_port(name, listen, "tcp", config, probe))
        if config.webrtc is not None:
            ng = f"127.0.0.1:{config.webrtc.ng_port}"
            out.append(check_port("rtpengine ng", ng, "udp", config, probe))
    out += check_programs(config, probe)
    out += check_modems(config, probe)
    out.append(check_time(probe))
    out.append(check_disk(config, probe))
    out.append(check_data_dir(config, probe))
    return out
