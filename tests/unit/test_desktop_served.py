"""The desktop's files as the switch serves them: the page's security headers, and
gzip for a browser that takes it (JsSIP, the largest file, goes at about a fifth)."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from base.clock import FakeClock
from switch.api.app import create_api
from switch.config import parse_config
from switch.core import Core
from switch.store import Store


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    cfg = parse_config({"store": {"path": str(tmp_path / "s.db")}, "api": {"tokens": ["t" * 20]}})
    core = Core(cfg, await Store.open(cfg.store.path), FakeClock())
    transport = httpx.ASGITransport(app=create_api(core))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c
    await core.close()


async def test_files_go_gzipped_with_their_headers(client: httpx.AsyncClient) -> None:
    for path in ("/static/vendor/jssip-3.13.8.min.js", "/desktop/agent.js"):
        plain = await client.get(path, headers={"Accept-Encoding": "identity"})
        packed = await client.get(path, headers={"Accept-Encoding": "gzip"})
        assert plain.status_code == packed.status_code == 200
        assert "content-encoding" not in plain.headers
        assert packed.headers["content-encoding"] == "gzip"
        assert packed.content == plain.content  # (httpx unpacks it)
        assert packed.num_bytes_downloaded < plain.num_bytes_downloaded / 2
    desk = await client.get("/desktop/app.js", headers={"Accept-Encoding": "gzip"})
    assert desk.headers["content-security-policy"].startswith("default-src 'self'")
    page = await client.get("/")
    assert "connect-src 'self';" in page.headers["content-security-policy"]  # no [webrtc]
