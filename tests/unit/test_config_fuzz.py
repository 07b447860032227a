"""The config loader against anything a person (or a broken editor) may write: the
answer is a Config or a ConfigError naming key paths, never another exception."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from base.errors import ConfigError
from switch.config import Config, load_config, parse_config

pytestmark = pytest.mark.faults

SECTIONS = ["store", "numbers", "http", "api", "runtime", "log", "sms", "sip"]
LISTS = ["modems", "trunks", "agents"]
# Keys the schema knows, so generated input gets past "unknown key" into the checks.
KEYS = [
    *SECTIONS,
    *LISTS,
    *[
        "path",
        "default_region",
        "listen",
        "tokens",
        "technician_tokens",
        "id",
        "port",
        "baudrate",
        "pin",
        "simulated",
        "audio_port",
        "smsc",
        "default_modem",
        "routes",
        "prefix",
        "modem",
        "workers",
        "host",
        "dids",
        "register",
        "username",
        "password",
        "sip_user",
        "sip_password",
        "skills",
        "number_format",
        "level",
        "menu",
    ],
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=24)
    | st.sampled_from(["127.0.0.1:8080", "KH", "+85512345678", "a-token-of-16-chars", "/dev/x"])
)


def tree(depth: int) -> st.SearchStrategy[Any]:
    key = st.sampled_from(KEYS) | st.text(max_size=6)
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(key, inner, max_size=5),
        max_leaves=depth,
    )


section = st.dictionaries(st.sampled_from(KEYS), tree(6), max_size=4) | tree(3)
entries = st.lists(st.dictionaries(st.sampled_from(KEYS), tree(4), max_size=5), max_size=3)
configs = st.fixed_dictionaries(
    {},
    optional={
        **{name: section for name in SECTIONS},
        **{name: entries | tree(3) for name in LISTS},
    },
)


def check(data: Any) -> None:
    try:
        config = parse_config(data)
    except ConfigError as exc:
        assert exc.errors
        for path, message in exc.errors:
            assert isinstance(path, str) and path and isinstance(message, str) and message
    else:
        assert isinstance(config, Config) and config.api.tokens


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(configs)
def test_arbitrary_structures_give_a_config_or_config_errors(data: dict[str, Any]) -> None:
    check(data)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_arbitrary_file_text_gives_a_config_or_config_errors(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.toml"
        path.write_text(text, encoding="utf-8")
        try:
            load_config(path)
        except ConfigError as exc:
            assert exc.errors and all(p and m for p, m in exc.errors)


def test_unreadable_bytes_are_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(b'[store]\npath = "\xff\xfe"\n')
    try:
        load_config(path)
    except ConfigError as exc:
        assert exc.errors[0][0] == "(file)"
    else:
        raise AssertionError("a file that is not UTF-8 was accepted")
