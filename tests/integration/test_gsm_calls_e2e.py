"""GSM calls end to end: a call to the (simulated) modem reaches an agent's SIP phone.

``switch run`` with a simulated modem (``simulated = true``: the switch starts it in
process, with a voice port and a control socket under ``data/modems/<id>/``), Kamailio
and media workers. The agent's phone is registered with sipp (digest), then a pjsua2
phone on that contact answers, plays 440 Hz and records. The test rings the modem
through its control socket; the modem's "remote party" says 1300 Hz on the voice port
and the simulator measures what it hears there. Each side hearing the other's tone (and
not only its own) proves the worker bridged the agent's leg with the modem's PCM port
both ways.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from drivers.gsm.simulator import SimulatorClient
from tests.conftest import free_port
from tests.integration.kamailio_harness import free_ports
from tests.integration.switch_env import SwitchEnv
from tests.integration.switchproc import SwitchProcess
from tests.sipphone import Phone, read_wav, tone_power

pytestmark = pytest.mark.integration
pytest.importorskip("pjsua2")

CALLER = "+85512345678"
DID = "+85523900100"
PHONE_HZ, MODEM_HZ = 440.0, 1300.0


def switch_config(
    http: int,
    edge: int,
    base: int,
    rtp: int,
    ring_timeout: float,
    workers: int,
    trunk: int,
    extra: str = "",
) -> str:
    return f"""
[store]
path = "data/switch.db"
[http]
listen = "127.0.0.1:{http}"
[api]
tokens = ["secret-token-for-tests"]
[log]
level = "debug"
[[modems]]
id = "gsm1"
simulated = true
profile = "huawei_e173"
[sip]
listen = "127.0.0.1:{edge}"
workers = {workers}
worker_port_base = {base}
rtp_port_base = {rtp}
ring_timeout = {ring_timeout}
record_calls = true
recordings = "data/recordings"
[[trunks]]
id = "provider1"
host = "127.0.0.1"
port = {trunk}
dids = ["{DID}"]
[[agents]]
id = "alice"
name = "Alice"
sip_user = "1001"
sip_password = "secret-1001"
{extra}"""


NO_PAUSE = """
[routing]
missed_call_break = false
"""


@dataclass
class Env(SwitchEnv):
    modem: SimulatorClient

    def wait_api(self, path: str, check: Callable[[Any], Any], timeout: float = 30.0) -> Any:
        return super().wait_api(path, check, timeout)

    def agent_phone(self, **options: str) -> Phone:
        """Register alice's phone and start a pjsua2 phone on that contact."""
        port = free_ports(1)
        self.register("1001", "secret-1001", port)
        self.wait_api("/api/v1/agents", alice_is("available"))
        args = ["--port", str(port), "--rtp-port", str(free_ports(4)), "--user", "1001"]
        args += ["--tone", str(PHONE_HZ)]
        for key, value in options.items():
            args += [f"--{key.replace('_', '-')}"] + ([value] if value else [])
        return Phone(*args)

    def journey(self, number: str, check: Callable[[list[dict[str, Any]]], Any]) -> Any:
        [contact] = self.wait_api(
            f"/api/v1/contacts?phone=%2B{number[1:]}", lambda cs: len(cs) == 1
        )
        return self.wait_api(f"/api/v1/contacts/{contact['id']}/journey", check)


