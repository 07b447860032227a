"""The newcomer's demo, exactly as README/DESIGN tell it, in an empty directory.

``python -m switch run`` with no arguments uses the built-in demo config: store under
``./data``, HTTP on 127.0.0.1:8080, one simulated modem ``sim1`` in-process. Then
``switch simulate sms --from +85512345678 "សួស្តី"`` makes the SMS appear in that
contact's journey, ``switch modem list`` shows ``sim1`` ready, and SIGTERM stops the
switch with exit status 0.

Port 8080 is part of the demo's contract, so the test is skipped (saying why) when
something else already listens there.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("drivers.gsm.modem")

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BASE = "http://127.0.0.1:8080"
CUSTOMER = "+85512345678"
GREETING = "សួស្តី"


def demo_token() -> str:
    config = tomllib.loads((ROOT / "configs" / "demo.toml").read_text())
    return str(config["api"]["tokens"][0])


def port_8080_free() -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", 8080))
        except OSError:
            return False
    return True


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SWITCH_TOKEN"}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def switch_cli() -> list[str]:
    """The console script when installed next to this Python, else ``python -m switch``."""
    script = Path(sys.executable).with_name("switch")
    return [str(script)] if script.exists() else [sys.executable, "-m", "switch"]


def api(path: str, token: str | None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(BASE + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    if not port_8080_free():
        pytest.skip("127.0.0.1:8080 is in use: the demo config listens there and nowhere else")
    workdir = tmp_path / "empty"
    workdir.mkdir()
    stderr = (tmp_path / "switch.stderr").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "switch", "run"],
        cwd=workdir,
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    try:
        yield proc, workdir
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stderr.close()


def test_demo_run_simulate_sms_modem_list_and_sigterm(
    demo: tuple[subprocess.Popen[bytes], Path], tmp_path: Path
) -> None:
    proc, workdir = demo
    log = tmp_path / "switch.stderr"
    deadline = time.monotonic() + 20
    while True:
        assert proc.poll() is None, f"switch run exited early:\n{log.read_text()[-3000:]}"
        try:
            status, body = api("/healthz", None)
            if status == 200:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, f"no /healthz:\n{log.read_text()[-3000:]}"
        time.sleep(0.1)
    assert body == {"status": "ok"}
    assert (workdir / "data").is_dir(), "the demo keeps its store under ./data"

    token = demo_token()
    status, _ = api("/api/v1/modems", None)
    assert status == 401  # the demo still wants its token

    cli = switch_cli()
    deadline = time.monotonic() + 20
    while True:  # the simulated modem is ready a moment after /healthz
        listing = subprocess.run(
            [*cli, "modem", "list"], cwd=workdir, env=child_env(), capture_output=True, text=True
        )
        assert listing.returncode == 0, listing.stderr
        line = next((x for x in listing.stdout.splitlines() if x.startswith("sim1")), "")
        if "ready" in line.split():
            break
        assert time.monotonic() < deadline, listing.stdout
        time.sleep(0.2)

    sim = subprocess.run(
        [*cli, "simulate", "sms", "--from", CUSTOMER, GREETING],
        cwd=workdir,
        env=child_env(),
        capture_output=True,
        text=True,
    )
    assert sim.returncode == 0, sim.stdout + sim.stderr

    phone = urllib.parse.quote(CUSTOMER)
    deadline = time.monotonic() + 15
    while True:
        status, contacts = api(f"/api/v1/contacts?phone={phone}", token)
        assert status == 200, contacts
        if contacts:
            status, journey = api(f"/api/v1/contacts/{contacts[0]['id']}/journey", token)
            assert status == 200, journey
            found = [e for e in journey if e["kind"] == "message_in"]
            if found:
                break
        assert time.monotonic() < deadline, "the simulated SMS never reached the journey"
        time.sleep(0.1)
    [event] = found
    assert event["text"] == GREETING and event["channel"] == "sms" and event["via"] == "sim1"

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0, log.read_text()[-3000:]
    leftovers = [p for p in workdir.iterdir() if p.name != "data"]
    assert not leftovers, f"the demo wrote outside ./data: {leftovers}"


def test_console_script_is_installed() -> None:
    if shutil.which("switch", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("no console script next to this Python (not pip-installed)")
    out = subprocess.run(
        [str(Path(sys.executable).with_name("switch")), "--help"],
        capture_output=True,
        text=True,
        env=child_env(),
    )
    assert out.returncode == 0 and "run" in out.stdout
