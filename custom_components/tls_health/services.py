"""Actions: check endpoints now, and inspect any endpoint with the full report as the response."""

from __future__ import annotations

import asyncio
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.service import async_register_admin_service
import probatio as vol

from .const import (
    CONF_ADDRESS,
    CONF_CA_FILE,
    CONF_SERVER_NAME,
    CONF_URL,
    DOMAIN,
)
from .coordinator import TlsHealthConfigEntry
from .endpoint import entry_target
from .options import EndpointOptions
from .own_tls import async_check_own_tls_now
from .probe import InvalidTargetError, Target
from .prober import async_get_prober

SERVICE_CHECK_NOW = "check_now"
SERVICE_INSPECT = "inspect"
ATTR_CONFIG_ENTRY_ID = "config_entry_id"

CHECK_NOW_SCHEMA = vol.Schema({vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string})
INSPECT_SCHEMA = vol.All(
    vol.Schema(
        {
            vol.Exclusive(ATTR_CONFIG_ENTRY_ID, "endpoint"): cv.string,
            vol.Exclusive(CONF_URL, "endpoint"): cv.string,
            vol.Optional(CONF_SERVER_NAME): cv.string,
            vol.Optional(CONF_ADDRESS): cv.string,
            vol.Optional(CONF_CA_FILE): cv.string,
        }
    ),
    cv.has_at_least_one_key(ATTR_CONFIG_ENTRY_ID, CONF_URL),
)


def _loaded_entry(hass: HomeAssistant, entry_id: str) -> TlsHealthConfigEntry:
    entry: TlsHealthConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_found",
            translation_placeholders={"entry_id": entry_id},
        )
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"title": entry.title},
        )
    return entry


async def _async_check_now(call: ServiceCall) -> None:
    hass = call.hass
    if entry_id := call.data.get(ATTR_CONFIG_ENTRY_ID):
        entries = [_loaded_entry(hass, entry_id)]
    else:
        entries = hass.config_entries.async_loaded_entries(DOMAIN)
    # All at once; the shared Prober bounds how many probes really run together.
    await asyncio.gather(
        *(entry.runtime_data.async_refresh() for entry in entries),
        async_check_own_tls_now(hass),
    )


async def _async_inspect(call: ServiceCall) -> ServiceResponse:
    hass = call.hass
    options = EndpointOptions()
    target: Target
    if entry_id := call.data.get(ATTR_CONFIG_ENTRY_ID):
        entry = _loaded_entry(hass, entry_id)
        target = entry.runtime_data.target
        options = entry.runtime_data.options
    else:
        try:
            target = entry_target(call.data)
        except InvalidTargetError as err:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="invalid_target",
                translation_placeholders={"url": call.data[CONF_URL], "reason": str(err)},
            ) from err
        options = EndpointOptions.from_options({}, target.protocol)
    prober = await async_get_prober(hass)
    report = await prober.probe(target, options.probe)
    result: dict[str, Any] = report.as_dict()
    return result


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""
    # Both reach arbitrary hosts and files from Home Assistant's position: administrators only.
    async_register_admin_service(
        hass, DOMAIN, SERVICE_CHECK_NOW, _async_check_now, CHECK_NOW_SCHEMA
    )
    async_register_admin_service(
        hass,
        DOMAIN,
        SERVICE_INSPECT,
        _async_inspect,
        INSPECT_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
