"""The one Prober shared by every entry, and the bound on proxy checks running at once."""

from __future__ import annotations

import asyncio

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.singleton import singleton

from .const import DOMAIN
from .probe import MAX_CONCURRENT, Prober


@singleton(f"{DOMAIN}_prober")
async def async_get_prober(hass: HomeAssistant) -> Prober:  # noqa: ARG001
    """Return the shared Prober (SSL contexts and trust store built once, in the executor)."""
    return await Prober.create()


@callback
@singleton(f"{DOMAIN}_proxy_check_slots")
def async_get_proxy_check_slots(hass: HomeAssistant) -> asyncio.Semaphore:  # noqa: ARG001
    """Bound the proxy checks of all entries together, as the Prober bounds the probes."""
    return asyncio.Semaphore(MAX_CONCURRENT)
