"""Browser tests run their scenarios again inside a network namespace with only ``lo``
(Chromium binds WebRTC to every interface): the outer test re-runs its own module there
with ``EDGE_NETNS=1``; inside, :data:`INSIDE` is true and the scenarios run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSIDE = os.environ.get("EDGE_NETNS") == "1"


def run_module_in_namespace(test_file: str, tmp_path: Path, timeout: float = 600) -> None:
    """Run the test module ``test_file`` in a new network namespace (``unshare -n``,
    ``lo`` up) and assert its scenarios passed; skipped when inside already, or without
    root and unshare."""
    if INSIDE:
        pytest.skip("this is the run inside the namespace")
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare (util-linux) for a network namespace")
    env = {**os.environ, "EDGE_NETNS": "1", "PYTHONPATH": str(ROOT)}
    cmd = (
        "ip link set lo up && exec "
        f"{sys.executable} -m pytest -q -p no:cacheprovider -o addopts= "
        f"--basetemp={tmp_path / 'inner'} {Path(test_file)}"
    )
    result = subprocess.run(
        ["unshare", "-n", "sh", "-c", cmd],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "skipped" in result.stdout, result.stdout[-2000:]
