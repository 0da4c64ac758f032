"""Home Assistant serving its own certificate: renewed on disk, still served old, fixed by restart."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
import shutil

import pytest

from custom_components.tls_health.own_tls import CONTAINER_MARKERS
from tests.certs import NOW, Pki

from .hass_process import relaunch_after_restart, run_hass

pytestmark = pytest.mark.timeout(240)


async def test_renewed_file_served_after_the_fix_flow_restarts(tmp_path: Path, pki: Pki) -> None:
    old = pki.leaf(not_before=NOW - timedelta(days=80), not_after=NOW + timedelta(days=10))
    chain, key = pki.server_files("hass", old, pki.intermediate)
    http = {"ssl_certificate": str(chain), "ssl_key": str(key)}
    async with run_hass(tmp_path / "config", http=http) as hass:
        # A watched endpoint loads the integration; HA's own certificate is checked once started.
        await hass.watch(hass.port, pki.root_file)
        await hass.rest("POST", "/api/services/tls_health/check_now", {})
        keys = {issue["issue_id"] for issue in await hass.issues()}
        assert "certificate_file_renewal_overdue" in keys
        assert "stale_certificate" not in keys

        renewed_chain, renewed_key = pki.server_files("renewed", pki.leaf(), pki.intermediate)
        shutil.copy(renewed_chain, chain)
        shutil.copy(renewed_key, key)
        await hass.rest("POST", "/api/services/tls_health/check_now", {})
        stale = next(
            issue for issue in await hass.issues() if issue["issue_id"] == "stale_certificate"
        )
        assert stale["is_fixable"] is True
        assert stale["translation_placeholders"]["path"] == str(chain)
        assert "certificate_file_renewal_overdue" not in {
            i["issue_id"] for i in await hass.issues()
        }

        flow = await hass.rest(
            "POST",
            "/api/repairs/issues/fix",
            {"handler": "tls_health", "issue_id": "stale_certificate"},
        )
        assert flow["step_id"] == "confirm"
        done = await hass.rest("POST", f"/api/repairs/issues/fix/{flow['flow_id']}", {})
        assert done["type"] == "create_entry"
        await relaunch_after_restart(hass)

        await hass.rest("POST", "/api/services/tls_health/check_now", {})
        assert await hass.issues() == []

        # The file goes away while HA runs (it reads it only when it starts): the repair says so.
        kept = chain.with_suffix(".kept")
        chain.rename(kept)
        await hass.rest("POST", "/api/services/tls_health/check_now", {})
        [unreadable] = await hass.issues()
        assert unreadable["issue_id"] == "certificate_file_unreadable"
        in_container = any(marker.exists() for marker in CONTAINER_MARKERS)
        assert unreadable["translation_key"] == (
            "certificate_file_missing_in_container" if in_container else "certificate_file_missing"
        )
        assert unreadable["translation_placeholders"] == {"path": str(chain)}
        kept.rename(chain)
        await hass.rest("POST", "/api/services/tls_health/check_now", {})
        assert await hass.issues() == []
