"""How a supervised child's stderr lines reach our log (drivers/sip/process.py): the
per-second budget, and the lines of a child that logs structlog JSON itself."""

from __future__ import annotations

import json

from drivers.sip.process import LineBudget, LogLine, json_log_line


def test_the_budget_admits_so_many_lines_a_second_and_counts_the_rest() -> None:
    budget = LineBudget(3)
    seen = [budget.admit(10.1 + i / 100) for i in range(5)]
    assert seen == [(True, 0), (True, 0), (True, 0), (False, 0), (False, 0)]
    # the next second opens a new window and reports what the last one cut
    assert budget.admit(11.0) == (True, 2)
    assert budget.admit(11.5) == (True, 0)
    assert budget.flush() == 0


def test_what_the_budget_cut_last_is_reported_when_the_stream_ends() -> None:
    budget = LineBudget(1)
    assert budget.admit(5.0) == (True, 0)
    assert budget.admit(5.2) == (False, 0)
    assert budget.flush() == 1
    assert budget.flush() == 0


def test_a_json_line_is_logged_as_the_same_event_at_its_level() -> None:
    line = json.dumps(
        {
            "worker": 2,
            "sip_port": 5102,
            "event": "worker_started",
            "level": "warning",
            "timestamp": "2024-01-01T00:00:00Z",
        }
    )
    assert json_log_line(line, "worker") == LogLine(
        "warning", "worker_started", {"worker": 2, "sip_port": 5102}
    )


def test_an_unknown_level_is_info_and_other_lines_are_the_childs_stderr() -> None:
    odd = json.dumps({"event": "x", "level": "shout"})
    assert json_log_line(odd, "worker") == LogLine("info", "x", {})
    for line in (
        "Traceback (most recent call last):",
        "usage: python -m drivers.sip.media.worker [-h]",
        "[1, 2]",
        '{"no_event": 1}',
        '{"event": 5}',
    ):
        assert json_log_line(line, "worker") == LogLine("warning", "worker_stderr", {"line": line})
