"""The Kamailio config with browser phones on (WITH_WEBRTC) and with WSS."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from base.errors import ConfigError
from drivers.sip import EdgeSettings, RtpengineSettings, WebRtcSettings
from drivers.sip.edge.certs import ensure_self_signed
from drivers.sip.edge.render import TO_BROWSER, TO_WORKER_SIDE, render_kamailio_config

KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"
needs_kamailio = pytest.mark.skipif(not Path(KAMAILIO).exists(), reason="kamailio not installed")
needs_modules = pytest.mark.skipif(
    not Path("/usr/lib/x86_64-linux-gnu/kamailio/modules/auth_ephemeral.so").exists()
    and not list(Path("/usr/lib").glob("*/kamailio/modules/auth_ephemeral.so")),
    reason="needs kamailio-autheph-modules",
)

SIP = EdgeSettings(listen="127.0.0.1:5060", workers=2, ws_listen="127.0.0.1:8088")
WEBRTC = WebRtcSettings(
    RtpengineSettings(ng_port=22223), secret="ab" * 32, widget_number="+85523900199"
)


def render(tmp_path: Path, sip: EdgeSettings = SIP, webrtc: WebRtcSettings | None = WEBRTC) -> str:
    return render_kamailio_config(
        sip, [], [], rundir=tmp_path, db_path=tmp_path / "k.sqlite", webrtc=webrtc
    )


def kamailio_check(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "kamailio.cfg"
    cfg.write_text(text)
    return subprocess.run(
        [KAMAILIO, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30, check=False
    )


def test_browser_phones_define_webrtc_and_fill_its_values(tmp_path: Path) -> None:
    text = render(tmp_path)
    assert "{{" not in text
    assert text.splitlines().count("#!define WITH_WEBRTC") == 1
    assert 'modparam("rtpengine", "rtpengine_sock", "udp:127.0.0.1:22223")' in text
    assert f'modparam("auth_ephemeral", "secret", "{"ab" * 32}")' in text
    assert 'modparam("auth_ephemeral", "sha_algorithm", 1)' in text
    assert '$rU != "+85523900199"' in text
    assert 'modparam("usrloc", "handle_lost_tcp", 1)' in text


def test_transcoding_is_asked_for_only_without_g711(tmp_path: Path) -> None:
    text = render(tmp_path)
    offer = text[text.index("route[OFFER_FROM_BROWSER]") :]
    offer = offer[: offer.index("\n}\n")]
    assert 'if (!sdp_with_codecs_by_name("PCMU,PCMA"))' in offer
    assert "codec-transcode=PCMU" in offer
    assert text.count("codec-transcode") == 1
    # toward a browser: ICE, DTLS-SRTP, rtcp-mux; toward a worker: plain RTP, no ICE
    assert "ICE=force" in TO_BROWSER and "UDP/TLS/RTP/SAVPF" in TO_BROWSER
    assert "rtcp-mux-require" in TO_BROWSER
    assert "ICE=remove" in TO_WORKER_SIDE and "RTP/AVP" in TO_WORKER_SIDE
    assert "rtcp-mux-demux" in TO_WORKER_SIDE


@needs_kamailio
def test_without_webrtc_the_browser_routes_are_left_out(tmp_path: Path) -> None:
    text = render(tmp_path, webrtc=None)
    assert "#!define WITH_WEBRTC" not in text
    # the browser routes stay in the file, and the preprocessor drops them: no module
    # of theirs is loaded, yet the config is valid
    assert "route[AUTH_BROWSER]" in text
    result = kamailio_check(tmp_path, text)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "auth_ephemeral" not in result.stdout + result.stderr


def test_webrtc_needs_a_websocket_listener_and_a_plain_widget_number(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"ws_listen or sip\.wss_listen"):
        render(tmp_path, sip=EdgeSettings(listen="127.0.0.1:5060"))
    bad = WebRtcSettings(RtpengineSettings(), secret="s", widget_number='1" + "x')
    with pytest.raises(ConfigError) as err:
        render(tmp_path, webrtc=bad)
    assert err.value.errors[0][0] == "webrtc.widget_number"


def test_wss_needs_a_certificate(tmp_path: Path) -> None:
    sip = EdgeSettings(listen="127.0.0.1:5060", wss_listen="127.0.0.1:8089")
    with pytest.raises(ConfigError) as err:
        render(tmp_path, sip=sip)
    assert err.value.errors[0][0] == "sip.wss_listen"


@needs_kamailio
@needs_modules
def test_the_webrtc_config_with_ws_and_wss_passes_kamailios_own_check(tmp_path: Path) -> None:
    cert, key = ensure_self_signed(tmp_path, "127.0.0.1")
    sip = EdgeSettings(
        listen="127.0.0.1:5060",
        workers=2,
        ws_listen="127.0.0.1:8088",
        wss_listen="127.0.0.1:8089",
        tls_cert=str(cert),
        tls_key=str(key),
    )
    text = render(tmp_path, sip=sip)
    assert "listen=tls:127.0.0.1:8089" in text and "listen=tcp:127.0.0.1:8088" in text
    result = kamailio_check(tmp_path, text)
    assert result.returncode == 0, result.stdout + result.stderr


def preprocess(text: str) -> str:
    """Kamailio's #!define / #!ifdef / #!ifndef / #!else / #!endif, as its parser does."""
    defined: set[str] = set()
    keep: list[bool] = []
    out = []
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word in ("#!ifdef", "#!ifndef"):
            keep.append((rest.strip() in defined) == (word == "#!ifdef"))
        elif word == "#!else":
            keep[-1] = not keep[-1]
        elif word == "#!endif":
            keep.pop()
        elif all(keep):
            if word == "#!define":
                defined.add(rest.split()[0])
            out.append(line)
    assert not keep, "unbalanced #!ifdef"
    return "\n".join(out)


@pytest.mark.parametrize("webrtc", [None, WEBRTC], ids=["plain", "webrtc"])
def test_every_route_the_config_names_is_defined(
    tmp_path: Path, webrtc: WebRtcSettings | None
) -> None:
    # (kamailio -c does not resolve route names: a missing one only fails at start)
    import re

    text = preprocess(render(tmp_path, webrtc=webrtc))
    kinds = {
        "route": r"\broute\((\w+)\)",
        "failure_route": r't_on_failure\("(\w+)"\)',
        "onreply_route": r't_on_reply\("(\w+)"\)',
        "branch_route": r't_on_branch\("(\w+)"\)',
    }
    for kind, call in kinds.items():
        defined = set(re.findall(rf"^{kind}\[(\w+)\]", text, re.M))
        named = set(re.findall(call, text))
        assert named <= defined, (kind, named - defined)
        assert kind != "route" or "RELAY" in named
