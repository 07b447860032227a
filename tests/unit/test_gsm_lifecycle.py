"""The modem lifecycle table (drivers.gsm.lifecycle) and the modem profiles."""

from __future__ import annotations

import pytest

from base.errors import ConfigError, ProtocolError
from drivers.gsm.lifecycle import EVENTS, STATES, TABLE, IllegalTransition, next_state
from drivers.gsm.profiles import available, load_profile


def test_the_table_is_closed() -> None:
    assert set(TABLE) == set(STATES)
    assert {target for row in TABLE.values() for target in row.values()} <= set(STATES)


def test_every_state_is_reachable_from_initialising() -> None:
    seen = {"initialising"}
    frontier = ["initialising"]
    while frontier:
        state = frontier.pop()
        for target in TABLE[state].values():
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    assert seen == set(STATES)


def test_every_state_survives_a_lost_port_and_restarts_on_open() -> None:
    for state in STATES:
        assert next_state(state, "port_lost") in ("disconnected", "failed")
        assert next_state(state, "port_opened") == "initialising"


def test_only_registration_leads_to_ready() -> None:
    into_ready = {
        (state, event)
        for state, row in TABLE.items()
        for event, target in row.items()
        if target == "ready"
    }
    assert {event for _, event in into_ready} == {"registered"}
    assert "no_sim" not in {state for state, _ in into_ready}
    assert "disconnected" not in {state for state, _ in into_ready}


@pytest.mark.parametrize(
    "path,expected",
    [
        (["port_opened", "sim_ready", "registered"], "ready"),
        (["port_opened", "sim_missing"], "no_sim"),
        (["port_opened", "pin_needed"], "pin_required"),
        (["port_opened", "sim_ready", "searching", "registered", "denied"], "denied"),
        (["port_opened", "sim_ready", "registered", "unresponsive", "gave_up"], "failed"),
        (["port_opened", "sim_ready", "registered", "port_lost", "port_opened"], "initialising"),
    ],
)
def test_paths(path: list[str], expected: str) -> None:
    state = "initialising"
    for event in path:
        state = next_state(state, event)
    assert state == expected


@pytest.mark.parametrize(
    "state,event",
    [("no_sim", "registered"), ("disconnected", "registered"), ("ready", "gave_up")],
)
def test_unexpected_events_raise(state: str, event: str) -> None:
    with pytest.raises(IllegalTransition):
        next_state(state, event)
    assert issubclass(IllegalTransition, ProtocolError)


def test_unknown_state_or_event_raises() -> None:
    with pytest.raises(IllegalTransition):
        next_state("sleeping", "registered")
    with pytest.raises(IllegalTransition):
        next_state("ready", "exploded")
    assert "registered" in EVENTS


def test_every_shipped_profile_loads() -> None:
    names = available()
    assert {
        "generic",
        "huawei_e173",
        "huawei_e1550",
        "simcom_sim800",
        "simcom_sim7600",
        "quectel_ec25",
    } <= set(names)
    for name in names:
        profile = load_profile(name)
        assert profile.iccid_commands and profile.cnmi.startswith("AT+CNMI=")
        assert profile.urc_dialect in ("huawei", "clcc")
        assert not any(c.upper().startswith(("AT+CNMI", "AT+CMGF")) for c in profile.extra_init)


def test_profile_details() -> None:
    huawei = load_profile("huawei")
    assert huawei.urc_dialect == "huawei" and huawei.ussd_hex and "AT^CURC=1" in huawei.extra_init
    assert load_profile("quectel").iccid_commands[0] == "AT+QCCID"
    assert load_profile("quectel").lte and not load_profile("simcom_sim800").lte
    assert load_profile("huawei_e1550").reset_reenumerates
    assert load_profile("generic").name


def test_unknown_profile_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        load_profile("nokia_3310")
    assert info.value.errors[0][0] == "modems.profile"
