"""The notify protocol against a fake $NOTIFY_SOCKET (a datagram socket the test binds)."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from switch.systemd import Notifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    yield path, sock
    sock.close()


def received(sock: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


def test_the_environment_is_read_once_and_not_passed_on() -> None:
    env = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}
    n = Notifier.from_env(env)
    assert n.enabled and n.watchdog_interval == 15.0
    assert env == {}  # children (Kamailio, workers) must not notify in the switch's name


def test_a_watchdog_meant_for_another_process_is_not_ours() -> None:
    env = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}
    assert Notifier.from_env(env).watchdog_interval is None
    assert Notifier.from_env({}).enabled is False
    assert Notifier.from_env({}).send("READY=1") is False


def test_ready_and_stopping_reach_the_socket(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    n = Notifier(path)
    n.ready("HTTP on 127.0.0.1:8080")
    n.stopping()
    ready, stopping = received(sock)
    assert ready.split("\n")[0] == "READY=1" and "STATUS=HTTP on 127.0.0.1:8080" in ready
    assert stopping.split("\n")[0] == "STOPPING=1"


def test_an_abstract_socket_name_works() -> None:
    name = f"edge-switch-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.setblocking(False)
    try:
        assert Notifier("@" + name).send("READY=1")
        assert received(sock) == ["READY=1"]
    finally:
        sock.close()


def test_a_vanished_socket_is_logged_not_raised(tmp_path: Path) -> None:
    assert Notifier(str(tmp_path / "gone.sock")).send("WATCHDOG=1") is False


async def test_the_watchdog_pings_from_the_event_loop_so_a_stuck_loop_stops_them(
    listener: tuple[str, socket.socket],
) -> None:
    path, sock = listener
    n = Notifier(path, watchdog_usec=20_000)  # a ping every 10 ms
    n.start_watchdog()
    while len(received_into := received(sock)) < 1:
        await asyncio.sleep(0.005)
    assert set(received_into) == {"WATCHDOG=1"}
    time.sleep(0.2)  # the loop is stuck: twenty periods without a turn
    assert received(sock) == []  # nothing pinged meanwhile (a thread would have)
    await asyncio.sleep(0.05)
    assert "WATCHDOG=1" in received(sock)  # the loop runs again, so do the pings
    await n.stop_watchdog()
