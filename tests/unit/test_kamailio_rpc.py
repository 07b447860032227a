"""Reading Kamailio's RPC results (drivers/sip/edge/rpc.py): pure functions over the
trees Kamailio's ul.dump, uac.reg_dump and dispatcher.list return."""

from __future__ import annotations

from drivers.sip.edge.rpc import (
    contacts_from_ul_dump,
    registrations_from_reg_dump,
    workers_from_dispatcher_list,
)


def _aor(user: str, *addresses: str) -> dict[str, object]:
    return {
        "Info": {
            "AoR": user,
            "HashID": 1,
            "Contacts": [{"Contact": {"Address": a, "Expires": 60}} for a in addresses],
        }
    }


def test_registered_contacts_by_sip_user() -> None:
    result = {
        "Domains": [
            {
                "Domain": {
                    "Domain": "location",
                    "AoRs": [
                        _aor("1001", "sip:1001@10.0.0.7:5062", "sip:1001@10.0.0.8:5062"),
                        _aor("1002@127.0.0.1", "sip:1002@10.0.0.9:5060"),
                        _aor(""),
                    ],
                }
            }
        ]
    }
    assert contacts_from_ul_dump(result) == {
        "1001": ["sip:1001@10.0.0.7:5062", "sip:1001@10.0.0.8:5062"],
        "1002": ["sip:1002@10.0.0.9:5060"],
    }


def test_a_single_domain_or_aor_may_come_as_an_object_and_none_as_nothing() -> None:
    single = {"Domains": {"Domain": {"AoRs": _aor("1001", "sip:1001@h")}}}
    assert contacts_from_ul_dump(single) == {"1001": ["sip:1001@h"]}
    assert contacts_from_ul_dump(None) == {}
    assert contacts_from_ul_dump({"Domains": [{"Domain": {"AoRs": None}}]}) == {}


def test_trunk_registrations_say_their_state_and_never_the_password() -> None:
    result = [
        {"l_uuid": "up", "flags": 4 | 16, "auth_password": "secret"},
        {"l_uuid": "trying", "flags": 2},
        {"l_uuid": "off", "flags": 1 | 4},
        {"l_uuid": "down", "flags": 0},
        "not a record",
    ]
    rows = registrations_from_reg_dump(result)
    assert [(r["trunk"], r["state"], r["registered"]) for r in rows] == [
        ("up", "registered", True),
        ("trying", "registering", False),
        ("off", "disabled", False),
        ("down", "unregistered", False),
    ]
    assert all("auth_password" not in r for r in rows)
    assert result[0]["auth_password"] == "secret"  # the input is left alone
    assert registrations_from_reg_dump(None) == []


def test_dispatcher_targets_with_their_flags() -> None:
    result = {
        "NRSETS": 1,
        "RECORDS": [
            {
                "SET": {
                    "ID": 1,
                    "TARGETS": [
                        {"DEST": {"URI": "sip:127.0.0.1:5100", "FLAGS": "AP", "PRIORITY": 2}},
                        {"DEST": {"URI": "sip:127.0.0.1:5101", "FLAGS": "IP", "PRIORITY": 1}},
                    ],
                }
            }
        ],
    }
    assert workers_from_dispatcher_list(result) == [
        {"set": 1, "uri": "sip:127.0.0.1:5100", "flags": "AP", "active": True, "priority": 2},
        {"set": 1, "uri": "sip:127.0.0.1:5101", "flags": "IP", "active": False, "priority": 1},
    ]
    one = {"RECORDS": {"SET": {"ID": 1, "TARGETS": {"DEST": {"URI": "sip:w", "FLAGS": "A"}}}}}
    assert [w["uri"] for w in workers_from_dispatcher_list(one)] == ["sip:w"]
    assert workers_from_dispatcher_list(None) == []
