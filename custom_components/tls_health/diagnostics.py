"""Diagnostics of an endpoint: settings and newest report, names and addresses redacted."""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_ADDRESS, CONF_CA_FILE, CONF_CERTIFICATE_FILE, CONF_SERVER_NAME, CONF_URL
from .coordinator import TlsHealthConfigEntry
from .selfprobe import async_get_self_probe

TO_REDACT = {
    CONF_URL,
    CONF_SERVER_NAME,
    CONF_ADDRESS,
    CONF_CA_FILE,
    CONF_CERTIFICATE_FILE,
    "ca_file",
    "serial",
    "sha256",
    "host",
    "address",
    "sni",
    "expected_name",
    "names",
    "sans",
    "subject",
    "common_name",
    "endpoint",
    "detail",
    "peer",
    "remote",
    "forwarded_for",
    "forwarded_host",
    "proxy_address",
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant,
    entry: TlsHealthConfigEntry,
) -> dict[str, Any]:
    """Return the entry's settings and the endpoint's state: open repairs, streaks, reports."""
    diagnostics: dict[str, Any] = async_redact_data(
        {
            "data": dict(entry.data),
            "entry_options": dict(entry.options),
            **entry.runtime_data.data.as_dict(),
            # requests HA's forwarded middleware refused outside our checks: counts only
            "refused_traffic": {
                reason.value: tally.as_dict()
                for reason, tally in async_get_self_probe(hass).traffic.items()
            },
        },
        TO_REDACT,
    )
    _redact_self_issued(diagnostics)
    return diagnostics


def _redact_self_issued(diagnostics: dict[str, Any]) -> None:
    """Redact the issuer of self-issued certificates: it is their subject, the endpoint's name."""
    report = diagnostics.get("report") or {}
    chain = report.get("chain") or []
    for certificate in chain:
        if certificate.get("self_issued"):
            for key in ("issuer", "issuer_organization", "issuer_common_name"):
                certificate[key] = REDACTED
    if chain and chain[0].get("self_issued"):
        details = report.get("details") or {}
        for key in ("issuer", "missing_issuer"):
            if key in details:
                details[key] = REDACTED
        if known := diagnostics.get("known_certificate"):
            known["issuer"] = known["issuer_organization"] = REDACTED
