"""Modem quirk profiles load, and an unknown profile is a config error naming the key."""

import pytest

from drivers.gsm.quirks import available, load_quirks
from drivers.gsm.states import STATES, TRANSITIONS, next_state
from switch.errors import ConfigError, ProtocolError


def test_every_shipped_profile_loads_with_iccid_and_init() -> None:
    names = available()
    assert {
        "huawei_e173",
        "huawei_e1550",
        "simcom_sim800",
        "simcom_sim7600",
        "quectel_ec25",
    } <= set(names)
    for name in names:
        q = load_quirks(name)
        assert q.iccid_commands and any("CNMI" in c for c in q.init)
    assert load_quirks("huawei").call_state == "huawei"
    assert load_quirks("quectel").iccid_commands[0] == "AT+QCCID"


def test_unknown_profile_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        load_quirks("nokia_3310")
    assert info.value.errors[0][0] == "modems.profile"


def test_lifecycle_table_is_closed_and_rejects_unexpected_events() -> None:
    assert set(TRANSITIONS) == set(STATES)
    assert {t for row in TRANSITIONS.values() for t in row.values()} <= set(STATES)
    assert next_state("initialising", "registered") == "ready"
    assert next_state("disconnected", "gave_up") == "failed"
    with pytest.raises(ProtocolError):
        next_state("no_sim", "registered")
