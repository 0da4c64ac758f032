"""Home Assistant's own http settings and the requests its forwarded middleware refuses."""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network
from typing import Final

from homeassistant.core import HomeAssistant, callback

from . import catalogue as c, issues
from .proxy_judgement import ProxyReport, RefusalReason, RefusalTally
from .selfprobe import async_get_self_probe
from .tracker import Finding
from .trial_judgement import HttpSettings

# What HA's forwarded middleware refused in real traffic, by the refusal's reason.
REFUSED_TRAFFIC = {
    RefusalReason.SUPPORT_DISABLED: c.REVERSE_PROXY_SUPPORT_DISABLED_TRAFFIC,
    RefusalReason.PROXY_NOT_TRUSTED: c.REVERSE_PROXY_NOT_TRUSTED_TRAFFIC,
}


# Where Home Assistant keeps its HTTPConfigStore (`homeassistant.components.http.config`); read
# by its attributes so that a Home Assistant without it (or with another shape) changes nothing.
HTTP_CONFIG_STORE: Final = "http"


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
def async_raise_refused_traffic(
    hass: HomeAssistant, reason: RefusalReason, tally: RefusalTally
) -> None:
    """Repeated refusals from a local address, unless an endpoint already reports the problem.

    No check proved any of these addresses to be a proxy in front of this HA: the text counts
    them and names none; it points at marking the proxy's URL, whose check proves the proxy.
    """
    issues.async_raise_traffic(hass, Finding(REFUSED_TRAFFIC[reason], tally.placeholders()))


@callback
def async_clear_refused_traffic(hass: HomeAssistant, proxy: ProxyReport) -> None:
    """Clear what real traffic showed once a check gets through HA's forwarded middleware."""
    observation = proxy.observation
    if observation is None or observation.forwarded_for is None:
        return
    self_probe = async_get_self_probe(hass)
    self_probe.forget_traffic(RefusalReason.SUPPORT_DISABLED)
    issues.async_clear_traffic(hass, c.REVERSE_PROXY_SUPPORT_DISABLED_TRAFFIC)
    # Refusals for an untrusted proxy are explained only when they came from this very proxy.
    if self_probe.traffic[RefusalReason.PROXY_NOT_TRUSTED].repeating == observation.peer:
        self_probe.forget_traffic(RefusalReason.PROXY_NOT_TRUSTED)
        issues.async_clear_traffic(hass, c.REVERSE_PROXY_NOT_TRUSTED_TRAFFIC)


@callback
def async_read_http_settings(hass: HomeAssistant) -> HttpSettings | None:
    """Return HA's stable and pending HTTP settings and which it runs; None when unreadable."""
    store = hass.data.get(HTTP_CONFIG_STORE)
    if store is None:
        return None
    return HttpSettings.read(
        running=getattr(store, "active_config_type", None),
        stable=getattr(store, "stable", None),
        pending=getattr(store, "pending", None),
        revert_at=getattr(store, "revert_deadline", None),
    )
