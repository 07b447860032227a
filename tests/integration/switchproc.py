"""Start `switch run` as a real subprocess for integration tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


class SwitchProcess:
    def __init__(
        self, config_text: str, workdir: Path, port: int, token: str = "secret-token-for-tests"
    ):
        self.workdir = workdir
        self.port = port
        self.token = token
        self.config = workdir / "switch.toml"
        self.config.write_text(config_text)
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr_path = workdir / "switch.stderr"

    def start(self, timeout: float = 20.0) -> SwitchProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self._stderr = open(self.stderr_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "switch", "run", "--config", str(self.config)],
            cwd=self.workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"switch exited early:\n{self.stderr_text()[-3000:]}")
            try:
                if self.get("/healthz", auth=False)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        # not up in time: stop it (SIGTERM stops its Kamailio and workers too), so a
        # failed start leaves nothing running behind the test
        stopped = "stopped"
        try:
            self.terminate(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill9()
            stopped = "killed (SIGTERM was not enough)"
        raise RuntimeError(
            f"switch did not become healthy in {timeout} s; {stopped}:\n"
            f"{self.stderr_text()[-3000:]}"
        )

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        auth: bool = True,
        raw: bytes | None = None,
    ) -> tuple[int, Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                text = resp.read()
                return resp.status, (json.loads(text) if text.startswith((b"{", b"[")) else text)
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def get(self, path: str, *, auth: bool = True) -> tuple[int, Any]:
        return self.request("GET", path, auth=auth)

    def post(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return self.request("POST", path, body, **kw)

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def log_events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.stderr_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"unparsed": line})
        return out

    def terminate(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self._stderr.close()

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._stderr.close()
