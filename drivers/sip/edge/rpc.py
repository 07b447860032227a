"""Asking a running Kamailio: JSON-RPC over its datagram socket, ``kamcmd``, and the
registration and dispatcher queries built on them.

:class:`KamailioRpc` sends one JSON-RPC request per datagram to ``kamailio_rpc.sock``
(``jsonrpcs`` module), from a reply socket of its own next to it, and returns the
reply's ``result``; ``kamcmd`` runs the binrpc client on ``kamailio_ctl`` for what
people type. The readers below (:func:`contacts_from_ul_dump`,
:func:`registrations_from_reg_dump`, :func:`workers_from_dispatcher_list`) are pure:
they turn Kamailio's result trees into the switch's shapes.

Knows the sockets' paths, not the process: must not import the supervisor, the config
renderer or the media plane.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import socket
from pathlib import Path
from typing import Any

from base.errors import ChannelUnavailable, ProtocolError

__all__ = [
    "KAMCMD",
    "KamailioRpc",
    "contacts_from_ul_dump",
    "registrations_from_reg_dump",
    "workers_from_dispatcher_list",
]

KAMCMD = "/usr/sbin/kamcmd"
MAX_REPLY = 4 * 1024 * 1024  # bytes of one JSON-RPC reply datagram
# uac_reg record flags (Kamailio's src/modules/uac/uac_reg.c)
_REG_DISABLED = 1
_REG_ONGOING = 2
_REG_ONLINE = 4


class KamailioRpc:
    """Queries to one Kamailio through its control sockets."""

    def __init__(self, rpc_socket: Path, ctl_socket: Path, *, kamcmd_path: str = KAMCMD) -> None:
        self.rpc_socket = rpc_socket
        self.ctl_socket = ctl_socket
        self.kamcmd_path = kamcmd_path
        self._ids = itertools.count(1)

    async def call(self, method: str, *params: str | int, timeout: float = 3.0) -> Any:
        """One JSON-RPC request; the reply's ``result`` (ChannelUnavailable when Kamailio
        does not answer or answers an error, ProtocolError when the reply is not JSON)."""
        loop = asyncio.get_running_loop()
        req_id = next(self._ids)
        reply_path = self.rpc_socket.parent / f"rpc-{os.getpid()}-{req_id}.sock"
        request = {"jsonrpc": "2.0", "method": method, "params": list(params), "id": req_id}
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind(str(reply_path))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, MAX_REPLY)
            try:
                await loop.sock_sendto(sock, json.dumps(request).encode(), str(self.rpc_socket))
                data = await asyncio.wait_for(loop.sock_recv(sock, MAX_REPLY), timeout)
            except (OSError, TimeoutError) as exc:
                raise ChannelUnavailable(f"Kamailio RPC {method} failed: {exc!r}") from None
        finally:
            sock.close()
            with contextlib.suppress(FileNotFoundError):
                reply_path.unlink()
        try:
            reply = json.loads(data)
        except ValueError:
            raise ProtocolError(f"Kamailio RPC {method}: reply is not JSON") from None
        if not isinstance(reply, dict):
            raise ProtocolError(f"Kamailio RPC {method}: reply is not a JSON object")
        if "error" in reply:
            err = reply["error"]
            code, message = (
                (err.get("code"), err.get("message")) if isinstance(err, dict) else (err, "")
            )
            raise ChannelUnavailable(f"Kamailio RPC {method}: {code} {message}")
        return reply.get("result")

    async def kamcmd(self, *args: str, timeout: float = 5.0) -> str:
        """Run ``kamcmd -s unix:<ctl> <args>``; its output (ChannelUnavailable on failure)."""
        try:
            proc = await asyncio.create_subprocess_exec(
                self.kamcmd_path,
                "-s",
                f"unix:{self.ctl_socket}",
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise ChannelUnavailable(f"cannot run kamcmd: {exc}") from None
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise ChannelUnavailable(f"kamcmd {' '.join(args)} timed out") from None
        text = out.decode("utf-8", "replace")
        if proc.returncode != 0 or text.startswith("error:"):
            msg = (err.decode("utf-8", "replace") + text).strip()
            raise ChannelUnavailable(f"kamcmd {' '.join(args)} failed: {msg}")
        return text

    async def registered_contacts(self) -> dict[str, list[str]]:
        """sip_user -> contact URIs registered now."""
        return contacts_from_ul_dump(await self.call("ul.dump"))

    async def trunk_registrations(self) -> list[dict[str, Any]]:
        """One dict per registering trunk (see :func:`registrations_from_reg_dump`)."""
        return registrations_from_reg_dump(await self.call("uac.reg_dump"))

    async def dispatcher_state(self) -> list[dict[str, Any]]:
        """The media workers as Kamailio sees them (see
        :func:`workers_from_dispatcher_list`)."""
        return workers_from_dispatcher_list(await self.call("dispatcher.list"))


def contacts_from_ul_dump(result: Any) -> dict[str, list[str]]:
    """sip_user -> contact URIs, from ``ul.dump``'s result."""
    contacts: dict[str, list[str]] = {}
    for domain in _as_list(_get(result, "Domains")):
        for aor in _as_list(_get(_get(domain, "Domain"), "AoRs")):
            info = _get(aor, "Info")
            user = str(_get(info, "AoR") or "")
            if not user:
                continue
            found = [
                str(_get(_get(c, "Contact"), "Address"))
                for c in _as_list(_get(info, "Contacts"))
                if _get(_get(c, "Contact"), "Address")
            ]
            contacts.setdefault(user.split("@", 1)[0], []).extend(found)
    return contacts


def registrations_from_reg_dump(result: Any) -> list[dict[str, Any]]:
    """``uac.reg_dump``'s records, each plus ``trunk`` (the trunk id, Kamailio's
    ``l_uuid``), ``registered`` (bool) and ``state``: ``registered``, ``registering``,
    ``disabled`` or ``unregistered``; the password is never passed on."""
    out: list[dict[str, Any]] = []
    for rec in _as_list(result):
        if not isinstance(rec, dict):
            continue
        item = dict(rec)
        flags = int(item.get("flags") or 0)
        item["trunk"] = item.get("l_uuid")
        item["registered"] = bool(flags & _REG_ONLINE) and not flags & _REG_DISABLED
        if flags & _REG_DISABLED:
            item["state"] = "disabled"
        elif flags & _REG_ONLINE:
            item["state"] = "registered"
        elif flags & _REG_ONGOING:
            item["state"] = "registering"
        else:
            item["state"] = "unregistered"
        item.pop("auth_password", None)
        out.append(item)
    return out


def workers_from_dispatcher_list(result: Any) -> list[dict[str, Any]]:
    """Every dispatcher destination from ``dispatcher.list``: ``set``, ``uri``,
    ``flags`` (A active, I inactive, D disabled, T trying, P probing), ``active``,
    ``priority``."""
    out: list[dict[str, Any]] = []
    for record in _as_list(_get(result, "RECORDS")):
        setrec = _get(record, "SET")
        setid = _get(setrec, "ID")
        for target in _as_list(_get(setrec, "TARGETS")):
            dest = _get(target, "DEST")
            flags = str(_get(dest, "FLAGS") or "")
            out.append(
                {
                    "set": setid,
                    "uri": _get(dest, "URI"),
                    "flags": flags,
                    "active": flags.startswith("A"),
                    "priority": _get(dest, "PRIORITY"),
                }
            )
    return out


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else None


def _as_list(obj: Any) -> list[Any]:
    if obj is None:
        return []
    return obj if isinstance(obj, list) else [obj]
