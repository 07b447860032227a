"""Browser phones through the whole switch, with a scripted WebRTC peer (no browser).

`switch run` with a WebSocket port and rtpengine; ``tests.webphone`` plays the browser
(SIP over WebSocket, aiortc media: ICE, DTLS-SRTP, Opus or G.711); a pjsua2 test phone
plays the provider. Each side plays its own tone and measures what it hears, so a test
tells whose audio crossed rtpengine and the worker's bridge. rtpengine itself is asked
(ng ``query``) whether a leg is transcoded.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from drivers.sip import NgClient, ephemeral_credential
from tests.integration.kamailio_harness import free_ports
from tests.integration.webrtc_env import (
    AGENT_USER,
    CALLER,
    DID,
    HAVE_RTPENGINE,
    WIDGET,
    WebEnv,
    running_switch,
)
from tests.sipmessage import Message, digest, parse
from tests.sipphone import Phone, read_wav, tone_power

webphone = pytest.importorskip("tests.webphone")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not HAVE_RTPENGINE, reason="needs rtpengine (rtpengine-daemon)"),
]

AGENT_TONE = 700
CALLER_TONE = 1200


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    webphone.loopback_only()
    with running_switch(tmp_path_factory.mktemp("switch")) as env:
        yield env


@pytest.fixture
async def agent(env: WebEnv) -> AsyncIterator[Any]:
    """Alice's browser phone, registered with a short-lived credential."""
    cred = env.credential()
    phone = webphone.WebPhone(
        env.ws_url, cred["uri"], cred["authorization_user"], cred["password"], tone=AGENT_TONE
    )
    await phone.connect()
    assert await phone.register() == 200
    env.wait_api("/api/v1/agents", lambda a: a[0]["status"] == "available")
    yield phone
    await phone.register(expires=0)
    await phone.close()
    env.wait_api("/api/v1/agents", lambda a: a[0]["status"] == "offline")


async def rtpengine_calls(env: WebEnv) -> dict[str, dict[str, Any]]:
    """call-id -> rtpengine's query of it."""
    client = NgClient("127.0.0.1", env.ng)
    try:
        return {cid: await client.query(cid) for cid in await client.list_calls()}
    finally:
        client.close()


def medias(query: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for tag in query["tags"].values() for m in tag.get("medias", [])]


