"""Consult transfers and transfers to a queue, end to end (Kamailio, workers, pjsua2)."""

from __future__ import annotations

import pytest

from tests.integration.switch_env import SwitchEnv as Env
from tests.integration.test_calls_e2e import (  # noqa: F401 (the fixture)
    caller_on_alice,
    phone,
    voice_journey,
    xenv,
)

pytestmark = pytest.mark.integration


def test_consult_then_complete_hands_the_caller_to_bob_with_the_note(xenv: Env) -> None:  # noqa: F811
    env = xenv
    bob_port, alice, caller, call_id = caller_on_alice(env, env.tmp / "caller.wav")
    bob = phone(bob_port, "--user", "1002", "--auto-answer")
    try:
        status, body = env.api(
            "POST",
            f"/api/v1/calls/{call_id}/transfer",
            {"agent": "bob", "mode": "consult", "note": "VIP: billing question"},
        )
        assert status == 202 and body["transfer"]["mode"] == "consult", body
        bob.wait_for("incoming", timeout=15)
        consulting = env.wait_api(
            f"/api/v1/calls/{call_id}", lambda c: c["transfer"]["state"] == "consulting"
        )
        assert consulting["agent"] == "alice"  # still hers while she consults
        status, body = env.api("POST", f"/api/v1/calls/{call_id}/transfer/complete")
        assert status == 200 and body["agent"] == "bob", body
        alice.wait_for("ended", timeout=10)  # alice leaves; the caller stays, with bob
        assert env.api("GET", f"/api/v1/calls/{call_id}")[1]["state"] == "answered"
        status, body = env.api("POST", f"/api/v1/calls/{call_id}/transfer/complete")
        assert status == 409 and body["error"]["code"] == "no_consultation"
        caller.send("hangup")
        bob.wait_for("ended", timeout=10)
    finally:
        alice.close()
        bob.close()
        caller.close()
    call = env.api("GET", f"/api/v1/calls/{call_id}")[1]
    voice = voice_journey(env, call)
    transferred = next(e for e in voice if e["kind"] == "transferred")
    assert (transferred["agent"], transferred["target"]) == ("alice", "bob")
    assert transferred["note"] == "VIP: billing question"
    assert voice[-1]["kind"] == "call_ended" and voice[-1]["agent"] == "bob"


def test_a_transfer_to_the_queue_frees_alice_and_bob_takes_the_caller(xenv: Env) -> None:  # noqa: F811
    env = xenv
    bob_port, alice, caller, call_id = caller_on_alice(env, env.tmp / "caller.wav")
    bob = phone(bob_port, "--user", "1002", "--auto-answer")
    try:
        status, body = env.api(
            "POST", f"/api/v1/calls/{call_id}/transfer", {"queue": "default", "note": "refund"}
        )
        assert status == 202 and body["transfer"]["kind"] == "queue", body
        alice.wait_for("ended", timeout=10)
        bob.wait_for("incoming", timeout=15)
        env.wait_api(f"/api/v1/calls/{call_id}", lambda c: c["agent"] == "bob")
        caller.send("hangup")
        bob.wait_for("ended", timeout=10)
    finally:
        alice.close()
        bob.close()
        caller.close()
    status, body = env.api("POST", f"/api/v1/calls/{call_id}/transfer", {"queue": "nope"})
    assert status in (409, 422)
    call = env.api("GET", f"/api/v1/calls/{call_id}")[1]
    targets = [e["target"] for e in voice_journey(env, call) if e["kind"] == "transferred"]
    assert targets == ["queue:default", "bob"]
