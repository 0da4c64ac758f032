"""Revoked, good, unknown and "renew now" in a real hass: its sensors, repairs and diagnostics."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tests.daemons import installed

from .authorities import EXPLANATION, REVOCATION, ca_endpoints
from .hass_process import run_hass

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(not installed("nginx"), reason="nginx not installed (scripts/setup)"),
]


async def test_what_the_ca_says_shows_in_a_real_hass(tmp_path: Path) -> None:
    async with (
        run_hass(tmp_path / "config") as hass,
        ca_endpoints(hass, tmp_path / "authority") as scene,
    ):
        entities = {role: await hass.entities(entry) for role, entry in scene.entries.items()}
        shown = {role: await hass.state(found["revocation"]) for role, found in entities.items()}
        assert shown == REVOCATION
        problems = {role: await hass.state(found["problem"]) for role, found in entities.items()}
        assert problems == {
            "good": "off",
            "revoked": "on",
            "revoked_ocsp": "on",
            "unknown": "off",
            "renew_now": "on",
        }
        # the CA's window: its start is the sensor, its end is when renewal was due
        start, end = scene.window
        renew_now = entities["renew_now"]
        assert datetime.fromisoformat(await hass.state(renew_now["renewal_window"])) == start
        assert datetime.fromisoformat(await hass.state(renew_now["renewal_due"])) == end
        assert await hass.state(entities["good"]["renewal_window"]) == "unknown"

        issues = {issue["issue_id"]: issue for issue in await hass.issues()}
        by_entry = {
            role: sorted(key for key in issues if key.endswith(f"_{entry}"))
            for role, entry in scene.entries.items()
        }
        assert by_entry == {
            "good": [],
            "revoked": [f"certificate_revoked_{scene.entries['revoked']}"],
            "revoked_ocsp": [f"certificate_revoked_{scene.entries['revoked_ocsp']}"],
            "unknown": [],
            "renew_now": [f"renewal_requested_by_ca_{scene.entries['renew_now']}"],
        }
        revoked = issues[f"certificate_revoked_{scene.entries['revoked']}"]
        assert revoked["severity"] == "error"
        assert revoked["translation_key"] == "certificate_revoked_key_compromise"
        assert revoked["translation_placeholders"]["revocation_reason"] == "keyCompromise"
        assert revoked["translation_placeholders"]["revocation_source"] == "CRL"
        assert revoked["translation_placeholders"]["serial"] == scene.serials["revoked"]
        by_ocsp = issues[f"certificate_revoked_{scene.entries['revoked_ocsp']}"]
        assert by_ocsp["translation_key"] == "certificate_revoked"
        assert by_ocsp["translation_placeholders"]["revocation_reason"] == "superseded"
        assert by_ocsp["translation_placeholders"]["revocation_source"] == "OCSP"
        asked = issues[f"renewal_requested_by_ca_{scene.entries['renew_now']}"]
        assert asked["severity"] == "warning"
        assert asked["translation_key"] == "renewal_requested_by_ca_explained"
        # the CA's page, inert: one line, no backtick to leave the text's code span
        explanation = asked["translation_placeholders"]["explanation_url"]
        assert explanation == EXPLANATION.replace("`", "\u02cb")

        for role, entry in scene.entries.items():
            report = (await hass.diagnostics(entry))["report"]
            assert report["revocation"]["state"] == REVOCATION[role], role
            assert report["revocation"]["serial"] == "**REDACTED**"
        diagnostics = await hass.diagnostics(scene.entries["revoked_ocsp"])
        assert diagnostics["report"]["revocation"]["source"] == "ocsp"
        assert diagnostics["report"]["revocation"]["reason"] == "superseded"
        info = (await hass.diagnostics(scene.entries["renew_now"]))["report"]["renewal_info"]
        assert datetime.fromisoformat(info["window_end"]) == end
        assert info["directory"] == "**REDACTED**"
        assert info["url"] == "**REDACTED**"

        inspected = await hass.rest(
            "POST",
            "/api/services/tls_health/inspect?return_response",
            {"config_entry_id": scene.entries["revoked"]},
        )
        report = inspected["service_response"]
        assert report["revocation"]["state"] == "revoked"
        assert report["revocation"]["serial"] == scene.serials["revoked"]
