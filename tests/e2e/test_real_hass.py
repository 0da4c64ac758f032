"""TLS Health inside a real `hass` process: added through the config flow API, checked, repaired."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, timedelta
from pathlib import Path
import ssl

import pytest

from tests.certs import NOW, Pki
from tests.conftest import StartServer
from tests.helpers import noon

from .hass_process import run_hass

pytestmark = pytest.mark.timeout(180)


async def test_endpoint_lifecycle_in_real_hass(
    tmp_path: Path, pki: Pki, serve: StartServer, tls_context: Callable[..., ssl.SSLContext]
) -> None:
    server = await serve(context=tls_context(pki.leaf(), pki.intermediate))
    async with run_hass(tmp_path / "config") as hass:
        entry_id = await hass.watch(server.port, pki.root_file)
        entities = await hass.entities(entry_id)
        assert set(entities) == {
            "certificate_expiry",
            "days_until_expiry",
            "renewal_due",
            "revocation",
            "renewal_window",
            "handshake",
            "tls_version",
            "handshake_time",
            "issuer",
            "certificate_fingerprint",
            "certificate_serial",
            "certificate_changed",
            "problem",
        }  # no reverse_proxy sensor: the test server is not this Home Assistant
        assert await hass.state(entities["handshake"]) == "ok"
        assert await hass.state(entities["days_until_expiry"]) == "60"
        assert await hass.state(entities["problem"]) == "off"

        # two calendar days ago in this hass's time zone (UTC), whatever the hour now
        expired = pki.leaf(not_before=NOW - timedelta(days=90), not_after=noon(-2, UTC))
        server.present(*pki.server_files("expired", expired, pki.intermediate))
        for _ in range(2):  # a finding is raised when two checks agree
            await hass.rest("POST", "/api/services/tls_health/check_now", {})
        assert await hass.state(entities["handshake"]) == "certificate_expired"
        assert await hass.state(entities["problem"]) == "on"
        ours = await hass.issues()
        assert [issue["translation_key"] for issue in ours] == ["certificate_expired"]
        assert ours[0]["translation_placeholders"]["days_expired"] == "2"

        report = await hass.rest(
            "POST",
            "/api/services/tls_health/inspect?return_response",
            {"config_entry_id": entry_id},
        )
        assert report["service_response"]["verdict"] == "certificate_expired"

        server.present(*pki.server_files("renewed", pki.leaf(), pki.intermediate))
        await hass.rest("POST", "/api/services/tls_health/check_now", {})
        assert await hass.issues() == []
        assert await hass.state(entities["handshake"]) == "ok"

        diagnostics = await hass.rest("GET", f"/api/diagnostics/config_entry/{entry_id}")
        assert diagnostics["data"]["report"]["verdict"] == "ok"
        assert "hass.example.test" not in str(diagnostics["data"])
    log = (tmp_path / "config" / "hass-stdout.log").read_text()
    assert [line for line in log.splitlines() if "ERROR" in line and "tls_health" in line] == []
    assert "custom_components/tls_health" not in log  # in no traceback
