"""Home Assistant's own http settings and the requests its forwarded middleware refuses."""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network

from homeassistant.core import HomeAssistant, callback

from . import catalogue as c, issues
from .findings import address_placeholders
from .proxy import ProxyReport
from .selfprobe import ForwardedRefusal
from .tracker import Finding

# What HA's forwarded middleware refused in real traffic, by the refusal's reason.
REFUSED_TRAFFIC = {
    "support_disabled": c.REVERSE_PROXY_SUPPORT_DISABLED_TRAFFIC,
    "proxy_not_trusted": c.REVERSE_PROXY_NOT_TRUSTED_TRAFFIC,
}


def too_broad(networks: Iterable[IPv4Network | IPv6Network]) -> list[str]:
    """Trusted networks that reach beyond private ranges: everything, or public addresses."""
    return [
        str(network) for network in networks if network.prefixlen == 0 or not network.is_private
    ]


@callback
def async_check_trusted_proxies(hass: HomeAssistant) -> None:
    """Raise or clear the repair for trusted_proxies that let anyone fake their address."""
    broad = too_broad(hass.http.trusted_proxies)
    found = [Finding(c.TRUSTED_PROXIES_TOO_BROAD, {"networks": ", ".join(broad)})] if broad else []
    issues.async_sync(hass, found, [c.TRUSTED_PROXIES_TOO_BROAD])


@callback
def async_raise_refused_traffic(hass: HomeAssistant, refusal: ForwardedRefusal) -> None:
    """Real traffic from a proxy was refused with 400; say so unless an endpoint already does."""
    repair = REFUSED_TRAFFIC[refusal.reason]
    issues.async_raise_traffic(hass, Finding(repair, address_placeholders(refusal.proxy_address)))


@callback
def async_clear_refused_traffic(hass: HomeAssistant, proxy: ProxyReport) -> None:
    """Clear what real traffic showed once a check gets through HA's forwarded middleware."""
    observation = proxy.observation
    if observation is None or observation.forwarded_for is None:
        return
    issues.async_clear_traffic(hass, observation.peer)
