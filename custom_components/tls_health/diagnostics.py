"""Diagnostics of an endpoint: settings and newest report, names and addresses redacted."""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_ADDRESS, CONF_CA_FILE, CONF_SERVER_NAME, CONF_URL
from .coordinator import TlsHealthConfigEntry

TO_REDACT = {
    CONF_URL,
    CONF_SERVER_NAME,
    CONF_ADDRESS,
    CONF_CA_FILE,
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
    hass: HomeAssistant,  # noqa: ARG001
    entry: TlsHealthConfigEntry,
) -> dict[str, Any]:
    """Return the entry's settings and the endpoint's state: open repairs, streaks, reports."""
    return async_redact_data(
        {
            "data": dict(entry.data),
            "entry_options": dict(entry.options),
            **entry.runtime_data.data.as_dict(),
        },
        TO_REDACT,
    )
