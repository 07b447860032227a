"""The supervised child process both SIP planes use (drivers/sip/process.py), with real
processes: restart with backoff, the process group killed, start failures in the
child's words, a stderr flood cut and counted, death with the parent."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from base.backoff import Backoff
from base.errors import ChannelUnavailable
from drivers.sip.process import ChildProcess, Launch, LogLine, StartFailed

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import subprocess, sys, time
mode, ready = sys.argv[1], sys.argv[2]
if mode == "fail":
    print("boom: cannot start", file=sys.stderr, flush=True)
    sys.exit(3)
if mode == "flood":
    for i in range(500):
        print(f"line {i}", file=sys.stderr)
    sys.stderr.flush()
if mode == "serve":
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    print(f"grandchild {sleeper.pid}", file=sys.stderr, flush=True)
if mode != "hang":
    open(ready, "w").close()
time.sleep(60)
"""


class Recorder:
    """A structlog-shaped logger that keeps what it is given."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def __getattr__(self, level: str) -> Any:
        def log(event: str, **fields: Any) -> None:
            self.calls.append((level, event, fields))

        return log

    def events(self, name: str) -> list[dict[str, Any]]:
        return [fields for _, event, fields in self.calls if event == name]


class Script:
    """A :class:`Program`: the Python child above, ready once it wrote ``ready``."""

    def __init__(self, tmp: Path, mode: str) -> None:
        self.ready_file = tmp / "ready"
        self.mode = mode
        self.exits: list[int] = []
        self.ups = 0

    async def launch(self) -> Launch:
        self.ready_file.unlink(missing_ok=True)
        return Launch((sys.executable, "-c", CHILD, self.mode, str(self.ready_file)))

    async def ready(self, proc: asyncio.subprocess.Process) -> None:
        while not self.ready_file.exists():
            await asyncio.sleep(0.02)

    def up(self, proc: asyncio.subprocess.Process) -> None:
        self.ups += 1

    def log_line(self, line: str, stopping: bool) -> LogLine:
        return LogLine("info", "child", {"line": line})

    async def start_failed(self, failure: StartFailed) -> Exception:
        return ChannelUnavailable(f"child failed ({failure.status}): {failure.lines}")

    def exited(self, status: int, uptime: float) -> None:
        self.exits.append(status)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes() != b""  # a zombie is dead
    except OSError:
        return False


async def eventually(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


def grandchild(child: ChildProcess) -> int:
    lines = [line for line in child.tail if line.startswith("grandchild ")]
    assert lines, list(child.tail)
    return int(lines[-1].split()[1])


@pytest.mark.faults
async def test_a_child_that_dies_is_restarted_and_its_group_killed(tmp_path: Path) -> None:
    script, log = Script(tmp_path, "serve"), Recorder()
    child = ChildProcess("child", script, log=log, backoff=Backoff(initial=0.05, maximum=0.1))
    await child.start()
    try:
        first = child.pid
        assert first is not None and child.running
        await eventually(lambda: any(x.startswith("grandchild ") for x in child.tail))
        orphan = grandchild(child)
        os.kill(first, signal.SIGKILL)
        await eventually(lambda: child.running and child.pid != first)
        assert script.exits == [-signal.SIGKILL]
        assert child.restarts == 1 and script.ups == 2
        assert log.events("child_restarted") == [{"pid": child.pid, "restarts": 1}]
        await eventually(lambda: not alive(orphan))  # nothing of the old one is left
    finally:
        await child.stop()


async def test_stop_ends_the_child_and_everything_it_started(tmp_path: Path) -> None:
    child = ChildProcess("child", Script(tmp_path, "serve"), log=Recorder(), term_timeout=2.0)
    await child.start()
    pid = child.pid
    assert pid is not None
    await eventually(lambda: any(x.startswith("grandchild ") for x in child.tail))
    sleeper = grandchild(child)
    await child.stop()
    assert not child.running
    assert not alive(pid) and not alive(sleeper)
    await asyncio.sleep(0.3)
    assert child.pid == pid and child.restarts == 0  # stopped for good


async def test_a_start_that_fails_raises_with_the_childs_own_lines(tmp_path: Path) -> None:
    child = ChildProcess("child", Script(tmp_path, "fail"), log=Recorder())
    with pytest.raises(ChannelUnavailable, match=r"child failed \(3\).*boom: cannot start"):
        await child.start()
    assert not child.running

    hung = ChildProcess("child", Script(tmp_path, "hang"), log=Recorder(), start_timeout=0.5)
    with pytest.raises(ChannelUnavailable, match=r"child failed \(None\)"):
        await hung.start()
    assert hung.pid is not None and not alive(hung.pid)  # killed, not left behind

    missing = ChildProcess("child", Script(tmp_path, "serve"), log=Recorder())
    missing.program.launch = _missing_program  # type: ignore[method-assign]
    with pytest.raises(ChannelUnavailable, match="cannot run /nonexistent/program"):
        await missing.start()


async def _missing_program() -> Launch:
    return Launch(("/nonexistent/program",))


async def test_a_stderr_flood_is_cut_and_every_cut_line_counted(tmp_path: Path) -> None:
    log = Recorder()
    child = ChildProcess("child", Script(tmp_path, "flood"), log=log, lines_per_second=10)
    await child.start()
    await eventually(lambda: len(child.tail) == child.tail.maxlen or len(child.tail) >= 60)
    await child.stop()
    logged = log.events("child")
    suppressed = sum(f["lines"] for f in log.events("child_log_suppressed"))
    assert 10 <= len(logged) <= 30  # 10 a second, over at most a few seconds
    assert len(logged) + suppressed == 500
    assert logged[0] == {"line": "line 0"}


@pytest.mark.faults
def test_a_child_dies_with_its_parent_even_on_kill_9(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT],
        cwd=str(ROOT),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert alive(pid)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while alive(pid):
            assert time.monotonic() < deadline, f"child {pid} outlived its parent"
            time.sleep(0.05)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


PARENT = """
import asyncio
from drivers.sip.process import ChildProcess, Launch, LogLine

class Sleep:
    async def launch(self):
        return Launch(("sleep", "60"))
    async def ready(self, proc):
        return None
    def up(self, proc):
        print(proc.pid, flush=True)
    def log_line(self, line, stopping):
        return LogLine("info", "sleep", {"line": line})
    async def start_failed(self, failure):
        return failure
    def exited(self, status, uptime):
        pass

class Quiet:
    def __getattr__(self, name):
        return lambda *args, **kwargs: None

async def main():
    await ChildProcess("sleep", Sleep(), log=Quiet()).start()
    await asyncio.sleep(60)

asyncio.run(main())
"""
