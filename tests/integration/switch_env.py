"""What the calls e2e tests share: a running `switch run` with its SIP edge, its HTTP API,
and registering an agent's phone (sipp, digest auth) at the edge."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.switchproc import SwitchProcess

SIPP_E2E = Path(__file__).with_name("sipp_e2e")


@dataclass
class SwitchEnv:
    """A running `switch run` with its SIP edge, seen from a test."""

    sw: SwitchProcess
    edge: int
    trunk: int
    tmp: Path

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return self.sw.request(method, path, body)

    def wait_api(self, path: str, check: Any, timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            status, last = self.api("GET", path)
            if status == 200 and check(last):
                return last
            time.sleep(0.1)
        raise AssertionError(f"{path}: condition not met; last answer {last}")

    def register(self, user: str, password: str, port: int) -> None:
        proc = subprocess.run(
            [
                "sipp",
                "-sf",
                str(SIPP_E2E / "register.xml"),
                "-i",
                "127.0.0.1",
                "-p",
                str(port),
                "-s",
                user,
                "-au",
                user,
                "-ap",
                password,
                "-key",
                "expires",
                "300",
                "-m",
                "1",
                "-timeout",
                "10",
                "-timeout_error",
                "-nostdin",
                f"127.0.0.1:{self.edge}",
            ],
            capture_output=True,
            timeout=30,
            cwd=self.tmp,
        )
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
