"""Keep the issue registry in step with an endpoint's findings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from ipaddress import IPv4Network, IPv6Network

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN
from .findings import ISSUE_KEYS, Finding


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
            severity=finding.severity,
            translation_key=finding.key,
            translation_placeholders={"title": entry.title, **finding.placeholders},
        )
        raised.append(finding)
    seen = {finding.key for finding in found}
    for key in judged:
        if key not in seen:
            ir.async_delete_issue(hass, DOMAIN, issue_id(entry, key))
    return tuple(raised)


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
    broad = too_broad(getattr(hass.http, "trusted_proxies", []))
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
