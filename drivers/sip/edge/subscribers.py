"""Kamailio's SQLite database, written by the switch from its own config.

Kamailio reads three tables from one SQLite file (``db_url = sqlite://<path>``):

``subscriber``  agent phones' credentials for ``auth_db``: ``username`` = the agent's
                ``sip_user``, ``domain`` = the realm (the edge's listen host), ``ha1`` =
                md5(user:realm:password), ``ha1b`` = md5(user@realm:realm:password).
                The plain password column stays empty (``calculate_ha1`` is off).
``dispatcher``  set 1 = the media workers, ``sip:127.0.0.1:<port>`` each.
``uacreg``      one row per trunk with ``register = true``: the ``uac`` module keeps
                that trunk registered with the provider. The uac module needs the
                trunk's password itself (the provider's realm is only known from its
                challenge), so this row holds it in clear: the file is mode 0600.

plus ``version`` (Kamailio refuses a table whose version row is missing or different).

:func:`write_subscriber_db` is idempotent: it creates what is missing and replaces the
rows of the three tables in one transaction, so Kamailio (which opens the file read-only,
WAL mode) sees either the old set or the new one. Dispatcher and uacreg rows are loaded
by Kamailio at start (and on ``dispatcher.reload`` / ``uac.reg_reload``); subscriber
rows are read at each authentication, so a changed password takes effect at once.

Touches only that file; must not import the supervisor, the RPC client or the media plane.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from drivers.sip.settings import AgentPhone, TrunkSettings
from drivers.sip.uri import uri_host

__all__ = ["DISPATCHER_SET_WORKERS", "TABLE_VERSIONS", "ha1", "ha1b", "write_subscriber_db"]

DISPATCHER_SET_WORKERS = 1
# Table versions Kamailio 5.6 expects (its db_sqlite/*-create.sql).
TABLE_VERSIONS = {"version": 1, "subscriber": 7, "dispatcher": 4, "uacreg": 5}
# How often a trunk registration is renewed (the uac module refreshes before expiry).
TRUNK_REGISTER_EXPIRES = 600

_SCHEMA = """
CREATE TABLE IF NOT EXISTS version (
    id INTEGER PRIMARY KEY NOT NULL,
    table_name VARCHAR(32) NOT NULL,
    table_version INTEGER DEFAULT 0 NOT NULL,
    CONSTRAINT version_table_name_idx UNIQUE (table_name)
);
CREATE TABLE IF NOT EXISTS subscriber (
    id INTEGER PRIMARY KEY NOT NULL,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT '' NOT NULL,
    password VARCHAR(64) DEFAULT '' NOT NULL,
    ha1 VARCHAR(128) DEFAULT '' NOT NULL,
    ha1b VARCHAR(128) DEFAULT '' NOT NULL,
    CONSTRAINT subscriber_account_idx UNIQUE (username, domain)
);
CREATE INDEX IF NOT EXISTS subscriber_username_idx ON subscriber (username);
CREATE TABLE IF NOT EXISTS dispatcher (
    id INTEGER PRIMARY KEY NOT NULL,
    setid INTEGER DEFAULT 0 NOT NULL,
    destination VARCHAR(192) DEFAULT '' NOT NULL,
    flags INTEGER DEFAULT 0 NOT NULL,
    priority INTEGER DEFAULT 0 NOT NULL,
    attrs VARCHAR(128) DEFAULT '' NOT NULL,
    description VARCHAR(64) DEFAULT '' NOT NULL
);
CREATE TABLE IF NOT EXISTS uacreg (
    id INTEGER PRIMARY KEY NOT NULL,
    l_uuid VARCHAR(64) DEFAULT '' NOT NULL,
    l_username VARCHAR(64) DEFAULT '' NOT NULL,
    l_domain VARCHAR(64) DEFAULT '' NOT NULL,
    r_username VARCHAR(64) DEFAULT '' NOT NULL,
    r_domain VARCHAR(64) DEFAULT '' NOT NULL,
    realm VARCHAR(64) DEFAULT '' NOT NULL,
    auth_username VARCHAR(64) DEFAULT '' NOT NULL,
    auth_password VARCHAR(64) DEFAULT '' NOT NULL,
    auth_ha1 VARCHAR(128) DEFAULT '' NOT NULL,
    auth_proxy VARCHAR(255) DEFAULT '' NOT NULL,
    expires INTEGER DEFAULT 0 NOT NULL,
    flags INTEGER DEFAULT 0 NOT NULL,
    reg_delay INTEGER DEFAULT 0 NOT NULL,
    contact_addr VARCHAR(255) DEFAULT '' NOT NULL,
    socket VARCHAR(128) DEFAULT '' NOT NULL,
    CONSTRAINT uacreg_l_uuid_idx UNIQUE (l_uuid)
);
"""


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def ha1(user: str, realm: str, password: str) -> str:
    """RFC 2617 HA1 = md5(user:realm:password), as auth_db's ``ha1`` column holds it."""
    return _md5(f"{user}:{realm}:{password}")


