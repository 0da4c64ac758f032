"""A renewal seen through a real nginx by a real Home Assistant: the file renewed while nginx
still serves the old certificate (stale_served_certificate), then nginx reloaded (the event)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives import hashes
import pytest

from tests.certs import NOW, Pki

from .hass_process import free_port, run_hass
from .proxies import ProxyFactory, nginx_binary

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed (scripts/setup)"),
]
OPTIONS = {"scan_interval": 60, "warning_days": 14, "critical_days": 7, "scan_legacy": False}


async def test_renewed_file_stale_until_nginx_reloads_then_renewed_event(
    tmp_path: Path, pki: Pki, reverse_proxy: ProxyFactory
) -> None:
    old = pki.leaf(not_before=NOW - timedelta(days=60), not_after=NOW + timedelta(days=30))
    chain_file, key_file = pki.server_files("nginx", old, pki.intermediate)
    # nothing listens upstream: nginx answers 502, which does not matter here
    proxy = await reverse_proxy(
        "nginx", chain_file=chain_file, key_file=key_file, upstream_port=free_port()
    )
    async with run_hass(tmp_path / "config") as hass:
        entry_id = await hass.watch(proxy.port, pki.root_file)
        saved = await hass.set_options(entry_id, {**OPTIONS, "certificate_file": str(chain_file)})
        assert saved["type"] == "create_entry", saved
        await hass.wait_first_check(entry_id)
        entities = await hass.entities(entry_id)

        # certbot renewed the files; nginx still has the old certificate in memory
        renewed = pki.leaf(not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=89))
        assert pki.server_files("nginx", renewed, pki.intermediate) == (chain_file, key_file)
        for _ in range(2):  # a finding is raised when two checks agree
            await hass.rest("POST", "/api/services/tls_health/check_now", {})
        assert [issue["translation_key"] for issue in await hass.issues()] == [
            "stale_served_certificate"
        ]
        event = await hass.rest("GET", f"/api/states/{entities['certificate_changed']}")
        assert event["state"] == "unknown"

        await proxy.reload()
        await hass.rest("POST", "/api/services/tls_health/check_now", {})
        assert [issue["translation_key"] for issue in await hass.issues()] == []
        event = await hass.rest("GET", f"/api/states/{entities['certificate_changed']}")
        attributes = event["attributes"]
        assert attributes["event_type"] == "renewed"
        assert attributes["old_fingerprint"] == old.cert.fingerprint(hashes.SHA256()).hex()
        assert attributes["new_fingerprint"] == renewed.cert.fingerprint(hashes.SHA256()).hex()
        assert attributes["new_expiry"] == renewed.cert.not_valid_after_utc.isoformat()
        fingerprint = await hass.state(entities["certificate_fingerprint"])
        assert fingerprint == attributes["new_fingerprint"]

        # the same certificate again: no second event
        fired_at = event["state"]
        await hass.rest("POST", "/api/services/tls_health/check_now", {})
        event = await hass.rest("GET", f"/api/states/{entities['certificate_changed']}")
        assert event["state"] == fired_at
