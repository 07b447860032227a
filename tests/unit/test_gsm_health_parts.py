"""The pure parts of health and recovery: SMS settings read back, drift, URC events,
the escalation, and what diagnose says about settings it restored."""

from __future__ import annotations

import pytest

from drivers.gsm.engine import Done, Urc, simple
from drivers.gsm.modem.diagnosis import Facts, checks
from drivers.gsm.modem.health import Repair, registration_event
from drivers.gsm.modem.recovery import MAX_ROUNDS, Recovery
from drivers.gsm.modem.sms_settings import Drift, SmsSettings, drift, read, storage
from drivers.gsm.modem.urc import (
    CallSignal,
    RegistrationUrc,
    ReportDirect,
    Restarted,
    SignalUrc,
    SimFull,
    SmsDirect,
    SmsOnSim,
    parse,
)
from drivers.gsm.types import ModemStatus


def done(*lines: str, ok: bool = True) -> Done:
    return Done(simple("AT"), ok, tuple(lines), "OK" if ok else "ERROR")


SET_UP = read(
    done("+CNMI: 2,1,0,1,0"),
    done("+CMGF: 0"),
    done("+CSMS: 1,1,1,1"),
    done('+CPMS: "SM",3,10,"SM",3,10,"SM",3,10'),
)


# ------------------------------------------------------------------ SMS settings


def test_settings_are_read_from_the_answers() -> None:
    assert SmsSettings(cnmi=(2, 1, 0, 1, 0), cmgf=0, csms=1, cpms=("SM", "SM", "SM")) == SET_UP
    assert storage(done('+CPMS: "SM",3,10,"SM",3,10,"SM",3,10')) == (3, 10)


def test_refused_or_unreadable_answers_are_not_checked() -> None:
    unread = read(done(ok=False), done("+CMGF: x"), None, done("nothing"))
    assert unread == SmsSettings()
    assert drift(SET_UP, unread) == ()
    assert drift(SmsSettings(), SET_UP) == ()


def test_a_reset_modem_shows_as_drift_in_query_order() -> None:
    after_atz = read(
        done("+CNMI: 0,0,0,0,0"),
        done("+CMGF: 1"),
        done("+CSMS: 0,1,1,1"),
        done('+CPMS: "ME",0,50,"ME",0,50,"ME",0,50'),
    )
    assert [str(d) for d in drift(SET_UP, after_atz)] == [
        "CNMI was 0,0,0,0,0 (set up as 2,1,0,1,0)",
        "CMGF was 1 (set up as 0)",
        "CSMS was 0 (set up as 1)",
        "CPMS was ME,ME,ME (set up as SM,SM,SM)",
    ]
    assert drift(SET_UP, SET_UP) == ()


def test_registration_event_from_stats() -> None:
    assert registration_event({1}) == ("registered", True)
    assert registration_event({5, 2}) == ("registered", True)
    assert registration_event({3}) == ("denied", False)
    assert registration_event({2}) == ("searching", False)
    assert registration_event(set()) == ("searching", False)


# ------------------------------------------------------------------ URCs


@pytest.mark.parametrize(
    ("urc", "event"),
    [
        (Urc("+CMTI", '+CMTI: "SM",3', '"SM",3'), SmsOnSim(3)),
        (Urc("+CMT", "+CMT: ,23", ",23", pdu="07AB"), SmsDirect("07AB")),
        (Urc("+CDS", "+CDS: 25", "25", pdu="07CD"), ReportDirect("07CD")),
        (Urc("+CREG", "+CREG: 5", "5"), RegistrationUrc("+CREG", 5)),
        (Urc("^RSSI", "^RSSI: 31", "31"), SignalUrc(-51)),
        (Urc("^SMMEMFULL", "^SMMEMFULL", ""), SimFull()),
        (Urc("+CIEV", '+CIEV: "SMSFULL",1', '"SMSFULL",1'), SimFull()),
        (Urc("RING", "RING", ""), CallSignal("ring")),
        (Urc("+CLIP", '+CLIP: "+85512",145', '"+85512",145'), CallSignal("clip", "+85512")),
        (Urc("+CLIP", '+CLIP: "",128', '"",128'), CallSignal("clip", None)),
        (Urc("^CONN", "^CONN: 1,0", "1,0"), CallSignal("connected")),
        (Urc("^CEND", "^CEND: 1,0,104,17", "1,0,104,17"), CallSignal("ended", cause="busy")),
        (Urc("NO CARRIER", "NO CARRIER", ""), CallSignal("ended", cause="remote_hangup")),
        (Urc("NO DIALTONE", "NO DIALTONE", ""), CallSignal("ended", cause="no_dialtone")),
        (Urc("RDY", "RDY", ""), Restarted("RDY")),
        (Urc("+CREG", "+CREG: x", "x"), None),
        (Urc("+QIND", '+QIND: "csq",20', '"csq",20'), None),
    ],
)
def test_urcs_become_typed_events(urc: Urc, event: object) -> None:
    assert parse(urc) == event


# ------------------------------------------------------------------ recovery


def test_escalation_reinitialises_then_resets_then_reopens_with_backoff() -> None:
    r = Recovery(retry_delay=1.0, max_backoff=5.0)
    steps, delays = [], []
    for _ in range(5):
        steps.append(r.step().name)
        delays.append(r.failed())
    assert steps == ["reinitialise", "reset", "reopen", "reopen", "reopen"]
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert r.rounds >= MAX_ROUNDS and r.gave_up
    r.succeeded()
    assert r.step().name == "reinitialise" and not r.gave_up


# ------------------------------------------------------------------ diagnose


def facts(**changes: object) -> Facts:
    values: dict[str, object] = {
        "port": "/dev/ttyUSB2",
        "port_open": True,
        "profile": "SIMCom SIM800",
        "pin_configured": False,
        "status": ModemStatus("gsm1", "ready", imei="1", iccid="2", registered=True),
        "smsc": "+85512000000",
        "storage": (0, 10),
        "settings": SET_UP,
        "repairs": (),
        "repaired": 0,
        "errors": (),
    }
    values.update(changes)
    return Facts(**values)  # type: ignore[arg-type]


def test_diagnose_says_the_settings_are_as_set_up() -> None:
    check = {c.name: c for c in checks(facts())}["sms_settings"]
    assert check.status == "ok" and "CNMI 2,1,0,1,0" in check.detail


def test_diagnose_reports_drift_it_repaired() -> None:
    repair = Repair(0.0, (Drift("CNMI", "0,0,0,0,0", "2,1,0,1,0"),), restored=True)
    check = {c.name: c for c in checks(facts(repairs=(repair,), repaired=2))}["sms_settings"]
    assert check.status == "warn"
    assert "restored 2 time(s)" in check.detail
    assert "CNMI was 0,0,0,0,0 (set up as 2,1,0,1,0)" in check.detail
    failed = Repair(0.0, repair.drifts, restored=False)
    check = {c.name: c for c in checks(facts(repairs=(failed,), repaired=1))}["sms_settings"]
    assert check.status == "fail" and "did not hold" in check.detail


def test_diagnose_before_set_up_does_not_guess_the_settings() -> None:
    check = {c.name: c for c in checks(facts(settings=None))}["sms_settings"]
    assert check.status == "warn" and "not read yet" in check.detail
