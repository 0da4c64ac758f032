"""The one Prober shared by every entry, and the Target of an entry."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.singleton import singleton

from .const import CONF_ADDRESS, CONF_CA_FILE, CONF_SERVER_NAME, CONF_URL, DOMAIN
from .probe import Prober, Target
from .probe.engine import MAX_CONCURRENT
from .probe.target import parse_target


@singleton(f"{DOMAIN}_prober")
async def async_get_prober(hass: HomeAssistant) -> Prober:  # noqa: ARG001
    """Return the shared Prober (SSL contexts and trust store built once, in the executor)."""
    return await Prober.create()


@callback
@singleton(f"{DOMAIN}_proxy_check_slots")
def async_get_proxy_check_slots(hass: HomeAssistant) -> asyncio.Semaphore:  # noqa: ARG001
    """Bound the proxy checks of all entries together, as the Prober bounds the probes."""
    return asyncio.Semaphore(MAX_CONCURRENT)


def entry_target(data: Mapping[str, Any]) -> Target:
    """Target described by a config entry's data (or a config flow's input)."""
    return parse_target(
        data[CONF_URL],
        server_name=data.get(CONF_SERVER_NAME),
        address=data.get(CONF_ADDRESS),
        ca_file=data.get(CONF_CA_FILE),
    )
