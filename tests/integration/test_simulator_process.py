"""`python -m drivers.gsm.simulator` as its own process, driven by its control socket."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.gsm.pdu import Deliver, decode_pdu, encode_submit
from drivers.gsm.simulator import Delivery, SimulatorClient, SimulatorError, SimulatorProcess
from drivers.gsm.simulator.terminal import RawTerminal

pytestmark = pytest.mark.integration

OPTIONS = {"timing": {"cmgs_delay": 0.01, "report_delay": 0.05, "cnma_timeout": 0.5}}


@pytest.fixture
def proc(tmp_path: Path) -> Iterator[SimulatorProcess]:
    sim = SimulatorProcess.spawn(tmp_path, profile="huawei", options=OPTIONS)
    yield sim
    sim.terminate()


async def test_sms_survives_the_client_going_away(proc: SimulatorProcess) -> None:
    client = proc.client
    assert (await client.ping())["pid"] == proc.pid
    async with RawTerminal(proc.link) as term:  # the "switch", first life
        await term.command("ATE0")
        await term.command("AT+CNMI=2,1,0,0,0")
        reply = await client.deliver_sms("+85512345678", "x" * 300, Delivery(order=(2, 1)))
        assert reply["parts"] == 2 and len(reply["pdus"]) == 2
        await term.read_until(b'+CMTI: "SM",1\r\n')
    # the switch is gone (as after kill -9); the modem keeps its SIM storage
    state = await client.state()
    assert state["storage"]["used"] == 2
    async with RawTerminal(proc.link) as term:  # second life: sweep with CMGL
        await term.command("ATE0")
        listing = await term.command("AT+CMGL=4")
        pdus = [line for line in listing.split("\r\n") if line and not line.startswith(("+", "OK"))]
        decoded = [decode_pdu(p) for p in pdus]
        assert all(isinstance(d, Deliver) for d in decoded)
        assert [d.concat.sequence for d in decoded if isinstance(d, Deliver) and d.concat] == [2, 1]


async def test_sent_messages_and_knobs_over_the_socket(proc: SimulatorProcess) -> None:
    client = proc.client
    await client.set_outcome("+85598765432", "failed")
    async with RawTerminal(proc.link) as term:
        await term.command("ATE0")
        await term.command("AT+CNMI=2,1,0,1,0")
        part = encode_submit("+85598765432", "hello", reference=7)[0]
        assert await term.command(f"AT+CMGS={part.tpdu_length}") == "\r\n> "
        term.write(part.hex + "\x1a")
        assert await term.read_until(b"OK\r\n") == b"\r\n+CMGS: 0\r\n\r\nOK\r\n"
        await term.read_until(b"\r\n+CDS: ")
        await term.read_until(b"\r\n")  # length
        await term.read_until(b"\r\n")  # the report PDU
        await client.fail_next("AT+CSQ", "+CME ERROR: 100")
        assert await term.command("AT+CNMA") == "\r\nOK\r\n"
        assert await term.command("AT+CSQ") == "\r\n+CME ERROR: 100\r\n"
        await client.set_signal(5)
        await term.read_until(b"^RSSI: 5\r\n")
    state = await client.wait_for(lambda s: s["status_reports"] != [])
    assert state["sent"][0]["text"] == "hello" and state["sent"][0]["reference"] == 0
    assert state["status_reports"] == [
        {"reference": 0, "destination": "+85598765432", "status": 0x41}
    ]
    assert state["cmt"]["acked"] == 1
    transcript = await client.transcript()
    assert any(line["text"] == "AT+CSQ" for line in transcript)

    await client.unplug()
    assert not proc.link.exists()
    await client.replug()
    assert proc.link.is_symlink()

    with pytest.raises(SimulatorError, match="unknown op"):
        await client.request("no_such_op")
    with pytest.raises(SimulatorError, match="sender"):
        await client.request("deliver_sms", text="no sender")


def test_sync_client_and_raw_socket(proc: SimulatorProcess) -> None:
    client = SimulatorClient(proc.control)
    reply = client.deliver_sms_sync("+85512345678", "sync hello")
    assert reply["ok"] and reply["parts"] == 1
    state = client.wait_for_sync(lambda s: s["storage"]["used"] == 1)
    assert state["profile"] == "huawei"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:  # two requests, one conn
        sock.connect(str(proc.control))
        sock.sendall(b'{"op": "ping"}\nnot json\n')
        stream = sock.makefile("rb")
        first, second = json.loads(stream.readline()), json.loads(stream.readline())
    assert first["ok"] is True and first["pid"] == proc.pid
    assert second["ok"] is False and "not JSON" in second["error"]


def test_kill_9_leaves_the_link_and_sigterm_cleans_up(tmp_path: Path) -> None:
    sim = SimulatorProcess.spawn(tmp_path / "a")
    sim.kill()
    assert sim.link.is_symlink()  # a crash leaves its traces
    with pytest.raises(SimulatorError):
        SimulatorClient(sim.control).request_sync("ping")

    sim = SimulatorProcess.spawn(tmp_path / "b", profile="quectel")
    assert sim.client.request_sync("state")["profile"] == "quectel"
    assert sim.terminate() == 0
    assert not sim.link.exists() and not sim.control.exists()


def test_shutdown_op_and_ready_line(tmp_path: Path) -> None:
    link, control = tmp_path / "ttySIM9", tmp_path / "c.sock"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "drivers.gsm.simulator",
            "--link",
            str(link),
            "--control",
            str(control),
            "--profile",
            "simcom",
            "--pin",
            "1234",
        ],
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert child.stdout is not None
        ready = json.loads(child.stdout.readline())
        assert ready["ready"] and ready["link"] == str(link) and ready["pid"] == child.pid
        assert ready["device"].startswith("/dev/pts/")
        client = SimulatorClient(control)
        assert client.request_sync("state")["sim"] == "sim_pin"
        client.request_sync("shutdown")
        assert child.wait(10) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()


async def test_in_process_control_socket(tmp_path: Path) -> None:
    from drivers.gsm.simulator import SimulatedModem

    sim = SimulatedModem(tmp_path / "ttySIM0", profile="simcom")
    await sim.start()
    try:
        await sim.serve_control(tmp_path / "sim.sock")
        client = SimulatorClient(tmp_path / "sim.sock")
        assert (await client.deliver_sms("+85512345678", "hi"))["parts"] == 1
        assert (await client.state())["storage"]["used"] == 1
        call_id = await client.incoming_call("+85512345678")
        assert (await client.state())["calls"][0]["id"] == call_id
    finally:
        await sim.stop()
    assert not (tmp_path / "sim.sock").exists() and not sim.link_path.exists()
