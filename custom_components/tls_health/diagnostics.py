"""Diagnostics of an endpoint: settings and newest report, names and addresses redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_ADDRESS, CONF_SERVER_NAME, CONF_URL
from .coordinator import TlsHealthConfigEntry
from .issues import async_open_issue_keys

TO_REDACT = {
    CONF_URL,
    CONF_SERVER_NAME,
    CONF_ADDRESS,
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
    hass: HomeAssistant, entry: TlsHealthConfigEntry
) -> dict[str, Any]:
    """Return the settings, open repairs, streaks and newest report."""
    coordinator = entry.runtime_data
    return async_redact_data(
        {
            "data": dict(entry.data),
            "options": dict(entry.options),
            "open_repairs": async_open_issue_keys(hass, entry),
            "streaks": dict(coordinator.streaks),
            "report": coordinator.data.as_dict() if coordinator.data else None,
            "reverse_proxy": asdict(coordinator.proxy) if coordinator.proxy else None,
        },
        TO_REDACT,
    )
