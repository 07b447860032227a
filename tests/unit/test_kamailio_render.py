"""Kamailio config rendering and the SQLite file Kamailio reads (drivers/sip/edge)."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from base.errors import ConfigError
from drivers.sip.edge.render import render_kamailio_config, worker_addresses
from drivers.sip.edge.subscribers import TABLE_VERSIONS, ha1, ha1b, write_subscriber_db
from switch.config import AgentConfig, SipConfig, TrunkConfig

KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"
needs_kamailio = pytest.mark.skipif(not Path(KAMAILIO).exists(), reason="kamailio not installed")

SIP = SipConfig(listen="127.0.0.1:5060", workers=3, worker_port_base=5100)
AGENTS = [
    AgentConfig(id="alice", sip_user="1001", sip_password="change-me"),
    AgentConfig(id="bob", sip_user="1002", sip_password="other-pass"),
    AgentConfig(id="carol"),  # no SIP phone
]
PEER = TrunkConfig.model_validate({"id": "peer", "host": "127.0.0.1", "port": 5080})
REGISTERED = TrunkConfig.model_validate(
    {
        "id": "prov",
        "host": "203.0.113.7",
        "port": 5061,
        "transport": "tcp",
        "username": "edge",
        "password": 'p"w\\x$y',
        "register": True,
    }
)


def render(tmp_path: Path, sip: SipConfig = SIP, trunks: list[TrunkConfig] | None = None) -> str:
    return render_kamailio_config(
        sip,
        [PEER, REGISTERED] if trunks is None else trunks,
        AGENTS,
        rundir=tmp_path,
        db_path=tmp_path / "k.sqlite",
    )


def kamailio_check(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "kamailio.cfg"
    cfg.write_text(text)
    return subprocess.run(
        [KAMAILIO, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30, check=False
    )


def test_rendering_fills_every_placeholder(tmp_path: Path) -> None:
    text = render(tmp_path)
    assert "{{" not in text and "}}" not in text
    assert "listen=udp:127.0.0.1:5060" in text and "listen=tcp:127.0.0.1:5060" in text
    assert f'"sqlite://{tmp_path}/k.sqlite"' in text
    assert f'"unix:{tmp_path}/kamailio_ctl"' in text


def test_only_the_edges_ip_and_port_is_an_alias_never_the_bare_ip(tmp_path: Path) -> None:
    aliases = [line for line in render(tmp_path).splitlines() if line.startswith("alias=")]
    assert aliases == ["alias=127.0.0.1:5060"]


def test_trunks_are_recognised_by_ip_and_port_and_tcp_trunks_by_ip(tmp_path: Path) -> None:
    text = render(tmp_path)
    assert '$si == "127.0.0.1" && $sp == 5080 && $proto == "udp"' in text
    assert '$var(trunk) = "peer";' in text
    assert '$si == "203.0.113.7" && $proto == "tcp"' in text
    assert '$du = "sip:203.0.113.7:5061;transport=tcp";' in text


def test_trunk_credentials_are_escaped_for_the_config(tmp_path: Path) -> None:
    text = render(tmp_path)
    assert '$avp(apass) = "p\\"w\\\\x$y";' in text
    assert '$avp(auser) = "edge";' in text


def test_a_control_character_in_a_trunk_password_is_a_config_error(tmp_path: Path) -> None:
    bad = REGISTERED.model_copy(update={"password": "a\nmodparam"})
    with pytest.raises(ConfigError) as err:
        render(tmp_path, trunks=[bad])
    assert err.value.errors[0][0] == "trunks[0].password"


def test_a_trunk_host_name_is_resolved_to_the_addresses_it_calls_from(tmp_path: Path) -> None:
    named = TrunkConfig.model_validate({"id": "named", "host": "localhost", "port": 5090})
    text = render(tmp_path, trunks=[named])
    assert '$si == "127.0.0.1" && $sp == 5090' in text
    assert '$rd == "localhost"' in text


def test_a_run_directory_too_deep_for_unix_sockets_is_refused(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 120)
    with pytest.raises(ConfigError, match="too deep"):
        render(deep)


def test_a_wildcard_listen_address_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="own address"):
        render(tmp_path, sip=SIP.model_copy(update={"listen": "0.0.0.0:5060"}))


def test_tls_needs_a_certificate_and_a_key(tmp_path: Path) -> None:
    sip = SIP.model_copy(update={"tls_listen": "127.0.0.1:5061"})
    with pytest.raises(ConfigError, match="tls_cert"):
        render(tmp_path, sip=sip)


@needs_kamailio
def test_the_rendered_config_passes_kamailios_own_check(tmp_path: Path) -> None:
    result = kamailio_check(tmp_path, render(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_kamailio
def test_tls_and_websocket_configs_pass_kamailios_own_check(tmp_path: Path) -> None:
    sip = SIP.model_copy(
        update={
            "tls_listen": "127.0.0.1:5061",
            "tls_cert": str(tmp_path / "cert.pem"),
            "tls_key": str(tmp_path / "key.pem"),
            "ws_listen": "127.0.0.1:8088",
        }
    )
    text = render(tmp_path, sip=sip)
    assert text.index('loadmodule "tls.so"') < text.index('loadmodule "jsonrpcs.so"')
    assert "listen=tls:127.0.0.1:5061" in text and "listen=tcp:127.0.0.1:8088" in text
    result = kamailio_check(tmp_path, text)
    assert result.returncode == 0, result.stdout + result.stderr


def test_worker_addresses_follow_the_port_base() -> None:
    assert worker_addresses(SIP) == ["127.0.0.1:5100", "127.0.0.1:5101", "127.0.0.1:5102"]


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql))


def test_subscriber_db_holds_ha1_hashes_workers_and_registrations(tmp_path: Path) -> None:
    db = tmp_path / "k.sqlite"
    workers = worker_addresses(SIP)
    write_subscriber_db(db, "127.0.0.1", AGENTS, [PEER, REGISTERED], workers)
    subs = rows(
        db, "SELECT username, domain, password, ha1, ha1b FROM subscriber ORDER BY username"
    )
    expected = hashlib.md5(b"1001:127.0.0.1:change-me", usedforsecurity=False).hexdigest()
    assert subs[0] == ("1001", "127.0.0.1", "", expected, ha1b("1001", "127.0.0.1", "change-me"))
    assert subs[1][0] == "1002" and subs[1][3] == ha1("1002", "127.0.0.1", "other-pass")
    assert len(subs) == 2
    assert b"change-me" not in db.read_bytes()
    dispatch = rows(db, "SELECT setid, destination FROM dispatcher ORDER BY id")
    assert dispatch == [(1, f"sip:{w}") for w in workers]
    regs = rows(db, "SELECT l_uuid, auth_username, auth_proxy, realm FROM uacreg")
    assert regs == [("prov", "edge", "sip:203.0.113.7:5061;transport=tcp", "")]
    versions = {str(r[0]): r[1] for r in rows(db, "SELECT table_name, table_version FROM version")}
    assert versions == TABLE_VERSIONS
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_subscriber_db_rewrite_is_idempotent_and_follows_the_config(tmp_path: Path) -> None:
    db = tmp_path / "k.sqlite"
    for _ in range(2):
        write_subscriber_db(db, "127.0.0.1", AGENTS, [PEER, REGISTERED], ["127.0.0.1:5100"])
    assert len(rows(db, "SELECT * FROM subscriber")) == 2
    assert len(rows(db, "SELECT * FROM dispatcher")) == 1
    assert len(rows(db, "SELECT * FROM version")) == len(TABLE_VERSIONS)
    write_subscriber_db(db, "127.0.0.1", AGENTS[:1], [PEER], ["127.0.0.1:5100", "127.0.0.1:5101"])
    assert rows(db, "SELECT username FROM subscriber") == [("1001",)]
    assert len(rows(db, "SELECT * FROM dispatcher")) == 2
    assert rows(db, "SELECT * FROM uacreg") == []
