"""The health view (:func:`switch.health.collect`): each fault from outside becomes one
plain line in ``problems`` and ``status`` degraded; nothing wrong is ``ok``."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from drivers.gsm.types import ModemStatus
from switch.health import collect


def box(
    *,
    failing: str | None = None,
    kamailio: bool = True,
    workers: tuple[str, ...] = ("up", "up"),
    rtpengine: bool | None = None,
    modem: tuple[str, str | None] | None = None,
) -> Any:
    web = None
    if rtpengine is not None:
        web = SimpleNamespace(rtpengine=SimpleNamespace(running=rtpengine, restarts=2))
    calls = SimpleNamespace(
        kamailio=SimpleNamespace(running=kamailio, restarts=1),
        pool=SimpleNamespace(
            health=lambda: [{"state": s, "restarts": i} for i, s in enumerate(workers)]
        ),
        web=web,
    )
    sms = None
    if modem is not None:
        status = ModemStatus(modem_id="gsm1", state=modem[0], last_error=modem[1])
        sms = SimpleNamespace(statuses={"gsm1": status})
    return SimpleNamespace(store=SimpleNamespace(failing=failing), calls=calls, sms=sms)


def test_a_healthy_box_is_ok_with_no_problems() -> None:
    health = collect(box(modem=("ready", None), rtpengine=True))
    assert health["status"] == "ok" and health["problems"] == []
    assert health["sip"] == {
        "edge": {"state": "up", "restarts": 1},
        "rtpengine": {"state": "up", "restarts": 2},
        "workers": {"up": 2, "total": 2, "restarts": 1},
    }
    assert health["modems"] == [{"id": "gsm1", "state": "ready", "last_error": None}]
    assert health["store"] == {"state": "ok", "error": None}


def test_each_fault_is_one_plain_line() -> None:
    health = collect(
        box(
            failing="the disk holding the store is full (disk I/O error): free some space",
            kamailio=False,
            workers=("up", "starting"),
            rtpengine=False,
            modem=("disconnected", "port gone"),
        )
    )
    assert health["status"] == "degraded"
    assert [line.split(":")[0] for line in health["problems"]] == [
        "store",
        "sip edge",
        "media workers",
        "rtpengine",
        "modem gsm1",
    ]
    assert "free some space" in health["problems"][0]
    assert health["problems"][2] == "media workers: 1 of 2 up (the others are restarting)"
    assert health["problems"][4] == "modem gsm1: disconnected: port gone"
    assert health["store"]["state"] == "failing"


def test_a_box_without_sip_or_modems_says_so_with_nulls() -> None:
    core = SimpleNamespace(store=SimpleNamespace(failing=None), calls=None, sms=None)
    assert collect(core) == {  # type: ignore[arg-type]
        "status": "ok",
        "problems": [],
        "store": {"state": "ok", "error": None},
        "sip": None,
        "modems": [],
    }
