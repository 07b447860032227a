"""`switch run` as a real process: HTTP API, JSON logs, clean exit on SIGTERM."""

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import free_port
from tests.integration.switchproc import ROOT, SwitchProcess


def config(port: int) -> str:
    return f"""
[store]
path = "data/switch.db"
[http]
listen = "127.0.0.1:{port}"
[api]
tokens = ["secret-token-for-tests"]
"""


def test_run_serves_api_logs_json_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    sw = SwitchProcess(config(port), tmp_path, port).start()
    try:
        assert sw.get("/healthz", auth=False) == (200, {"status": "ok"})
        assert sw.get("/api/v1/contacts?phone=%2B85512345678")[0] == 200
        status, body = sw.get("/api/v1/contacts?phone=%2B85512345678", auth=False)
        assert status == 401 and body["error"]["code"] == "unauthorized"
        status, body = sw.post("/api/v1/contacts/x/notes", raw=b"{not json")
        assert status in (400, 404) and "error" in body
        status, doc = sw.get("/openapi.json", auth=False)
        assert status == 200 and "/api/v1/contacts" in doc["paths"]
    finally:
        code = sw.terminate()
    assert code == 0
    events = sw.log_events()
    assert all("unparsed" not in e for e in events), events
    names = [e.get("event") for e in events]
    assert "switch_started" in names and names[-1] == "switch_stopped"
    # relative store path is relative to the working directory of `switch run`
    assert (tmp_path / "data" / "switch.db").exists()


def test_bad_config_exits_1_naming_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[http]\nlisten = "127.0.0.1:notaport"\n[[modems]]\nid = "g"\nbaudrate = "x"\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for command in ("run", "check-config"):
        proc = subprocess.run(
            [sys.executable, "-m", "switch", command, "--config", str(cfg)],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
        )
        assert proc.returncode == 1
        out = proc.stdout + proc.stderr
        assert "http.listen" in out and "modems[0].baudrate" in out
        assert "Traceback" not in out
