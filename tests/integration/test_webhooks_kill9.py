"""kill -9 of `switch run` with webhook deliveries outstanding: after a restart every
event is delivered, once each as far as the receiver can tell (delivery ids), in order."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from tests.conftest import free_port
from tests.integration.hook_receiver import HookReceiver
from tests.integration.switchproc import SwitchProcess

pytestmark = pytest.mark.integration
T = TypeVar("T")
PHONES = ["+85512000401", "+85512000402", "+85512000403"]


def wait_until(what: str, check: Callable[[], T | None], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")
        time.sleep(0.05)


def config(http: int, url: str) -> str:
    return f"""
[store]
path = "data/switch.db"
[http]
listen = "127.0.0.1:{http}"
[api]
tokens = ["secret-token-for-tests"]
[[modems]]
id = "sim1"
simulated = true
[sms]
default_modem = "sim1"
[[webhooks]]
url = "{url}"
secret = "kill-nine-shared-secret"
events = ["message_out"]
retry_initial = 0.05
retry_max = 0.2
max_attempts = 1000
"""


def test_undelivered_events_are_delivered_after_a_kill9(tmp_path: Path) -> None:
    with HookReceiver(default_status=503) as receiver:
        http = free_port()
        sw = SwitchProcess(config(http, receiver.url), tmp_path, http)
        sw.start()
        try:
            for n, phone in enumerate(PHONES):
                status, body = sw.post("/api/v1/messages", {"to": phone, "text": f"hello {n}"})
                assert status == 202, body
            # the switch is trying, and the receiver refuses: kill it now
            wait_until("attempts", lambda: len(receiver.requests()) >= 3)
            assert not receiver.delivered()
        finally:
            sw.kill9()
        receiver.answer(then=200)
        sw.start()
        try:
            delivered = wait_until(
                "three deliveries", lambda: (d := receiver.delivered()) and len(d) >= 3 and d
            )
            time.sleep(0.3)  # nothing more comes
            delivered = receiver.delivered()
            assert [d.json["data"]["to"] for d in delivered] == PHONES
            ids = [d.headers["x-switch-delivery"] for d in delivered]
            assert len(set(ids)) == 3
            refused = {
                r.headers["x-switch-delivery"] for r in receiver.requests() if r.status == 503
            }
            assert ids[0] in refused  # the first was the one being retried at the kill
            status, hooks = sw.get("/api/v1/webhooks")
            assert status == 200 and hooks[0]["behind"] == 0 and hooks[0]["failed"] == 0
        finally:
            sw.terminate()
