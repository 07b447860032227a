"""Agent phones register with the Kamailio edge: digest auth against HA1, Expires range."""

from __future__ import annotations

import pytest

from tests.integration.kamailio_harness import (
    describe,
    free_ports,
    needs_kamailio_and_sipp,
    running_edge,
)

pytestmark = [pytest.mark.integration, needs_kamailio_and_sipp]


async def test_agent_with_the_right_password_is_registered() -> None:
    async with running_edge() as edge:
        phone = free_ports(1)
        run = await edge.register("1001", "s3cret-1001", phone)
        assert await run.wait() == 0, describe(run)
        contacts = await edge.sup.registered_contacts()
        assert contacts == {"1001": [f"sip:1001@127.0.0.1:{phone}"]}
        # the subscriber table holds hashes, never the password
        assert b"s3cret-1001" not in edge.sup.db_path.read_bytes()


async def test_agent_with_a_wrong_password_is_refused_and_not_registered() -> None:
    async with running_edge() as edge:
        run = await edge.register("1001", "not-the-password", free_ports(1), expect=403)
        assert await run.wait() == 0, describe(run)
        unknown = await edge.register("9999", "whatever", free_ports(1), expect=403)
        assert await unknown.wait() == 0, describe(unknown)
        assert await edge.sup.registered_contacts() == {}


async def test_expires_below_60_is_refused_with_423_and_above_3600_is_clamped() -> None:
    async with running_edge() as edge:
        brief = await edge.register("1001", "s3cret-1001", free_ports(1), expires=30, expect=423)
        assert await brief.wait() == 0, describe(brief)
        assert await edge.sup.registered_contacts() == {}
        long = await edge.register("1001", "s3cret-1001", free_ports(1), expires=7200)
        assert await long.wait() == 0, describe(long)
        assert "expires=3600" in long.messages().split("SIP/2.0 200 OK", 1)[1]
        dump = await edge.sup.rpc("ul.dump")
        aor = dump["Domains"][0]["Domain"]["AoRs"][0]["Info"]
        assert aor["Contacts"][0]["Contact"]["Expires"] <= 3600
