"""Config errors name the key path; the demo config is valid."""

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from base.errors import ConfigError
from switch.cli import main
from switch.config import config_warnings, load_config, parse_config

TOKENS = {"tokens": ["a-token-of-16-chars"]}


def errors_of(data: dict[str, object]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        parse_config({"api": TOKENS, **data})
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
    cfg = parse_config(
        {"api": TOKENS, "modems": [{"id": "g", "port": "/dev/x", "audio_port": "/dev/y"}]}
    )
    assert cfg.modems[0].audio_port == "/dev/y"
    modem = {"id": "g", "port": "/dev/x"}
    assert parse_config({"api": TOKENS, "modems": [modem]}).modems[0].audio_port is None
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
    good.write_text('[store]\npath = "x.db"\n[api]\ntokens = ["a-token-of-16-chars"]\n')
    assert main(["check-config", "--config", str(good)]) == 0


@given(st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=5))))
def test_arbitrary_top_level_input_gives_config_error_or_config(data: dict[str, object]) -> None:
    try:
        parse_config(data)
    except ConfigError as exc:
        assert exc.errors and all(isinstance(p, str) for p, _ in exc.errors)


def test_cross_field_errors_are_all_reported_each_with_its_key_path() -> None:
    errs = errors_of(
        {
            "modems": [{"id": "g", "port": "/dev/x"}, {"id": "g", "port": "/dev/y"}],
            "sms": {"default_modem": "ghost", "routes": [{"prefix": "+855", "modem": "nope"}]},
            "agents": [{"id": "a", "sip_user": "1001", "sip_password": "pw-1001"}],
        }
    )
    paths = {p for p, _ in errs}
    assert paths == {"modems[1].id", "sms.default_modem", "sms.routes[0].modem", "sip"}
    assert "(top level)" not in paths
    errs = errors_of({"sip": {}, "trunks": [{"id": "t", "host": "h", "register": True}]})
    assert {p for p, _ in errs} == {"trunks[0].username", "trunks[0].password"}


def test_tokens_empty_missing_or_short_are_refused() -> None:
    assert errors_of({"api": {"tokens": []}}) == [
        ("api.tokens", "at least one API token is needed")
    ]
    [(path, _)] = errors_of({"api": {}})
    assert path == "api.tokens"
    with pytest.raises(ConfigError) as info:
        parse_config({})
    assert [p for p, _ in info.value.errors] == ["api.tokens"]
    errs = errors_of({"api": {"tokens": ["short-token"], "technician_tokens": ["x" * 15]}})
    assert [p for p, _ in errs] == ["api.tokens[0]", "api.technician_tokens[0]"]
    assert "16" in errs[0][1]
    assert parse_config({"api": {"tokens": ["x" * 16]}}).api.tokens == ["x" * 16]


def test_an_empty_file_fails_check_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    assert main(["check-config", "--config", str(empty)]) == 1
    assert "api.tokens: at least one API token is needed" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["example.toml", "demo.toml", "rpi4.toml"])
def test_shipped_configs_pass_with_a_warning_per_placeholder_token(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = Path(__file__).resolve().parents[2] / "configs" / name
    config = load_config(path)
    assert config_warnings(config) and {p for p, _ in config_warnings(config)} == {
        "api.tokens[0]",
        "api.technician_tokens[0]",
    }
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "warning: api.tokens[0]:" in out and "warning: api.technician_tokens[0]:" in out
    assert f"store: {Path(config.store.path).absolute()}" in out


def test_check_config_prints_the_resolved_store_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[store]\npath = "data/x.db"\n[api]\ntokens = ["a-token-of-16-chars"]\n')
    monkeypatch.chdir(tmp_path)
    assert main(["check-config", "--config", str(f)]) == 0
    out = capsys.readouterr().out
    assert f"store: {tmp_path / 'data' / 'x.db'}" in out and "warning" not in out


def test_callers_per_worker_is_one_by_default_and_at_most_three() -> None:
    api = {"tokens": ["x" * 16]}
    sip = parse_config({"api": api, "sip": {"listen": "127.0.0.1:5060"}}).sip
    assert sip is not None and sip.callers_per_worker == 1
    parked = parse_config({"api": api, "sip": {"callers_per_worker": 3}}).sip
    assert parked is not None and parked.callers_per_worker == 3
    [(path, message)] = errors_of({"api": api, "sip": {"callers_per_worker": 4}})
    assert path == "sip.callers_per_worker" and "3" in message
