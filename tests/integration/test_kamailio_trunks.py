"""Trunks with credentials: Kamailio registers to the provider (uac module, uacreg
table) and answers the provider's digest challenge on calls the workers send out."""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any

import pytest

from drivers.sip.edge.supervisor import KamailioSupervisor
from tests.integration.kamailio_harness import (
    describe,
    free_ports,
    needs_kamailio_and_sipp,
    running_edge,
)

pytestmark = [pytest.mark.integration, needs_kamailio_and_sipp]

# A $, a quote and a backslash: they must reach the digest exactly through the cfg.
PASSWORD = 'pa$s:w"o\\rd'
REGISTER_PASSWORD = "secret-pw"  # what the sipp registrar checks (verifyauth)


def trunk(port: int, password: str, register: bool = True) -> dict[str, object]:
    return {
        "id": "prov",
        "host": "127.0.0.1",
        "port": port,
        "username": "edge-user",
        "password": password,
        "register": register,
    }


async def wait_registration(
    sup: KamailioSupervisor, want: bool, seconds: float = 8.0
) -> list[dict[str, Any]]:
    regs: list[dict[str, Any]] = []
    for _ in range(int(seconds * 10)):
        regs = await sup.trunk_registrations()
        if regs and bool(regs[0]["registered"]) == want and regs[0]["state"] != "registering":
            break
        await asyncio.sleep(0.1)
    return regs


async def test_a_trunk_with_register_true_registers_with_digest_auth() -> None:
    port = free_ports(1)
    async with running_edge(
        workers=1, trunks=[trunk(port, REGISTER_PASSWORD)], reg_timer=1
    ) as edge:
        provider = await edge.sipp("provider_registrar", port, timeout=15)
        assert await provider.wait(20) == 0, describe(provider)
        regs = await wait_registration(edge.sup, True)
        assert [r["trunk"] for r in regs] == ["prov"]
        assert regs[0]["registered"] is True and regs[0]["state"] == "registered", regs
        assert "auth_password" not in regs[0]
        # the provider was given the edge's address as the contact
        assert f"@{edge.target}" in provider.log()


async def test_a_trunk_registration_with_wrong_credentials_is_not_registered() -> None:
    port = free_ports(1)
    async with running_edge(workers=1, trunks=[trunk(port, "wrong")], reg_timer=1) as edge:
        provider = await edge.sipp("provider_registrar", port, timeout=15)
        assert await provider.wait(20) == 0, describe(provider)
        regs = await wait_registration(edge.sup, False)
        assert regs and regs[0]["registered"] is False, regs


async def test_a_worker_call_to_a_trunk_answers_the_providers_challenge() -> None:
    port = free_ports(1)
    async with running_edge(workers=1, trunks=[trunk(port, PASSWORD, register=False)]) as edge:
        provider = await edge.sipp("provider_challenge", port)
        worker = await edge.sipp(
            "uac_call",
            edge.worker_ports[0],
            remote=f"127.0.0.1:{port}",
            service="+85512345678",
            extra=["-rsa", edge.target],
        )
        assert await worker.wait() == 0, describe(worker, provider)
        assert await provider.wait() == 0, describe(worker, provider)
        # the worker said CSeq 1 ACK / 2 BYE; after the authenticated INVITE (CSeq 2) the
        # edge shifts in-dialog requests so the provider sees them in order
        assert "ack=2" in provider.log() and "bye=3" in provider.log(), provider.log()
        auth = re.search(r"^Authorization: Digest (.*)$", provider.messages(), re.M)
        assert auth is not None, provider.messages()
        params = dict(re.findall(r'(\w+)="?([^",]*)"?', auth.group(1)))
        assert params["username"] == "edge-user"
        ha1 = md5(f"edge-user:{params['realm']}:{PASSWORD}")
        ha2 = md5(f"INVITE:{params['uri']}")
        assert params["response"] == md5(f"{ha1}:{params['nonce']}:{ha2}")


def md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
