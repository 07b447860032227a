"""`switch doctor`'s checks, with the outside world faked where it cannot be staged."""

from __future__ import annotations

import http.server
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from switch.config import Config, parse_config
from switch.doctor.checks import (
    MB,
    Probe,
    check_data_dir,
    check_disk,
    check_modems,
    check_port,
    check_programs,
    check_time,
    run_checks,
)
from switch.doctor.procfs import port_owners, running
from tests.conftest import free_port


def cfg(tmp_path: Path, **extra: Any) -> Config:
    return parse_config(
        {
            "store": {"path": str(tmp_path / "data" / "switch.db")},
            "api": {"tokens": ["secret-token-for-tests"]},
            **extra,
        }
    )


def fake_proc(tmp_path: Path, *procs: tuple[int, str, str]) -> Path:
    proc = tmp_path / "proc"
    for pid, name, cmdline in procs:
        (proc / str(pid) / "fd").mkdir(parents=True)
        (proc / str(pid) / "comm").write_text(name + "\n")
        (proc / str(pid) / "cmdline").write_bytes(cmdline.replace(" ", "\0").encode())
    proc.mkdir(exist_ok=True)
    return proc


def test_a_free_port_is_ok_and_a_taken_one_names_its_owner(tmp_path: Path) -> None:
    port = free_port()
    config = cfg(tmp_path)
    assert check_port("http", f"127.0.0.1:{port}", "tcp", config, Probe()).status == "ok"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        found = check_port("http", f"127.0.0.1:{port}", "tcp", config, Probe())
        assert found.status == "fail"
        assert f"pid {os.getpid()}" in found.detail and found.fix
        assert [p.pid for p in port_owners(Path("/proc"), "tcp", port)] == [os.getpid()]


def test_a_udp_port_taken_by_debians_kamailio_says_how_to_stop_it(tmp_path: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", port))
        inode = os.fstat(sock.fileno()).st_ino
        proc = fake_proc(tmp_path, (77, "kamailio", "/usr/sbin/kamailio -f /etc/kamailio.cfg"))
        (proc / "net").mkdir()
        (proc / "net" / "udp").write_text(
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt"
            "   uid  timeout inode\n"
            f"   0: 0100007F:{port:04X} 00000000:0000 07 00000000:00000000 00:00000000"
            f" 00000000     0        0 {inode} 2 0000000000000000 0\n"
        )
        os.symlink(f"socket:[{inode}]", proc / "77" / "fd" / "3")
        found = check_port("sip", f"127.0.0.1:{port}", "udp", cfg(tmp_path), Probe(proc=proc))
    assert found.status == "fail" and "kamailio (pid 77" in found.detail
    assert "systemctl disable --now kamailio" in found.fix


def test_the_http_port_of_a_running_switch_is_ours(tmp_path: Path) -> None:
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"status": "ok"}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        listen = f"127.0.0.1:{server.server_address[1]}"
        found = check_port("http", listen, "tcp", cfg(tmp_path), Probe())
    finally:
        server.shutdown()
    assert found.status == "ok" and "this switch" in found.detail


def test_an_address_not_on_this_machine_fails(tmp_path: Path) -> None:
    found = check_port("http", "192.0.2.77:8080", "tcp", cfg(tmp_path), Probe())
    assert found.status == "fail" and "not an address of this machine" in found.detail


def test_missing_kamailio_and_rtpengine_are_reported(tmp_path: Path) -> None:
    config = cfg(tmp_path, sip={"kamailio": str(tmp_path / "nope"), "ws_listen": "127.0.0.1:8088"})
    found = {f.name: f for f in check_programs(config, Probe(which=lambda name: None))}
    assert (
        found["kamailio"].status == "fail" and "apt-get install kamailio" in found["kamailio"].fix
    )
    assert found["rtpengine"].status == "warn" and "rtpengine-daemon" in found["rtpengine"].fix
    assert check_programs(cfg(tmp_path), Probe()) == []  # no [sip]: nothing to check


def test_browser_phones_without_rtpengine_must_be_fixed(tmp_path: Path) -> None:
    sip = {"ws_listen": "127.0.0.1:8088", "wss_listen": "127.0.0.1:8089"}
    webrtc = {"rtpengine": str(tmp_path / "no-rtpengine"), "ng_port": free_port(socket.SOCK_DGRAM)}
    config = cfg(tmp_path, sip=sip, webrtc=webrtc)
    found = {f.name: f for f in check_programs(config, Probe())}
    assert found["rtpengine"].status == "fail"
    assert "kamailio-autheph-modules" in found["rtpengine"].fix
    names = {f.name: f.status for f in run_checks(config, Probe())}
    assert names["sip wss"] == "ok" and names["rtpengine ng"] == "ok"


@pytest.fixture
def pty_port(tmp_path: Path) -> Iterator[Path]:
    master, slave = os.openpty()
    yield Path(os.ttyname(slave))
    os.close(master)
    os.close(slave)


def _modem(tmp_path: Path, port: str) -> Config:
    return cfg(tmp_path, modems=[{"id": "gsm1", "port": port}])


