"""TLS Health: certificate expiry, TLS handshake and reverse proxy health of HTTPS endpoints."""

from __future__ import annotations

from functools import partial

from homeassistant.config_entries import SOURCE_INTEGRATION_DISCOVERY
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import discovery_flow
from homeassistant.helpers.start import async_at_started
from homeassistant.helpers.typing import ConfigType
import probatio as vol

from .catalogue import PROXY_REPAIRS
from .const import CONF_URL, DOMAIN
from .coordinator import TlsHealthConfigEntry, TlsHealthCoordinator
from .discovery import CONF_SERVICE, async_known_services
from .endpoint import unique_id_of
from .http_settings import async_check_trusted_proxies, async_raise_refused_traffic
from .issues import async_delete_entry_issues
from .known import async_get_known_certificates
from .own_tls import async_watch_own_tls
from .probe import InvalidTargetError, parse_target
from .prober import async_get_prober
from .proven import async_get_proven_paths
from .selfprobe import async_get_self_probe
from .services import async_setup_services

PLATFORMS = [Platform.BINARY_SENSOR, Platform.EVENT, Platform.SENSOR]
# Endpoints come from config entries. An empty `tls_health:` in configuration.yaml only loads the
# integration, so that HA's own certificate and proxy refusals are watched with no endpoint at all.
CONFIG_SCHEMA = vol.Schema(
    {vol.Optional(DOMAIN): vol.Any(None, vol.Schema({}))}, extra=vol.ALLOW_EXTRA
)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:  # noqa: ARG001
    """Register the actions, watch HA's own TLS settings, offer to watch HA's own address."""
    async_setup_services(hass)
    async_check_trusted_proxies(hass)
    async_watch_own_tls(hass)
    async_get_self_probe(hass).on_traffic_refused = partial(async_raise_refused_traffic, hass)

    def offer(url: str, **extra: str) -> None:
        try:
            unique_id = unique_id_of(parse_target(url))
        except InvalidTargetError:
            return
        if hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, unique_id) is None:
            discovery_flow.async_create_flow(
                hass, DOMAIN, {"source": SOURCE_INTEGRATION_DISCOVERY}, {CONF_URL: url, **extra}
            )

    async def offer_known(hass: HomeAssistant) -> None:
        url = hass.config.external_url
        if url and url.startswith("https://"):
            offer(url)
        for service in await async_known_services(hass):
            offer(service.url, **{CONF_SERVICE: service.service})

    async_at_started(hass, offer_known)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: TlsHealthConfigEntry) -> bool:
    """Set up the endpoint's entities; its first check runs once Home Assistant has started.

    Until then HA may not serve HTTP yet (it starts with the frontend, or at start), so the proxy
    check could not reach it; and an endpoint that does not answer would hold start-up back for
    the probe's whole timeout.
    """
    coordinator = TlsHealthCoordinator(
        hass, entry, await async_get_prober(hass), await async_get_known_certificates(hass)
    )
    entry.runtime_data = coordinator
    if not coordinator.leads_here:
        # No check of its proxy runs: a repair it raised before could never be cleared.
        async_delete_entry_issues(hass, entry, PROXY_REPAIRS)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)

    @callback
    def first_check(hass: HomeAssistant) -> None:
        entry.async_create_background_task(
            hass, coordinator.async_refresh(), f"{DOMAIN} first check of {entry.title}"
        )

    entry.async_on_unload(async_at_started(hass, first_check))
    return True


async def async_unload_entry(hass: HomeAssistant, entry: TlsHealthConfigEntry) -> bool:
    """Unload an endpoint; its repairs survive a reload but not the entry being disabled."""
    if entry.disabled_by is not None:
        async_delete_entry_issues(hass, entry)
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: TlsHealthConfigEntry) -> None:
    """Forget the repairs and the certificate of an endpoint that is no longer watched."""
    async_delete_entry_issues(hass, entry)
    (await async_get_known_certificates(hass)).async_forget(entry.entry_id)
    (await async_get_proven_paths(hass)).async_forget(entry.entry_id)
