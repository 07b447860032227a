"""`switch run` on a store written by a newer switch: one clear line, exit 1."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from switch.store.schema import SCHEMA_VERSION

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "store"


def test_switch_run_on_a_newer_database_says_so_in_one_line_and_exits_1(tmp_path: Path) -> None:
    db = tmp_path / "data" / "switch.db"
    db.parent.mkdir()
    shutil.copyfile(FIXTURES / f"v{SCHEMA_VERSION}.db", db)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    conn.close()
    config = tmp_path / "switch.toml"
    config.write_text(
        f'[api]\ntokens = ["secret-token-for-tests"]\n[store]\npath = "{db}"\n'
        '[http]\nlisten = "127.0.0.1:1"\n'
    )
    proc = subprocess.run(
        [sys.executable, "-m", "switch", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 1
    # one line for people (JSON log lines, if any, are for the log)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("{")]
    assert len(lines) == 1, proc.stderr
    assert "newer switch (schema 999" in lines[0] and str(db) in lines[0]