def test_modemmanager_running_must_be_stopped(tmp_path: Path, pty_port: Path) -> None:
    proc = fake_proc(tmp_path, (321, "ModemManager", "/usr/sbin/ModemManager"))
    found = {f.name: f for f in check_modems(_modem(tmp_path, str(pty_port)), Probe(proc=proc))}
    assert found["modemmanager"].status == "fail" and "pid 321" in found["modemmanager"].detail
    assert "systemctl disable --now ModemManager" in found["modemmanager"].fix


def test_a_modem_port_named_by_kernel_order_is_told_its_stable_name(
    tmp_path: Path, pty_port: Path
) -> None:
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    stable = by_id / "usb-HUAWEI_Mobile-if02-port0"
    stable.symlink_to(pty_port)
    probe = Probe(proc=fake_proc(tmp_path), by_id=by_id)
    found = {f.name: f for f in check_modems(_modem(tmp_path, str(pty_port)), probe)}
    port = found["modem gsm1 port"]
    assert port.status == "warn" and str(stable) in port.fix
    found = {f.name: f for f in check_modems(_modem(tmp_path, str(stable)), probe)}
    assert found["modem gsm1 port"].status == "ok"


def test_a_missing_modem_port_lists_what_is_there(tmp_path: Path, pty_port: Path) -> None:
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    (by_id / "usb-Quectel_EC25-if02-port0").symlink_to(pty_port)
    probe = Probe(proc=fake_proc(tmp_path), by_id=by_id)
    found = {f.name: f for f in check_modems(_modem(tmp_path, "/dev/ttyUSB9"), probe)}
    port = found["modem gsm1 port"]
    assert port.status == "fail" and "usb-Quectel_EC25-if02-port0" in port.detail


def test_a_modem_port_the_user_cannot_open_needs_dialout(tmp_path: Path, pty_port: Path) -> None:
    probe = Probe(proc=fake_proc(tmp_path), access=lambda path, mode: False)
    found = {f.name: f for f in check_modems(_modem(tmp_path, str(pty_port)), probe)}
    assert found["modem gsm1 port"].status == "fail"
    assert "dialout" in found["modem gsm1 port"].fix


def test_a_modem_port_open_by_another_program_fails(tmp_path: Path, pty_port: Path) -> None:
    proc = fake_proc(tmp_path, (55, "minicom", "minicom -D /dev/ttyUSB2"))
    os.symlink(str(pty_port), proc / "55" / "fd" / "3")
    found = {f.name: f for f in check_modems(_modem(tmp_path, str(pty_port)), Probe(proc=proc))}
    assert (
        found["modem gsm1 port"].status == "fail" and "minicom" in found["modem gsm1 port"].detail
    )


def _runner(answers: dict[str, tuple[int, str] | None]) -> Any:
    return lambda argv: answers.get(argv[0])


def test_time_sync_from_timedatectl_then_chrony_else_unknown() -> None:
    ok = check_time(Probe(run=_runner({"timedatectl": (0, "yes\n")})))
    assert ok.status == "ok"
    off = check_time(Probe(run=_runner({"timedatectl": (0, "no\n")})))
    assert off.status == "warn" and "set-ntp" in off.fix
    chrony = "Reference ID    : 1\nLeap status     : Normal\n"
    via_chrony = check_time(Probe(run=_runner({"timedatectl": (1, ""), "chronyc": (0, chrony)})))
    assert via_chrony.status == "ok" and "chrony" in via_chrony.detail
    unsynced = chrony.replace("Normal", "Not synchronised")
    assert check_time(Probe(run=_runner({"chronyc": (0, unsynced)}))).status == "warn"
    unknown = check_time(Probe(run=_runner({})))
    assert unknown.status == "unknown" and "chrony" in unknown.fix


def test_disk_free_thresholds(tmp_path: Path) -> None:
    def probe(free: int) -> Probe:
        return Probe(disk_usage=lambda p: (10_000 * MB, 0, free))

    assert check_disk(cfg(tmp_path), probe(5000 * MB)).status == "ok"
    assert check_disk(cfg(tmp_path), probe(500 * MB)).status == "warn"
    low = check_disk(cfg(tmp_path), probe(50 * MB))
    assert low.status == "fail" and "free space" in low.fix


def test_data_dir_permissions(tmp_path: Path) -> None:
    config = cfg(tmp_path)
    assert check_data_dir(config, Probe()).status == "ok"  # will be created
    data = tmp_path / "data"
    data.mkdir()
    assert check_data_dir(config, Probe()).status == "ok"
    denied = check_data_dir(config, Probe(access=lambda path, mode: False))
    assert denied.status == "fail" and "chown" in denied.fix
    data.chmod(0o777)
    assert check_data_dir(config, Probe()).status == "warn"


def test_run_checks_covers_what_the_config_uses(tmp_path: Path, pty_port: Path) -> None:
    config = cfg(
        tmp_path,
        http={"listen": f"127.0.0.1:{free_port()}"},
        sip={"listen": f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}"},
        modems=[{"id": "gsm1", "port": str(pty_port)}],
    )
    names = [f.name for f in run_checks(config, Probe(proc=fake_proc(tmp_path)))]
    assert names == [
        "http",
        "sip",
        "kamailio",
        "modemmanager",
        "modem gsm1 port",
        "time",
        "disk",
        "data dir",
    ]
    assert running(Path("/proc"), "definitely-not-running-here") == []
