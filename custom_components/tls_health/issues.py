"""The one writer of TLS Health's issues in Home Assistant's issue registry."""

from __future__ import annotations

from collections.abc import Iterable

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from . import catalogue as c
from .catalogue import Repair
from .const import DOMAIN
from .probe import inert
from .tracker import Decision, Finding

# A host name with brackets and port fits; a whole chain of names is cut.
MAX_PLACEHOLDER = 300


@callback
def _async_create(hass: HomeAssistant, finding: Finding, entry: ConfigEntry | None = None) -> None:
    repair = finding.repair
    placeholders = {
        key: inert(value, MAX_PLACEHOLDER)
        for key, value in finding.placeholders.items()
        if key in repair.placeholders
    }
    if entry is not None:
        placeholders["title"] = inert(entry.title, MAX_PLACEHOLDER)
    ir.async_create_issue(
        hass,
        DOMAIN,
        repair.issue_id(entry.entry_id if entry is not None else None),
        is_fixable=repair.fixable,
        # Restored on restart: an endpoint down at start cannot confirm its certificate again.
        is_persistent=repair.family.per_entry,
        severity=finding.severity,
        translation_key=finding.translation_key,
        translation_placeholders=placeholders,
    )
    for superseded in repair.supersedes:
        ir.async_delete_issue(hass, DOMAIN, superseded)


@callback
def async_apply(hass: HomeAssistant, entry: ConfigEntry, decision: Decision) -> frozenset[str]:
    """Write one check's decision for an entry; return the keys of its open repairs."""
    for finding in decision.confirmed:
        _async_create(hass, finding, entry)
    for key in decision.cleared:
        ir.async_delete_issue(hass, DOMAIN, c.REPAIRS[key].issue_id(entry.entry_id))
    return async_open_keys(hass, entry)


@callback
def async_open_keys(hass: HomeAssistant, entry: ConfigEntry) -> frozenset[str]:
    """Keys of the repairs Repairs shows for an entry, also those the last check did not judge."""
    registry = ir.async_get(hass)
    return frozenset(
        repair.key
        for repair in c.ENTRY_REPAIRS
        if (issue := registry.async_get_issue(DOMAIN, repair.issue_id(entry.entry_id))) is not None
        and issue.active
    )


@callback
def async_delete_entry_issues(
    hass: HomeAssistant, entry: ConfigEntry, repairs: Iterable[Repair] = c.ENTRY_REPAIRS
) -> None:
    """Remove the repairs of an entry that is gone (or of a check it no longer runs)."""
    for repair in repairs:
        ir.async_delete_issue(hass, DOMAIN, repair.issue_id(entry.entry_id))


@callback
def async_sync(hass: HomeAssistant, found: Iterable[Finding], judged: Iterable[Repair]) -> None:
    """Raise what a check of Home Assistant itself found; clear what it judged and did not find."""
    found = tuple(found)
    seen = {finding.key for finding in found}
    for repair in judged:
        if repair.key not in seen:
            ir.async_delete_issue(hass, DOMAIN, repair.issue_id(None))
    for finding in found:
        _async_create(hass, finding)


@callback
def async_raise_traffic(hass: HomeAssistant, finding: Finding) -> None:
    """Raise a repair about real traffic unless an endpoint already reports the same problem."""
    reported_by = {
        text
        for repair in c.ENTRY_REPAIRS
        if finding.key in repair.supersedes
        for text in (repair.key, *repair.texts)
    }
    if any(
        domain == DOMAIN and issue.translation_key in reported_by
        for (domain, _), issue in ir.async_get(hass).issues.items()
        if issue.active
    ):
        return
    _async_create(hass, finding)


@callback
def async_clear_traffic(hass: HomeAssistant, repair: Repair) -> None:
    """Clear a repair about real traffic once a check showed what it was about."""
    ir.async_delete_issue(hass, DOMAIN, repair.issue_id(None))
