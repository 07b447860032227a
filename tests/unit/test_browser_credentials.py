"""Browser credentials (auth_ephemeral's format), the guest rate limit, the [webrtc]
config and what the switch hands a browser (switch/calls/web.py)."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from base.errors import ConfigError, Rejected
from drivers.sip.edge.certs import ensure_self_signed
from drivers.sip.edge.ephemeral import (
    ephemeral_credential,
    guest_user,
    is_guest_user,
    load_or_create_secret,
)
from drivers.sip.rtpengine.supervisor import RtpengineSupervisor
from switch.api.ratelimit import RateLimit
from switch.calls.web import BrowserPhones, guest_identity
from switch.config import parse_config
from switch.settings import webrtc_settings


def test_the_password_is_base64_hmac_sha256_of_expiry_and_user() -> None:
    # openssl dgst -sha256 -hmac s3cret -binary <<< "1700000000:1001" | base64
    cred = ephemeral_credential("s3cret", "1001", 1_700_000_000)
    assert cred.username == "1700000000:1001"
    assert cred.password == "N7jOW+r3hMMpn/WsOvIH700fO4nJ6T2nblhhzup5czg="
    assert cred.user == "1001" and cred.expires_at == 1_700_000_000


def test_a_credential_names_one_user() -> None:
    with pytest.raises(ValueError):
        ephemeral_credential("s", "a:b", 1)
    with pytest.raises(ValueError):
        ephemeral_credential("s", "", 1)
    assert (
        ephemeral_credential("s", "1001", 5).password
        != ephemeral_credential("s", "1002", 5).password
    )
    assert (
        ephemeral_credential("s", "1001", 5).password
        != ephemeral_credential("s", "1001", 6).password
    )


def test_guest_users_are_web_and_16_hex_digits() -> None:
    user = guest_user()
    assert is_guest_user(user) and user.startswith("web-") and len(user) == 20
    assert guest_user("0123456789abcdef") == "web-0123456789abcdef"
    assert guest_identity("web-0123456789abcdef") == "web:0123456789abcdef"
    for bad in (
        "1001",
        "web-XYZ",
        "web-0123456789abcdef0",
        "web-0123456789abcde",
        "xweb-0123456789abcdef",
    ):
        assert not is_guest_user(bad)
    with pytest.raises(ValueError):
        guest_user("nothex")


def test_the_secret_is_made_once_owner_only_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "sip" / "webrtc.secret"
    first = load_or_create_secret(path)
    assert len(first) == 64 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(path) == first
    path.write_text("garbage\n")
    replaced = load_or_create_secret(path)
    assert replaced != first and len(replaced) == 64


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
def test_a_self_signed_certificate_is_made_once_with_a_private_key(tmp_path: Path) -> None:
    cert, key = ensure_self_signed(tmp_path, "127.0.0.1")
    assert cert.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    mtime = cert.stat().st_mtime_ns
    assert ensure_self_signed(tmp_path, "127.0.0.1") == (cert, key)
    assert cert.stat().st_mtime_ns == mtime


def test_the_rate_limit_allows_a_burst_then_refills_per_key() -> None:
    limit = RateLimit(per_minute=6, burst=3)
    assert [limit.allow("a", 0.0) for _ in range(4)] == [True, True, True, False]
    assert limit.allow("b", 0.0)  # another address has its own bucket
    assert not limit.allow("a", 5.0)  # 0.5 token back
    assert limit.allow("a", 10.0)  # one token every 10 s
    assert not limit.allow("a", 10.0)


def test_the_rate_limit_forgets_the_oldest_keys_beyond_its_bound() -> None:
    limit = RateLimit(per_minute=1, burst=1, max_keys=2)
    assert limit.allow("a", 0) and limit.allow("b", 0) and limit.allow("c", 0)
    assert len(limit._buckets) == 2
    assert limit.allow("a", 0)  # forgotten: a full bucket again


def base_config(**webrtc: object) -> dict[str, object]:
    return {
        "api": {"tokens": ["secret-token-for-tests"]},
        "sip": {"listen": "127.0.0.1:5060", "ws_listen": "0.0.0.0:8088"},
        "webrtc": {"widget_number": "+85523900199", **webrtc},
        "agents": [{"id": "alice", "sip_user": "1001", "sip_password": "pw-1001"}, {"id": "bob"}],
    }


@pytest.mark.parametrize(
    ("webrtc", "message"),
    [
        ({"port_min": 31000, "port_max": 31001}, "port_max must be at least"),
        ({"ng_port": 31500}, "ng_port must be outside"),
        ({"interface": "eth0"}, "IP address"),
        ({"widget_number": "012345"}, "E.164"),
        ({"credential_ttl": 10}, "greater than or equal to 60"),
        ({"unknown": 1}, "unknown key"),
    ],
)
def test_bad_webrtc_settings_are_config_errors(webrtc: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(base_config(**webrtc))
    assert message in str(err.value)
    assert str(err.value).startswith("webrtc")


def test_webrtc_needs_a_websocket_listener() -> None:
    data = base_config()
    data["sip"] = {"listen": "127.0.0.1:5060"}
    with pytest.raises(ConfigError, match="ws_listen or wss_listen"):
        parse_config(data)


def test_webrtc_settings_carry_rtpengine_and_the_secret() -> None:
    config = parse_config(base_config(interface="10.0.0.5!203.0.113.5"))
    assert config.webrtc is not None
    settings = webrtc_settings(config.webrtc, "k" * 64)
    assert settings.secret == "k" * 64 and settings.widget_number == "+85523900199"
    assert settings.rtpengine.ng_port == 22223
    argv = RtpengineSupervisor(settings.rtpengine).command()
    assert "--interface=10.0.0.5!203.0.113.5" in argv and "--table=-1" in argv
    assert "--listen-ng=127.0.0.1:22223" in argv and "--port-min=31000" in argv


def phones(tmp_path: Path, **webrtc: object) -> BrowserPhones:
    return BrowserPhones(parse_config(base_config(**webrtc)), tmp_path)


def test_an_agent_credential_is_for_its_sip_user_and_expires(tmp_path: Path) -> None:
    web = phones(tmp_path, credential_ttl=600)
    cred = web.agent_credential("alice", 1_000.5, "box.local")
    assert cred["uri"] == "sip:1001@127.0.0.1" and cred["realm"] == "127.0.0.1"
    assert cred["authorization_user"] == "1600:1001" and cred["ttl"] == 600
    assert cred["expires_at"] == "1970-01-01T00:26:40.000Z"
    # a wildcard listen address becomes the name the browser reached the switch by
    assert cred["ws_servers"] == ["ws://box.local:8088"]
    expected = ephemeral_credential(web.secret, "1001", 1600).password
    assert cred["password"] == expected and "pw-1001" not in str(cred)
    assert (tmp_path / "webrtc.secret").read_text().strip() == web.secret


def test_agents_without_a_phone_and_strangers_get_404(tmp_path: Path) -> None:
    web = phones(tmp_path)
    for agent in ("bob", "nobody"):
        with pytest.raises(Rejected) as err:
            web.agent_credential(agent, 0, None)
        assert err.value.status == 404


def test_a_guest_gets_a_fresh_identity_for_the_widget_number(tmp_path: Path) -> None:
    web = phones(tmp_path, guest_ttl=120)
    one, two = web.guest_credential(0, None), web.guest_credential(0, None)
    assert one["visitor"] != two["visitor"] and one["visitor"].startswith("web:")
    assert one["call"] == "sip:+85523900199@127.0.0.1" and one["ttl"] == 120
    user = one["uri"][4:].split("@")[0]
    assert is_guest_user(user) and one["authorization_user"] == f"120:{user}"


def test_no_widget_number_no_guests(tmp_path: Path) -> None:
    web = phones(tmp_path, widget_number=None)
    with pytest.raises(Rejected) as err:
        web.guest_credential(0, None)
    assert err.value.status == 404 and err.value.code == "no_widget"
