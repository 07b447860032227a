"""Whatever a client sends, the API answers with a status < 500 and the error shape."""

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from base.clock import FakeClock
from switch.api.app import create_api
from switch.config import parse_config
from switch.core import Core
from switch.store import Store

pytestmark = pytest.mark.faults

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)

PATHS = [
    "/api/v1/contacts/{cid}/notes",
    "/api/v1/contacts/{cid}/merge",
    "/api/v1/messages",
    "/api/v1/calls",
]


request = st.tuples(
    st.sampled_from(PATHS),
    st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=40)),
    st.text(max_size=40),
    st.text(min_size=1, max_size=30),
)


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(requests=st.lists(request, min_size=40, max_size=40))
def test_random_requests_never_get_a_5xx_except_503(
    tmp_path_factory: Any, requests: list[tuple[str, bytes, str, str]]
) -> None:
    async def run() -> None:
        tmp: Path = tmp_path_factory.mktemp("api")
        cfg = parse_config(
            {"store": {"path": str(tmp / "s.db")}, "api": {"tokens": ["secret-token-for-tests"]}}
        )
        core = Core(cfg, await Store.open(cfg.store.path), FakeClock())
        real = await core.directory.contact_for("phone:+85512345678")
        headers = {
            "Authorization": "Bearer secret-token-for-tests",
            "Content-Type": "application/json",
        }
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_api(core)), base_url="http://t"
        ) as c:
            for path, body, phone, raw_cid in requests:
                cid = quote(raw_cid, safe="")
                for target in (cid, real):
                    r = await c.post(path.format(cid=target), content=body, headers=headers)
                    assert r.status_code < 500 or r.status_code == 503, r.text
                    if r.status_code >= 400:
                        assert set(r.json()["error"]) >= {"code", "message"}
                r = await c.get("/api/v1/contacts", params={"phone": phone}, headers=headers)
                assert r.status_code in (200, 400, 422), r.text
                r = await c.get(f"/api/v1/contacts/{cid}/journey", headers=headers)
                assert r.status_code in (200, 404), r.text
        await core.close()

    asyncio.run(run())
