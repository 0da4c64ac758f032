"""Home Assistant's HTTP settings store, read by the integration, and checks during a trial."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
import ssl
from types import SimpleNamespace

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util

from custom_components.tls_health.const import RECHECK_INTERVAL
from custom_components.tls_health.http_settings import (
    HTTP_CONFIG_STORE,
    async_read_http_settings,
)
from custom_components.tls_health.trial_judgement import ProxySettings

from .certs import Pki
from .conftest import StartServer
from .helpers import endpoint_data, next_check, open_issues, setup_endpoint
from .servers import HttpHandler

HOUR = timedelta(hours=1)


async def test_home_assistants_own_store_is_read(hass: HomeAssistant) -> None:
    assert async_read_http_settings(hass) is None  # no http integration: nothing to read
    assert await async_setup_component(hass, "http", {})
    settings = async_read_http_settings(hass)
    assert settings is not None
    assert settings.running == "stable"
    assert settings.stable == ProxySettings(use_x_forwarded_for=False, trusted_proxies=())
    assert not settings.on_trial
    assert settings.saved is None


async def test_a_trial_is_checked_every_minute_and_an_unreadable_store_changes_nothing(
    hass: HomeAssistant,
    pki: Pki,
    serve: StartServer,
    tls_context: Callable[..., ssl.SSLContext],
) -> None:
    """The coordinator's interval is an hour; a trial lasts minutes."""
    assert await async_setup_component(hass, "http", {})
    store = hass.data[HTTP_CONFIG_STORE]
    # not this Home Assistant: the proxy check cannot decide anything, no finding is pending
    server = await serve(HttpHandler(404), context=tls_context(pki.leaf(), pki.intermediate))
    entry = await setup_endpoint(
        hass, endpoint_data(server, pki), {"leads_to_home_assistant": True}
    )
    coordinator = entry.runtime_data
    assert coordinator.update_interval == HOUR

    # Home Assistant's store as it is during a trial of reverse proxy support
    hass.data[HTTP_CONFIG_STORE] = SimpleNamespace(
        active_config_type="pending",
        stable={"use_x_forwarded_for": False},
        pending={
            "use_x_forwarded_for": True,
            "trusted_proxies": ["127.0.0.1/32"],
            "created_at": dt_util.utcnow().isoformat(),
            "error": None,
        },
        revert_deadline=dt_util.utcnow() + timedelta(minutes=5),
    )
    try:
        await next_check(hass, 61)
        assert coordinator.update_interval == RECHECK_INTERVAL
        assert open_issues(hass, entry) == set()  # a check that decided nothing warns of nothing

        del hass.data[HTTP_CONFIG_STORE]  # a Home Assistant without the store
        await next_check(hass, 1)
        assert coordinator.update_interval == HOUR
    finally:
        hass.data[HTTP_CONFIG_STORE] = store
