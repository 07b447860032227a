"""Fleet operations without a broker: events decided, commands checked, [mqtt] config."""

from __future__ import annotations

from typing import Any

import pytest

from base.errors import ConfigError, Rejected
from drivers.mqtt import Command
from switch.config import FLEET_COMMANDS, SAFE_FLEET_COMMANDS, parse_config
from switch.fleet import commands
from switch.fleet.telemetry import change_key
from switch.fleet.watch import DiskWatch, ModemWatch, worker_crashes
from switch.settings import mqtt_settings


def test_a_modem_is_lost_once_and_recovered_once_through_any_states() -> None:
    watch = ModemWatch()
    seen = [
        watch.update("gsm1", s)
        for s in (
            "initialising",
            "ready",
            "disconnected",
            "failed",
            "initialising",
            "searching",
            "ready",
            "ready",
        )
    ]
    assert seen == [None, None, "modem_lost", None, None, None, "modem_recovered", None]
    assert watch.update("gsm2", "failed") == "modem_lost"  # never seen before: lost too
    assert watch.update("gsm1", "no_sim") is None


def test_disk_low_and_ok_flip_once_with_hysteresis() -> None:
    disk = DiskWatch(threshold=1000)
    assert [disk.check(f) for f in (2000, 999, 500, 1050, 1099, 1100, 1200)] == [
        None,
        "disk_low",
        None,
        None,
        None,
        "disk_ok",
        None,
    ]


def test_worker_crashes_are_the_workers_whose_restarts_went_up() -> None:
    assert worker_crashes({0: 0, 1: 2}, {0: 1, 1: 2, 2: 1}) == [(0, 1), (2, 1)]
    assert worker_crashes({0: 3}, {0: 3}) == []


def _report(**changes: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "modems": [
            {
                "id": "gsm1",
                "state": "ready",
                "registered": True,
                "operator": "Smart",
                "signal": -70,
                "sms_queued": 0,
            }
        ],
        "trunks": [{"id": "p1", "registration": "registered"}],
        "agents": {"available": 1, "offline": 2},
        "memory": {"rss_bytes": 1},
        "disk_low": False,
    }
    report.update(changes)
    return report


def test_a_change_worth_a_report_is_a_state_not_a_measurement() -> None:
    base = change_key(_report())
    assert change_key(_report(memory={"rss_bytes": 2})) == base
    moved = _report()
    moved["modems"][0]["signal"] = -90
    assert change_key(moved) == base
    down = _report()
    down["modems"][0]["state"] = "disconnected"
    assert change_key(down) != base
    assert change_key(_report(agents={"available": 0, "offline": 3})) != base
    assert change_key(_report(trunks=[{"id": "p1", "registration": "unregistered"}])) != base


def test_the_command_table_and_the_config_name_the_same_commands() -> None:
    assert tuple(commands.HANDLERS) == FLEET_COMMANDS
    assert set(SAFE_FLEET_COMMANDS) <= set(FLEET_COMMANDS)
    assert "sms.send" not in SAFE_FLEET_COMMANDS and "modem.ussd" not in SAFE_FLEET_COMMANDS


CTX = commands.Context(core=None, config_source=None)  # type: ignore[arg-type]


async def _refusal(command: Command, allowed: frozenset[str]) -> Rejected:
    with pytest.raises(Rejected) as info:
        await commands.run(CTX, command, allowed)
    return info.value


async def test_unknown_forbidden_and_invalid_commands_are_refused_before_running() -> None:
    allowed = frozenset({"modem.diagnose"})
    assert (await _refusal(Command("1", "reboot", {}), allowed)).code == "unknown_command"
    forbidden = await _refusal(Command("2", "sms.send", {"to": "+1", "text": "x"}), allowed)
    assert forbidden.code == "forbidden" and "[mqtt] commands" in forbidden.message
    invalid = await _refusal(Command("3", "modem.diagnose", {"modem": "", "x": 1}), allowed)
    assert invalid.code == "invalid_args"
    assert "modem:" in invalid.message and "x: unknown argument" in invalid.message
    ussd = await _refusal(
        Command("4", "modem.ussd", {"modem": "g", "code": "*1#; AT+CFUN=0"}),
        frozenset({"modem.ussd"}),
    )
    assert ussd.code == "invalid_args"


def test_the_audit_shows_no_message_text_and_no_secret() -> None:
    shown = commands.redact({"to": "+855", "text": "my pin is 1234", "password": "x", "n": [1]})
    assert shown == {
        "to": "+855",
        "text": "<14 characters>",
        "password": "<hidden>",
        "n": "<list>",
    }


API = {"api": {"tokens": ["secret-token-for-tests"]}}


def _mqtt(**keys: Any) -> dict[str, Any]:
    return {**API, "mqtt": {"box_id": "shop-12", **keys}}


def test_mqtt_config_maps_to_the_driver_settings() -> None:
    config = parse_config(
        _mqtt(url="mqtts://broker.example:8884", tls_ca="/etc/ca.pem", username="u", password="p")
    )
    assert config.mqtt is not None and config.mqtt.commands == list(SAFE_FLEET_COMMANDS)
    s = mqtt_settings(config.mqtt)
    assert (s.host, s.port, s.tls, s.tls_ca, s.username, s.password) == (
        "broker.example",
        8884,
        True,
        "/etc/ca.pem",
        "u",
        "p",
    )
    default = parse_config(_mqtt()).mqtt
    assert default is not None and (default.host, default.port, default.tls) == (
        "127.0.0.1",
        1883,
        False,
    )
    bare = parse_config(_mqtt(url="mqtts://broker.example")).mqtt
    assert bare is not None and bare.port == 8883


@pytest.mark.parametrize(
    ("keys", "key_path", "fragment"),
    [
        ({"url": "http://x:1883"}, "mqtt.url", "mqtt:// or mqtts://"),
        ({"url": "mqtt://user:pw@x:1883"}, "mqtt.url", "credentials"),
        ({"url": "mqtt://x:99999"}, "mqtt.url", "host:port"),
        ({"commands": ["sms.send", "rm.rf"]}, "mqtt.commands", "unknown command 'rm.rf'"),
        ({"tls_ca": "/ca.pem"}, "mqtt", "tls_ca needs an mqtts:// url"),
        ({"password": "p"}, "mqtt", "password needs username"),
        ({"box_id": "a/b"}, "mqtt.box_id", "pattern"),
        ({"telemetry_interval": 0}, "mqtt.telemetry_interval", "greater than or equal"),
    ],
)
def test_bad_mqtt_config_names_the_key(keys: dict[str, Any], key_path: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_mqtt(**keys))
    assert any(path == key_path and fragment in message for path, message in info.value.errors), (
        info.value.errors
    )


def test_mqtt_needs_a_box_id_and_backup_checks_its_time() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({**API, "mqtt": {}})
    assert ("mqtt.box_id", "Field required") in info.value.errors
    with pytest.raises(ConfigError) as info:
        parse_config({**API, "backup": {"at": "25:00"}})
    assert info.value.errors[0][0] == "backup.at"
