"""A real mosquitto broker for tests: free ports, users, an ACL and TLS made on the spot.

Users (password = user name + "-pw"):
- ``box``: the switch; writes ``edge/<box>/#`` except commands, reads ``edge/<box>/cmd/#``;
- ``ops``: the fleet operator; reads everything under ``edge/``, sends commands;
- ``viewer``: reads everything under ``edge/``, may not send commands.

TLS: a CA and a server certificate for 127.0.0.1 are generated with the openssl CLI.
"""

from __future__ import annotations

import os
import pwd
import queue
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from tests.conftest import free_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
USERS = ("box", "ops", "viewer")


def password(user: str) -> str:
    return f"{user}-pw"


def make_tls(directory: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate for 127.0.0.1/localhost signed by it."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = directory / "ca.key", directory / "ca.crt"
    key, csr, crt = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "server.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = [
        ["openssl", "req", "-x509", *ec, "-keyout", ca_key, "-out", ca_crt,
         "-subj", "/CN=edge-test-ca", "-days", "2"],
        ["openssl", "req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
        ["openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
         "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext],
    ]  # fmt: skip
    for argv in run:
        subprocess.run([str(a) for a in argv], check=True, capture_output=True, timeout=30)
    return ca_crt, crt, key


class Broker:
    def __init__(self, workdir: Path, box_id: str = "shop-12") -> None:
        self.dir = workdir / "mosquitto"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.box_id = box_id
        self.port = free_port()
        self.tls_port = free_port()
        self.ca, crt, key = make_tls(self.dir / "tls")
        passwd = self.dir / "passwd"
        passwd.touch(mode=0o600)
        for user in USERS:
            subprocess.run(
                [MOSQUITTO_PASSWD, "-b", str(passwd), user, password(user)],
                check=True,
                capture_output=True,
                timeout=30,
            )
        root = f"edge/{box_id}"
        acl = self.dir / "acl"
        acl.write_text(
            f"user box\n"
            f"topic write {root}/status\n"
            f"topic write {root}/telemetry\n"
            f"topic write {root}/events\n"
            f"topic write {root}/reply/#\n"
            f"topic read {root}/cmd/#\n"
            f"user ops\n"
            f"topic read edge/#\n"
            f"topic write edge/+/cmd/#\n"
            f"user viewer\n"
            f"topic read edge/#\n"
        )
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(
            f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
            "per_listener_settings false\n"
            "allow_anonymous false\n"
            f"password_file {passwd}\n"
            f"acl_file {acl}\n"
            "persistence true\n"
            f"persistence_location {self.dir}/\n"
            "log_dest stderr\n"
            "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
            f"listener {self.port} 127.0.0.1\n"
            f"listener {self.tls_port} 127.0.0.1\n"
            f"cafile {self.ca}\ncertfile {crt}\nkeyfile {key}\n"
        )
        self.log = self.dir / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> Broker:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited:\n{self.log.read_text()[-2000:]}")
            if all(_listening(p) for p in (self.port, self.tls_port)):
                return self
            time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen:\n{self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Watcher:
    """A paho client on a thread: subscribes, collects, publishes (a fleet operator).

    It reconnects by itself after a broker restart; its session and subscriptions survive."""

    def __init__(self, broker: Broker, user: str = "ops", topics: tuple[str, ...] = ()) -> None:
        self.messages: queue.Queue[tuple[str, bytes, bool]] = queue.Queue()
        # A persistent session: what is published while the broker restarts and this
        # client has not reconnected yet waits for it (the broker keeps sessions on disk).
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"test-{user}-{time.monotonic_ns()}",
            clean_session=False,
        )
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.username_pw_set(user, password(user))
        subscribed: queue.Queue[bool] = queue.Queue()
        self._topics = topics or (f"edge/{broker.box_id}/#",)

        def on_connect(client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
            for topic in self._topics:
                client.subscribe(topic, qos=1)

        def on_subscribe(client: Any, userdata: Any, mid: Any, rcs: Any, props: Any) -> None:
            subscribed.put(True)

        def on_message(client: Any, userdata: Any, msg: Any) -> None:
            self.messages.put((msg.topic, msg.payload, bool(msg.retain)))

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        for _ in self._topics:
            subscribed.get(timeout=10)

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        info = self.client.publish(topic, payload, qos=qos)
        info.wait_for_publish(timeout=10)

    def wait_for(
        self, check: Any, timeout: float = 20.0, what: str = ""
    ) -> tuple[str, bytes, bool]:
        """The first message ``check(topic, payload, retained)`` accepts."""
        deadline = time.monotonic() + timeout
        seen: list[tuple[str, bytes]] = []
        while time.monotonic() < deadline:
            try:
                topic, payload, retained = self.messages.get(timeout=0.2)
            except queue.Empty:
                continue
            seen.append((topic, payload[:200]))
            if check(topic, payload, retained):
                return topic, payload, retained
        raise AssertionError(f"no message {what} within {timeout}s; saw {seen[-10:]}")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