async def until(check: Any, what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await check() if asyncio.iscoroutinefunction(check) else check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: not seen; last {last}")


async def test_a_trunk_call_rings_the_browser_phone_through_rtpengine_both_ways(
    env: WebEnv, agent: Any
) -> None:
    record = env.tmp / "caller.wav"
    caller = Phone(
        "--port", str(env.trunk), "--rtp-port", str(free_ports(4)),
        "--user", CALLER.lstrip("+"), "--tone", str(CALLER_TONE), "--record", str(record),
        "--call", f"sip:{DID}@127.0.0.1:{env.edge}",
    )  # fmt: skip
    try:
        call = await agent.wait_incoming(20)
        offer = call.offer_sdp
        # The browser gets a WebRTC offer from rtpengine, never the worker's plain RTP.
        assert "m=audio" in offer and "UDP/TLS/RTP/SAVPF" in offer
        assert "a=fingerprint:" in offer and "a=ice-ufrag:" in offer and "a=rtcp-mux" in offer
        assert "127.0.0.1" in offer and "RTP/AVP " not in offer
        assert not any(k.startswith("X-Switch") for k, _ in call.invite.headers)
        await call.answer()
        caller.wait_for("state", timeout=15, state="CONFIRMED")
        await until(lambda: call.heard.frames > 50, "audio at the browser")
        await asyncio.sleep(1.0)
        assert call.heard.power(CALLER_TONE) > 100 * call.heard.power(AGENT_TONE) + 1
        # G.711 both sides: rtpengine relays, it does not transcode.
        [query] = (await rtpengine_calls(env)).values()
        protocols = sorted(m["protocol"] for m in medias(query))
        assert protocols == ["RTP/AVP", "UDP/TLS/RTP/SAVPF"]
        assert {m["codec"] for m in medias(query)} <= {"PCMU/8000", "PCMA/8000"}
        assert not any("transcoding" in m["flags"] for m in medias(query))
        # The provider hangs up: the browser gets the BYE, rtpengine lets the call go.
        caller.send("hangup")
        caller.wait_for("ended", timeout=10)
        assert await call.wait_ended(10) == "remote"
    finally:
        caller.close()
    samples, rate = read_wav(record)
    assert tone_power(samples, rate, AGENT_TONE) > 10 * tone_power(samples, rate, CALLER_TONE) + 1
    assert await until(_no_rtpengine_calls(env), "rtpengine sessions deleted")


def _no_rtpengine_calls(env: WebEnv) -> Any:
    async def check() -> bool:
        return await rtpengine_calls(env) == {}

    return check


async def test_a_widget_guest_offering_only_opus_is_transcoded_and_reaches_the_agent(
    env: WebEnv, agent: Any
) -> None:
    cred = env.guest()
    assert cred["call"] == f"sip:{WIDGET}@127.0.0.1" and cred["uri"].startswith("sip:web-")
    guest = webphone.WebPhone(
        env.ws_url, cred["uri"], cred["authorization_user"], cred["password"],
        tone=CALLER_TONE, codecs=["opus"],
    )  # fmt: skip
    await guest.connect()
    try:
        placing = asyncio.create_task(guest.call(cred["call"], timeout=30))
        call = await agent.wait_incoming(20)
        await call.answer()
        gcall = await placing
        assert gcall.status == 200
        await until(lambda: call.heard.frames > 50 and gcall.heard.frames > 50, "audio both ways")
        await asyncio.sleep(1.0)
        assert call.heard.power(CALLER_TONE) > 100 * call.heard.power(AGENT_TONE) + 1
        assert gcall.heard.power(AGENT_TONE) > 100 * gcall.heard.power(CALLER_TONE) + 1
        assert gcall.heard.rate == 48000  # the guest hears Opus
        # Only the guest's leg is transcoded (Opus <-> PCMU); the agent's is relayed.
        queries = await rtpengine_calls(env)
        guest_leg = queries[gcall.call_id]
        assert {m["codec"] for m in medias(guest_leg)} == {"opus/48000/2", "PCMU/8000"}
        assert any("transcoding" in m["flags"] for m in medias(guest_leg))
        [agent_leg] = [q for cid, q in queries.items() if cid != gcall.call_id]
        assert not any("transcoding" in m["flags"] for m in medias(agent_leg))
        [record] = env.wait_api("/api/v1/calls?active=true", lambda cs: len(cs) == 1)
        assert record["via"] == "widget" and record["channel"] == "webrtc"
        assert record["from"] == cred["uri"][4:].split("@")[0] and record["to"] == WIDGET
        assert record["agent"] == "alice" and record["direction"] == "in"
        # The guest hangs up: the agent's browser gets the BYE.
        assert await gcall.hangup() == 200
        assert await call.wait_ended(10) == "remote"
    finally:
        await guest.close()
    journey = env.wait_api(
        f"/api/v1/contacts/{record['contact_id']}/journey",
        lambda j: any(e["kind"] == "call_ended" for e in j),
    )
    voice = [(e["kind"], e.get("via")) for e in journey if e["channel"] == "voice"]
    assert [k for k, _ in voice] == ["call_started", "call_answered", "call_ended"]
    assert {v for _, v in voice} == {"widget"}
    status, contact = env.api("GET", f"/api/v1/contacts/{record['contact_id']}")
    assert status == 200 and cred["visitor"] in str(contact)


async def test_browser_credentials_expire_and_cannot_be_misused(env: WebEnv) -> None:
    secret = env.secret()

    async def register(user: str, auth_user: str, password: str) -> int:
        phone = webphone.WebPhone(env.ws_url, f"sip:{user}@127.0.0.1", auth_user, password)
        await phone.connect()
        try:
            return int(await phone.register())
        finally:
            await phone.close()

    now = int(time.time())
    expired = ephemeral_credential(secret, AGENT_USER, now - 5)
    valid = ephemeral_credential(secret, AGENT_USER, now + 300)
    forged = ephemeral_credential("not-the-secret", AGENT_USER, now + 300)
    # Expired: challenged again (401); the page must fetch a new credential.
    assert await register(AGENT_USER, expired.username, expired.password) == 401
    # A password not signed by the switch, or stretched to a later expiry: refused.
    assert await register(AGENT_USER, forged.username, forged.password) == 403
    later = f"{now + 9999}:{AGENT_USER}"
    assert await register(AGENT_USER, later, valid.password) == 403
    # A credential is for its own user only.
    assert await register("1002", valid.username, valid.password) == 403
    # Guests never register.
    guest = env.guest()
    assert await register(guest["uri"][4:].split("@")[0], guest["authorization_user"],
                          guest["password"]) == 403  # fmt: skip
    # The agent's own SIP password still works over WebSocket (desk softphones).
    assert await register(AGENT_USER, AGENT_USER, "secret-1001") == 200
    await asyncio.sleep(0.2)
    assert await register(AGENT_USER, AGENT_USER, "secret-1001") == 200
    # A browser credential is for WebSocket clients: over UDP it is refused.
    assert register_over_udp(env.edge, AGENT_USER, valid.username, valid.password) == 403


async def test_a_guest_can_call_the_widget_number_and_nothing_else(env: WebEnv) -> None:
    cred = env.guest()
    guest = webphone.WebPhone(env.ws_url, cred["uri"], cred["authorization_user"], cred["password"])
    await guest.connect()
    try:
        for target in (f"sip:{CALLER}@127.0.0.1", f"sip:{AGENT_USER}@127.0.0.1",
                       f"sip:{DID}@127.0.0.1", f"sip:{WIDGET}@203.0.113.9"):  # fmt: skip
            call = await guest.call(target)
            assert call.status == 403, target
    finally:
        await guest.close()
    # A guest credential that expired cannot call the widget either (challenged again).
    user = cred["uri"][4:].split("@")[0]
    old = ephemeral_credential(env.secret(), user, int(time.time()) - 1)
    late = webphone.WebPhone(env.ws_url, cred["uri"], old.username, old.password)
    await late.connect()
    try:
        assert (await late.call(cred["call"])).status == 407
    finally:
        await late.close()
    # Someone else's name with a guest's password is refused.
    other = webphone.WebPhone(
        env.ws_url, f"sip:web-{secrets.token_hex(8)}@127.0.0.1", cred["authorization_user"],
        cred["password"],
    )  # fmt: skip
    await other.connect()
    try:
        assert (await other.call(cred["call"])).status == 403
    finally:
        await other.close()
    assert await rtpengine_calls(env) == {}  # nothing refused left a media session


def test_the_credential_api_needs_a_token_and_a_known_agent(env: WebEnv) -> None:
    status, body = env.sw.request(
        "POST", "/api/v1/webrtc/credentials", {"agent": "alice"}, auth=False
    )
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, body = env.api("POST", "/api/v1/webrtc/credentials", {"agent": "nobody"})
    assert status == 404 and body["error"]["code"] == "unknown_agent"
    status, body = env.api("POST", "/api/v1/webrtc/credentials", {"agent": ""})
    assert status == 422
    cred = env.credential()
    assert cred["uri"] == f"sip:{AGENT_USER}@127.0.0.1" and cred["ws_servers"] == [env.ws_url]
    assert "secret-1001" not in str(cred)  # the agent's SIP password never leaves
    expiry, user = cred["authorization_user"].split(":")
    assert user == AGENT_USER and 3590 <= int(expiry) - time.time() <= 3600
    status, page = env.sw.request("GET", "/phone", auth=False)
    assert status == 200 and b"/static/phone/page.js" in page
    status, js = env.sw.request("GET", "/static/vendor/jssip-3.13.8.min.js", auth=False)
    assert status == 200 and b"JsSIP 3.13.8" in js[:300]


def test_guest_credentials_are_rate_limited_per_address(env: WebEnv) -> None:
    statuses = [env.sw.request("POST", "/webrtc/guest", auth=False)[0] for _ in range(25)]
    assert 429 in statuses and statuses.count(201) <= 20
    status, body = env.sw.request("POST", "/webrtc/guest", auth=False)
    assert status == 429 and body["error"]["code"] == "rate_limited"


def register_over_udp(edge: int, user: str, auth_user: str, password: str) -> int:
    """A REGISTER with digest auth over UDP (what a desk phone does); the final status."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(3)
        port = s.getsockname()[1]
        call_id, tag = secrets.token_hex(8), secrets.token_hex(4)
        auth: list[tuple[str, str]] = []
        for cseq in (1, 2):
            headers = [
                ("Via", f"SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{secrets.token_hex(6)};rport"),
                ("Max-Forwards", "70"),
                ("From", f"<sip:{user}@127.0.0.1>;tag={tag}"),
                ("To", f"<sip:{user}@127.0.0.1>"),
                ("Call-ID", call_id),
                ("CSeq", f"{cseq} REGISTER"),
                ("Contact", f"<sip:{user}@127.0.0.1:{port}>"),
                ("Expires", "300"),
                *auth,
            ]
            message = Message("REGISTER sip:127.0.0.1 SIP/2.0", headers)
            s.sendto(message.encode().encode(), ("127.0.0.1", edge))
            reply = parse(s.recv(65535).decode())
            if reply.status != 401 or auth:
                return reply.status
            challenge = reply.header("WWW-Authenticate")
            auth = [("Authorization", digest(
                challenge, "REGISTER", "sip:127.0.0.1", auth_user, password))]  # fmt: skip
    raise AssertionError("unreachable")
