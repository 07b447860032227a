"""Config errors name the key path; the demo config is valid."""

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from base.errors import ConfigError
from switch.cli import main
from switch.config import load_config, parse_config


def errors_of(data: dict[str, object]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return info.value.errors


def test_demo_config_is_valid() -> None:
    cfg = load_config(None)
    assert cfg.http.listen == "127.0.0.1:8080"
    assert cfg.store.path == "data/switch.db"
    assert [m.id for m in cfg.modems] == ["sim1"] and cfg.modems[0].simulated


def test_unknown_key_is_named_with_its_path() -> None:
    assert errors_of({"modems": [{"id": "g", "port": "/dev/x", "baud": 9600}]}) == [
        ("modems[0].baud", "unknown key")
    ]


def test_wrong_type_is_named_with_its_path() -> None:
    [(path, message)] = errors_of({"modems": [{"id": "g", "port": "/dev/x", "baudrate": "fast"}]})
    assert path == "modems[0].baudrate" and "integer" in message


def test_every_error_is_reported_not_just_the_first() -> None:
    errs = errors_of({"http": {"listen": "nowhere"}, "numbers": {"default_region": "ZZ"}})
    assert {p for p, _ in errs} == {"http.listen", "numbers.default_region"}


def test_bad_did_and_cross_references() -> None:
    [(path, _)] = errors_of({"sip": {}, "trunks": [{"id": "t", "host": "h", "dids": ["12"]}]})
    assert path == "trunks[0].dids"
    [(_, msg)] = errors_of({"sms": {"default_modem": "ghost"}})
    assert "ghost" in msg
    [(_, msg)] = errors_of({"trunks": [{"id": "t", "host": "h"}]})
    assert "[sip]" in msg


def test_modem_audio_port_is_an_absolute_path_and_not_for_simulated_modems() -> None:
    cfg = parse_config({"modems": [{"id": "g", "port": "/dev/x", "audio_port": "/dev/y"}]})
    assert cfg.modems[0].audio_port == "/dev/y"
    assert parse_config({"modems": [{"id": "g", "port": "/dev/x"}]}).modems[0].audio_port is None
    [(path, msg)] = errors_of({"modems": [{"id": "g", "port": "/dev/x", "audio_port": "ttyUSB1"}]})
    assert path == "modems[0].audio_port" and "absolute" in msg
    [(path, msg)] = errors_of({"modems": [{"id": "s", "simulated": True, "audio_port": "/dev/y"}]})
    assert path == "modems[0]" and "simulated" in msg


def test_toml_syntax_error_is_reported(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[store\npath=1")
    with pytest.raises(ConfigError) as info:
        load_config(f)
    assert info.value.errors[0][0] == "(syntax)"


def test_check_config_cli_prints_paths_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[http]\nlisten = "x"\n[[agents]]\nid = "alice"\nsip_user = "1001"\nlisten = 1\n')
    assert main(["check-config", "--config", str(f)]) == 1
    out = capsys.readouterr().out
    assert "http.listen" in out and "agents[0].listen: unknown key" in out
    good = tmp_path / "good.toml"
    good.write_text('[store]\npath = "x.db"\n')
    assert main(["check-config", "--config", str(good)]) == 0


@given(st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=5))))
def test_arbitrary_top_level_input_gives_config_error_or_config(data: dict[str, object]) -> None:
    try:
        parse_config(data)
    except ConfigError as exc:
        assert exc.errors and all(isinstance(p, str) for p, _ in exc.errors)


def test_callers_per_worker_is_one_by_default_and_at_most_three() -> None:
    sip = parse_config({"sip": {"listen": "127.0.0.1:5060"}}).sip
    assert sip is not None and sip.callers_per_worker == 1
    parked = parse_config({"sip": {"callers_per_worker": 3}}).sip
    assert parked is not None and parked.callers_per_worker == 3
    [(path, message)] = errors_of({"sip": {"callers_per_worker": 4}})
    assert path == "sip.callers_per_worker" and "3" in message
