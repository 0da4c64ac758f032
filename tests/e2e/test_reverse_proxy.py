"""What a real Home Assistant receives, judged through real paths: directly, and via proxies."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.certs import Pki

from .hass_process import run_hass

pytestmark = [pytest.mark.usefixtures("socket_enabled"), pytest.mark.timeout(240)]


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """No in-process `hass` here: the integration runs in its own process."""


async def test_home_assistant_serving_tls_itself_is_direct(tmp_path: Path, pki: Pki) -> None:
    chain, key = pki.server_files("hass", pki.leaf(), pki.intermediate)
    http = {"ssl_certificate": str(chain), "ssl_key": str(key)}
    async with run_hass(tmp_path / "config", http=http) as hass:
        created = await hass.add_endpoint(
            f"https://hass.example.test:{hass.port}",
            address="127.0.0.1",
            ca_file=str(pki.root_file),
        )
        assert created["type"] == "create_entry", created
        entities = await hass.entities(created["result"]["entry_id"])
        assert await hass.state(entities["handshake"]) == "ok"
        assert await hass.state(entities["reverse_proxy"]) == "direct"
        assert await hass.issues() == []
