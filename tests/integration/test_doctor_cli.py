"""`switch doctor` as a technician runs it: plain words, non-zero when something must
be fixed, zero when nothing must."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def doctor(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "switch", "doctor", "--config", str(config)],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
    )


def test_a_box_with_nothing_to_fix_exits_zero(tmp_path: Path) -> None:
    config = tmp_path / "switch.toml"
    config.write_text(
        '[api]\ntokens = ["secret-token-for-tests"]\n'
        f'[store]\npath = "data/switch.db"\n[http]\nlisten = "127.0.0.1:{free_port()}"\n'
    )
    done = doctor(config)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[ OK ] http:" in done.stdout and "[ OK ] data dir:" in done.stdout
    assert "nothing must be fixed" in done.stdout


def test_a_taken_port_and_a_missing_modem_exit_non_zero_and_say_what_to_do(
    tmp_path: Path,
) -> None:
    port = free_port()
    config = tmp_path / "switch.toml"
    config.write_text(
        '[api]\ntokens = ["secret-token-for-tests"]\n'
        f'[store]\npath = "data/switch.db"\n[http]\nlisten = "127.0.0.1:{port}"\n'
        '[[modems]]\nid = "gsm1"\nport = "/dev/ttyUSB-not-here"\n'
    )
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        done = doctor(config)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    http = next(i for i, line in enumerate(lines) if line.startswith("[FAIL] http:"))
    assert "is taken by" in lines[http] and "what to do:" in lines[http + 1]
    assert any(
        line.startswith("[FAIL] modem gsm1 port: /dev/ttyUSB-not-here does not exist")
        for line in lines
    )
    assert lines[-1].startswith("2 problem(s) must be fixed")


def test_a_bad_config_is_reported_like_check_config(tmp_path: Path) -> None:
    config = tmp_path / "switch.toml"
    config.write_text('[http]\nlisten = "nowhere"\n')
    done = doctor(config)
    assert done.returncode == 1 and "http.listen" in done.stderr
