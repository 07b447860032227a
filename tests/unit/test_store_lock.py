"""The store's lock: one holder at a time, released with its holder, clear refusals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from base.errors import ConfigError
from switch.store.lock import StoreLock, StoreLocked


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = StoreLock.acquire(data)
    assert data.stat().st_mode & 0o777 == 0o700
    assert (data / "switch.lock").read_text().strip() == str(os.getpid())
    with pytest.raises(StoreLocked) as info:
        StoreLock.acquire(data)
    assert info.value.pid == os.getpid() and f"pid {os.getpid()}" in str(info.value)
    first.release()
    again = StoreLock.acquire(data)  # released: the next one takes it
    assert again.held
    again.release()


def test_a_directory_that_cannot_be_created_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError) as info:
        StoreLock.acquire(blocker / "data")
    assert info.value.errors[0][0] == "store.path"
