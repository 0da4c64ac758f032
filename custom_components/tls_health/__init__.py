"""TLS Health: certificate expiry, TLS handshake and reverse proxy health of an HTTPS endpoint."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant

type TlsHealthConfigEntry = ConfigEntry[None]


async def async_setup_entry(hass: HomeAssistant, entry: TlsHealthConfigEntry) -> bool:  # noqa: ARG001
    """Set up an endpoint."""
    return True


async def async_unload_entry(hass: HomeAssistant, entry: TlsHealthConfigEntry) -> bool:  # noqa: ARG001
    """Unload an endpoint."""
    return True