def ha1b(user: str, realm: str, password: str) -> str:
    """HA1 for phones that send ``username="user@realm"`` (auth_db's ``ha1b``)."""
    return _md5(f"{user}@{realm}:{realm}:{password}")


def trunk_proxy_uri(trunk: TrunkSettings) -> str:
    uri = f"sip:{uri_host(trunk.host)}:{trunk.port}"
    return uri if trunk.transport == "udp" else f"{uri};transport={trunk.transport}"


def write_subscriber_db(
    db_path: Path | str,
    realm: str,
    agents: Iterable[AgentPhone],
    trunks: Iterable[TrunkSettings],
    worker_addrs: Sequence[str],
    *,
    contact_addr: str | None = None,
    socket: str = "",
    worker_maxload: int = 1,
) -> None:
    """(Re)write Kamailio's tables from the switch config; idempotent.

    ``worker_addrs`` are ``"127.0.0.1:5100"``-style addresses (dispatcher set 1, in
    order). ``contact_addr`` is the edge's ``host:port`` that trunk registrations put in
    their Contact (default: ``realm``); ``socket`` (e.g. ``"udp:127.0.0.1:5060"``) pins
    the socket registrations are sent from. ``worker_maxload`` is the number of calls
    the dispatcher lets a worker hold (1: one conversation per worker; 0: no limit, for
    benchmarks of the edge alone).
    """
    path = Path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = not path.exists()
    subscribers = [
        (
            a.sip_user,
            realm,
            ha1(a.sip_user, realm, a.sip_password),
            ha1b(a.sip_user, realm, a.sip_password),
        )
        for a in agents
        if a.sip_user and a.sip_password
    ]
    workers = [
        (
            DISPATCHER_SET_WORKERS,
            f"sip:{addr}",
            len(worker_addrs) - i,
            f"duid=w{i};maxload={worker_maxload}",  # call-load dispatching
            f"worker{i}",
        )
        for i, addr in enumerate(worker_addrs)
    ]
    registrations = [
        (
            t.id,
            t.username or "",
            t.host,
            t.username or "",
            t.host,
            "",  # realm: taken from the provider's challenge
            t.username or "",
            t.password or "",
            trunk_proxy_uri(t),
            TRUNK_REGISTER_EXPIRES,
            contact_addr or realm,
            socket,
        )
        for t in trunks
        if t.register_
    ]
    conn = sqlite3.connect(path, timeout=10.0, isolation_level=None)
    try:
        if fresh:
            os.chmod(path, 0o600)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_SCHEMA)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO version (table_name, table_version) VALUES (?, ?) "
            "ON CONFLICT(table_name) DO UPDATE SET table_version = excluded.table_version",
            list(TABLE_VERSIONS.items()),
        )
        conn.execute("DELETE FROM subscriber")
        conn.executemany(
            "INSERT INTO subscriber (username, domain, ha1, ha1b) VALUES (?, ?, ?, ?)",
            subscribers,
        )
        conn.execute("DELETE FROM dispatcher")
        conn.executemany(
            "INSERT INTO dispatcher (setid, destination, priority, attrs, description) "
            "VALUES (?, ?, ?, ?, ?)",
            workers,
        )
        conn.execute("DELETE FROM uacreg")
        conn.executemany(
            "INSERT INTO uacreg (l_uuid, l_username, l_domain, r_username, r_domain, realm,"
            " auth_username, auth_password, auth_proxy, expires, contact_addr, socket)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            registrations,
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()