def alice_is(status: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda agents: any(a["id"] == "alice" and a["status"] == status for a in agents)


def call_log(env: Env) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = env.modem.state_sync()["call_log"]
    return log


def start_env(
    tmp_path: Path, ring_timeout: float, workers: int = 2, extra: str = ""
) -> tuple[SwitchProcess, Env]:
    http, edge, trunk = free_port(), free_ports(1, tcp=True), free_ports(1)
    base, rtp = free_ports(workers), free_ports(50 * workers)
    config = switch_config(http, edge, base, rtp, ring_timeout, workers, trunk, extra)
    sw = SwitchProcess(config, tmp_path, http)
    sw.start(timeout=60)
    modem = SimulatorClient(tmp_path / "data" / "modems" / "gsm1" / "control.sock", timeout=30)
    env = Env(sw, edge, trunk, tmp_path, modem)
    env.wait_api("/api/v1/modems", lambda ms: ms and ms[0]["state"] == "ready")
    modem.request_sync("set_audio_tone", hz=MODEM_HZ)
    return sw, env


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    sw, environment = start_env(tmp_path, ring_timeout=20)
    try:
        yield environment
    finally:
        code = sw.terminate(timeout=30)
        assert code == 0, sw.stderr_text()[-3000:]


def test_gsm_call_rings_the_agent_who_answers_and_both_hear_each_other(env: Env) -> None:
    agent_rec = env.tmp / "agent.wav"
    agent = env.agent_phone(auto_answer="", record=str(agent_rec))
    try:
        gsm_call = env.modem.request_sync("incoming_call", number=CALLER)["call_id"]
        incoming = agent.wait_for("incoming", timeout=30)
        # The agent's phone gets the switch's own INVITE, from the GSM caller's number.
        assert not any("X-Switch" in h for h in incoming["headers"])
        agent.wait_for("state", timeout=30, state="CONFIRMED")
        calls = env.wait_api(
            "/api/v1/calls?active=true", lambda cs: cs and cs[0]["state"] == "answered"
        )
        assert calls[0]["agent"] == "alice" and calls[0]["direction"] == "in"
        assert calls[0]["from"] == CALLER and calls[0]["via"] == "gsm1"
        assert calls[0]["channel"] == "gsm"
        # The modem answered (ATA) and switched its voice port on (the E173's ^DDSETEX).
        env.modem.wait_for_sync(lambda s: s["audio"]["active"], timeout=30)
        sent = [t["text"] for t in env.modem.request_sync("transcript")["lines"]]
        assert "ATA" in sent and sent.index("AT^DDSETEX=2") > sent.index("ATA")
        # Two seconds of audio each way.
        env.modem.wait_for_sync(
            lambda s: s["audio"]["frames_received"] >= 100, timeout=60, interval=0.2
        )
        heard = env.modem.request_sync("audio_power", hz=PHONE_HZ, seconds=1.0)
        own = env.modem.request_sync("audio_power", hz=MODEM_HZ, seconds=1.0)
        assert heard["power"] > 1e5, heard  # the agent's tone reached the GSM caller...
        assert heard["power"] > 100 * own["power"], (heard, own)  # ...not the modem's own
        assert agent.heard() > 5  # and the agent hears the GSM side

        # The GSM caller hangs up: the agent's leg ends too.
        env.modem.request_sync("remote_hangup", call_id=gsm_call)
        agent.wait_for("ended", timeout=30)
    finally:
        agent.close()

    samples, rate = read_wav(agent_rec)  # what the agent heard was the modem's tone
    assert tone_power(samples, rate, MODEM_HZ) > 1e5
    assert tone_power(samples, rate, MODEM_HZ) > 10 * tone_power(samples, rate, PHONE_HZ)

    journey = env.journey(CALLER, lambda j: any(e["kind"] == "call_ended" for e in j))
    voice = [e for e in journey if e["channel"] == "voice"]
    assert [e["kind"] for e in voice] == ["call_started", "call_answered", "call_ended"]
    assert all(e["via"] == "gsm1" for e in voice)
    answered, ended = voice[1], voice[2]
    assert answered["agent"] == "alice"
    assert ended["cause"] == "caller_hangup"
    assert ended["recording"].endswith(".wav") and Path(ended["recording"]).exists()
    assert ended["recording_seconds"] > 1.0
    env.wait_api("/api/v1/calls?active=true", lambda cs: cs == [])
    env.wait_api("/api/v1/agents", alice_is("available"))
    [log] = call_log(env)
    assert log["answered_at"] is not None and log["end_reason"] == "remote_hangup"


def test_the_agent_hanging_up_ends_the_gsm_call(env: Env) -> None:
    agent = env.agent_phone(auto_answer="")
    try:
        env.modem.request_sync("incoming_call", number=CALLER)
        agent.wait_for("state", timeout=30, state="CONFIRMED")
        env.modem.wait_for_sync(lambda s: s["audio"]["frames_received"] >= 25, timeout=60)
        agent.send("hangup")
        agent.wait_for("ended", timeout=30)
        env.modem.wait_for_sync(lambda s: bool(s["call_log"]) and not s["calls"], timeout=30)
    finally:
        agent.close()
    journey = env.journey(CALLER, lambda j: any(e["kind"] == "call_ended" for e in j))
    voice = [e for e in journey if e["channel"] == "voice"]
    assert [e["kind"] for e in voice] == ["call_started", "call_answered", "call_ended"]
    assert voice[2]["cause"] == "agent_hangup"
    assert call_log(env)[-1]["end_reason"] == "local_hangup"  # the switch hung up (ATH)


def test_a_gsm_caller_nobody_answers_keeps_ringing_until_they_give_up(tmp_path: Path) -> None:
    # (a missed ring does not pause the agent here, so the queue rings her again)
    sw, env = start_env(tmp_path, ring_timeout=2, extra=NO_PAUSE)
    try:
        agent = env.agent_phone()  # rings, never answers
        try:
            gsm_call = env.modem.request_sync("incoming_call", number=CALLER)["call_id"]
            agent.wait_for("incoming", timeout=30)
            agent.wait_for("ended", timeout=30)  # ring_timeout: the switch gives up on alice
            agent.wait_for("incoming", timeout=30)  # ...and rings her again in the next round
            state = env.modem.state_sync()
            [ringing] = state["calls"]  # the GSM caller still hears ring back
            assert ringing["answered_at"] is None and state["call_log"] == []
            env.modem.request_sync("remote_hangup", call_id=gsm_call)
            agent.wait_for("ended", timeout=30)
        finally:
            agent.close()
        journey = env.journey(CALLER, lambda j: any(e["kind"] == "call_ended" for e in j))
        voice = [e for e in journey if e["channel"] == "voice"]
        assert [e["kind"] for e in voice] == ["call_started", "call_ended"]
        assert voice[1]["cause"] == "caller_hangup"
        env.wait_api("/api/v1/agents", alice_is("available"))
    finally:
        code = sw.terminate(timeout=30)
        assert code == 0, sw.stderr_text()[-3000:]


def test_no_free_worker_hangs_up_the_gsm_call_with_the_reason(tmp_path: Path) -> None:
    sw, env = start_env(tmp_path, ring_timeout=20, workers=1)
    try:
        # alice signs in and takes a break: a trunk caller waits in the queue, holding the
        # only worker (with nobody signed in at all, the queue would give up at once)
        env.register("1001", "secret-1001", free_ports(1))
        env.wait_api("/api/v1/agents", alice_is("available"))
        assert env.api("POST", "/api/v1/agents/alice/state", {"state": "break"})[0] == 200
        trunk_caller = Phone(
            "--port",
            str(env.trunk),
            "--rtp-port",
            str(free_ports(4)),
            "--user",
            "85599000111",
            "--call",
            f"sip:{DID}@127.0.0.1:{env.edge}",
        )
        try:
            trunk_caller.wait_for("state", timeout=30, state="CONFIRMED")
            env.modem.request_sync("incoming_call", number=CALLER)
            state = env.modem.wait_for_sync(lambda s: bool(s["call_log"]), timeout=30)
            assert state["call_log"][0]["end_reason"] == "local_hangup"  # the switch's ATH
            assert state["call_log"][0]["answered_at"] is None
            assert trunk_caller.stats()["active"]  # the trunk call is untouched
        finally:
            trunk_caller.close()
        journey = env.journey(CALLER, lambda j: any(e["kind"] == "call_ended" for e in j))
        voice = [e for e in journey if e["channel"] == "voice"]
        assert [e["kind"] for e in voice] == ["call_started", "call_ended"]
        assert voice[1]["cause"] == "no_free_worker" and voice[1]["via"] == "gsm1"
        refused = [e for e in sw.log_events() if e.get("event") == "gsm_call_refused"]
        assert refused and refused[0]["reason"] == "no free media worker"
    finally:
        code = sw.terminate(timeout=30)
        assert code == 0, sw.stderr_text()[-3000:]


# ---------------------------------------------------------------- outgoing calls

CUSTOMER = "+85587654321"  # behind the modem: [sms] routes sends +855 to gsm1
DIALLED = "087654321"  # what the agent types (national format)
# The trunk has no prefixes (it takes any number), so only the SMS route's prefix sends
# +855 through the modem; a trunk whose own prefixes matched would win.
MODEM_ROUTE = """
[sms]
routes = [{ prefix = "+855", modem = "gsm1" }]
"""


@pytest.fixture
def out_env(tmp_path: Path) -> Iterator[Env]:
    sw, environment = start_env(tmp_path, ring_timeout=20, extra=MODEM_ROUTE)
    try:
        yield environment
    finally:
        code = sw.terminate(timeout=30)
        assert code == 0, sw.stderr_text()[-3000:]


def dialling_agent(env: Env, **options: str) -> Phone:
    """Alice's phone calling the customer's number through the edge (digest auth)."""
    return env.agent_phone(
        call=f"sip:{DIALLED}@127.0.0.1:{env.edge}", password="secret-1001", **options
    )


def voice_journey(env: Env, calls: int = 1) -> list[dict[str, Any]]:
    journey = env.journey(CUSTOMER, lambda j: sum(e["kind"] == "call_ended" for e in j) >= calls)
    return [e for e in journey if e["channel"] == "voice"]


def test_agent_dials_a_customer_through_the_modem_and_both_hear_each_other(
    out_env: Env,
) -> None:
    env = out_env
    agent_rec = env.tmp / "agent.wav"
    agent = dialling_agent(env, record=str(agent_rec))
    try:
        # The switch dials the customer on the modem; the agent's call is answered (and
        # bridged with the modem's voice port) only when the customer answers.
        state = env.modem.wait_for_sync(lambda s: bool(s["calls"]), timeout=30)
        [dialled] = state["calls"]
        assert dialled["direction"] == "out" and dialled["number"] == CUSTOMER
        agent.wait_for("state", timeout=30, state="CONFIRMED")
        env.modem.wait_for_sync(lambda s: s["audio"]["active"], timeout=30)
        sent = [t["text"] for t in env.modem.request_sync("transcript")["lines"]]
        assert f"ATD{CUSTOMER};" in sent
        assert sent.index("AT^DDSETEX=2") > sent.index(f"ATD{CUSTOMER};")
        [call] = env.wait_api(
            "/api/v1/calls?active=true", lambda cs: cs and cs[0]["state"] == "answered"
        )
        assert call["direction"] == "out" and call["to"] == CUSTOMER
        assert call["via"] == "gsm1" and call["channel"] == "gsm" and call["agent"] == "alice"
        env.modem.wait_for_sync(
            lambda s: s["audio"]["frames_received"] >= 100, timeout=60, interval=0.2
        )
        heard = env.modem.request_sync("audio_power", hz=PHONE_HZ, seconds=1.0)
        own = env.modem.request_sync("audio_power", hz=MODEM_HZ, seconds=1.0)
        assert heard["power"] > 1e5, heard  # the agent's tone reached the customer...
        assert heard["power"] > 100 * own["power"], (heard, own)  # ...not the modem's own
        assert agent.heard() > 5

        # The customer hangs up: the agent's call ends too.
        env.modem.request_sync("remote_hangup")
        agent.wait_for("ended", timeout=30)
    finally:
        agent.close()

    samples, rate = read_wav(agent_rec)  # what the agent heard was the customer's tone
    assert tone_power(samples, rate, MODEM_HZ) > 1e5
    assert tone_power(samples, rate, MODEM_HZ) > 10 * tone_power(samples, rate, PHONE_HZ)

    voice = voice_journey(env)
    assert [e["kind"] for e in voice] == ["call_started", "call_answered", "call_ended"]
    started, answered, ended = voice
    assert started["direction"] == "out" and started["agent"] == "alice"
    assert all(e["via"] == "gsm1" for e in voice)
    assert answered["agent"] == "alice"
    assert ended["cause"] == "customer_hangup"
    assert Path(ended["recording"]).exists() and ended["recording_seconds"] > 1.0
    env.wait_api("/api/v1/calls?active=true", lambda cs: cs == [])
    env.wait_api("/api/v1/agents", alice_is("available"))
    [log] = call_log(env)
    assert log["answered_at"] is not None and log["end_reason"] == "remote_hangup"


def test_click_to_call_through_the_modem_rings_the_agent_first_and_her_hangup_ends_it(
    out_env: Env,
) -> None:
    env = out_env
    agent = env.agent_phone(auto_answer="")
    try:
        status, body = env.api("POST", "/api/v1/calls", {"agent": "alice", "to": DIALLED})
        assert status == 202, body
        agent.wait_for("incoming", timeout=30)
        agent.wait_for("state", timeout=30, state="CONFIRMED")
        # Only once the agent answered does the modem dial the customer.
        env.modem.wait_for_sync(lambda s: s["audio"]["active"], timeout=30)
        call = env.wait_api(f"/api/v1/calls/{body['id']}", lambda c: c["state"] == "answered")
        assert call["via"] == "gsm1" and call["to"] == CUSTOMER and call["agent"] == "alice"
        env.modem.wait_for_sync(lambda s: s["audio"]["frames_received"] >= 50, timeout=60)
        heard = env.modem.request_sync("audio_power", hz=PHONE_HZ, seconds=1.0)
        assert heard["power"] > 1e5, heard
        assert agent.heard() > 5

        # The agent hangs up: the switch hangs up the modem's call (ATH).
        agent.send("hangup")
        agent.wait_for("ended", timeout=30)
        env.modem.wait_for_sync(lambda s: bool(s["call_log"]) and not s["calls"], timeout=30)
    finally:
        agent.close()
    assert call_log(env)[-1]["end_reason"] == "local_hangup"
    voice = voice_journey(env)
    assert [e["kind"] for e in voice] == ["call_started", "call_answered", "call_ended"]
    assert voice[0]["direction"] == "out" and voice[0]["via"] == "gsm1"
    assert voice[2]["cause"] == "agent_hangup"
    env.wait_api("/api/v1/calls?active=true", lambda cs: cs == [])


def test_busy_modem_and_busy_network_refuse_the_agent_plainly(out_env: Env) -> None:
    env = out_env
    # The customer's phone rings for ever: the modem is busy with this call meanwhile.
    env.modem.request_sync("set_call_behaviour", number="*", behaviour="ring")
    agent = dialling_agent(env)
    try:
        env.modem.wait_for_sync(lambda s: bool(s["calls"]), timeout=30)
        status, body = env.api("POST", "/api/v1/calls", {"agent": "alice", "to": DIALLED})
        assert status == 409, body
        assert body["error"]["code"] == "modem_busy" and "gsm1" in body["error"]["message"]
        agent.send("hangup")  # the agent gives up: the modem's call is hung up
        agent.wait_for("ended", timeout=30)
        env.modem.wait_for_sync(lambda s: bool(s["call_log"]) and not s["calls"], timeout=30)
    finally:
        agent.close()
    assert call_log(env)[-1]["end_reason"] == "local_hangup"

    # The network says busy: the agent's call is refused at once, never left hanging.
    env.modem.request_sync("set_call_behaviour", number="*", behaviour="busy")
    agent = dialling_agent(env)
    try:
        ended = agent.wait_for("ended", timeout=30)
        assert ended["code"] == 600, ended  # Busy Everywhere (486 would fail over)
    finally:
        agent.close()
    voice = voice_journey(env, calls=2)
    assert [e["kind"] for e in voice] == ["call_started", "call_ended"] * 2
    assert [e["cause"] for e in voice if e["kind"] == "call_ended"] == ["agent_hangup", "busy"]
    env.wait_api("/api/v1/calls?active=true", lambda cs: cs == [])
    # One ATD per attempt: the refusal was not retried through another worker.
    assert [c["end_reason"] for c in call_log(env)] == ["local_hangup", "busy"]
