"""Keep the issue registry in step with an endpoint's findings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from ipaddress import IPv4Network, IPv6Network

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN
from .findings import ISSUE_KEYS, Finding, address_placeholders
from .proxy import ProxyReport
from .selfprobe import ForwardedRefusal

# What HA's forwarded middleware refused in real traffic, when no endpoint check reports it.
REFUSED_TRAFFIC = {
    "support_disabled": "reverse_proxy_support_disabled",
    "proxy_not_trusted": "reverse_proxy_not_trusted",
}
TRAFFIC_ISSUE_IDS = {key: f"{key}_traffic" for key in REFUSED_TRAFFIC.values()}


def issue_id(entry: ConfigEntry, key: str) -> str:
    """Issue id of one finding of one entry."""
    return f"{key}_{entry.entry_id}"


@callback
def async_sync_issues(
    hass: HomeAssistant,
    entry: ConfigEntry,
    found: Iterable[Finding],
    judged: Iterable[str],
    streaks: Mapping[str, int],
) -> tuple[Finding, ...]:
    """Raise confirmed findings, clear judged keys that were not found; return what is raised.

    A finding is confirmed once enough consecutive checks saw it, or at once when its issue is
    already open (a restart or reload does not re-confirm what was known).
    """
    registry = ir.async_get(hass)
    raised: list[Finding] = []
    for finding in found:
        issue = issue_id(entry, finding.key)
        already_open = registry.async_get_issue(DOMAIN, issue) is not None
        if not already_open and streaks.get(finding.key, 0) < finding.confirmations:
            continue
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue,
            is_fixable=False,
            # Restored on restart: an endpoint down at startup cannot confirm its certificate again.
            is_persistent=True,
            severity=finding.severity,
            translation_key=finding.key,
            translation_placeholders={"title": entry.title, **finding.placeholders},
        )
        raised.append(finding)
        if (traffic_issue := TRAFFIC_ISSUE_IDS.get(finding.key)) is not None:
            ir.async_delete_issue(hass, DOMAIN, traffic_issue)
    seen = {finding.key for finding in found}
    for key in judged:
        if key not in seen:
            ir.async_delete_issue(hass, DOMAIN, issue_id(entry, key))
    return tuple(raised)


@callback
def async_open_issue_keys(hass: HomeAssistant, entry: ConfigEntry) -> list[str]:
    """Keys of the issues Repairs shows for an entry, also those this check did not judge."""
    registry = ir.async_get(hass)
    return [
        key
        for key in ISSUE_KEYS
        if (issue := registry.async_get_issue(DOMAIN, issue_id(entry, key))) is not None
        and issue.active
    ]


@callback
def async_delete_issues(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Remove every issue of an entry that is gone."""
    for key in ISSUE_KEYS:
        ir.async_delete_issue(hass, DOMAIN, issue_id(entry, key))


TRUSTED_PROXIES_TOO_BROAD = "trusted_proxies_too_broad"


def too_broad(networks: Iterable[IPv4Network | IPv6Network]) -> list[str]:
    """Trusted networks that reach beyond private ranges: everything, or public addresses."""
    return [
        str(network) for network in networks if network.prefixlen == 0 or not network.is_private
    ]


@callback
def async_check_trusted_proxies(hass: HomeAssistant) -> None:
    """Raise or clear the repair for trusted_proxies that let anyone fake their address."""
    broad = too_broad(hass.http.trusted_proxies)
    if not broad:
        ir.async_delete_issue(hass, DOMAIN, TRUSTED_PROXIES_TOO_BROAD)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        TRUSTED_PROXIES_TOO_BROAD,
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=TRUSTED_PROXIES_TOO_BROAD,
        translation_placeholders={"networks": ", ".join(broad)},
    )


@callback
def async_raise_refused_traffic(hass: HomeAssistant, refusal: ForwardedRefusal) -> None:
    """Real traffic from a proxy was refused with 400; say so unless an endpoint already does."""
    key = REFUSED_TRAFFIC[refusal.reason]
    traffic_issue = TRAFFIC_ISSUE_IDS[key]
    registry = ir.async_get(hass)
    if any(
        domain == DOMAIN and issue.translation_key == key and issue_id != traffic_issue
        for (domain, issue_id), issue in registry.issues.items()
        if issue.active
    ):
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        traffic_issue,
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=key,
        translation_placeholders=address_placeholders(refusal.proxy_address),
    )


@callback
def async_clear_refused_traffic(hass: HomeAssistant, proxy: ProxyReport) -> None:
    """Clear what real traffic showed once a check gets through HA's forwarded middleware."""
    observation = proxy.observation
    if observation is None or observation.forwarded_for is None:
        return
    ir.async_delete_issue(hass, DOMAIN, TRAFFIC_ISSUE_IDS["reverse_proxy_support_disabled"])
    not_trusted = TRAFFIC_ISSUE_IDS["reverse_proxy_not_trusted"]
    issue = ir.async_get(hass).async_get_issue(DOMAIN, not_trusted)
    placeholders = issue.translation_placeholders if issue else None
    if placeholders and placeholders.get("proxy_address") == observation.peer:
        ir.async_delete_issue(hass, DOMAIN, not_trusted)
