"""Helpers for the Home Assistant side tests."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.tls_health.const import CONF_ADDRESS, CONF_CA_FILE, CONF_URL, DOMAIN
from custom_components.tls_health.endpoint import entry_target, unique_id_of

from .certs import Issued, Pki
from .servers import Server


def endpoint_data(server: Server, pki: Pki) -> dict[str, str]:
    """Entry data for hass.example.test on the test server, trusting the test root."""
    return {
        CONF_URL: f"https://hass.example.test:{server.port}",
        CONF_ADDRESS: "127.0.0.1",
        CONF_CA_FILE: str(pki.root_file),
    }


def noon(days: int, zone: tzinfo | None = None) -> datetime:
    """Noon of the calendar day `days` from today in `zone` (Home Assistant's by default).

    Day counts follow the local calendar: a moment at noon is that many days away whatever the
    hour the test runs at.
    """
    zone = zone or dt_util.get_default_time_zone()
    day = datetime.now(zone).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, 12, tzinfo=zone)


def present(server: Server, pki: Pki, *certs: Issued) -> None:
    """Make the running server present another chain, as after a renewal and reload."""
    server.present(*pki.server_files(f"swap{id(certs)}", *certs))


async def setup_endpoint(
    hass: HomeAssistant, data: dict[str, str], options: dict[str, object] | None = None
) -> MockConfigEntry:
    """Add and set up an entry, and wait for its first check."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="hass.example.test",
        data=data,
        options=options or {},
        unique_id=unique_id_of(entry_target(data)),
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    return entry


async def next_check(hass: HomeAssistant, minutes: float = 1) -> None:
    """Let time pass so that the coordinator checks again."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=minutes, seconds=1))
    await hass.async_block_till_done(wait_background_tasks=True)


def state(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> str:
    """State of an entity of the entry by its key."""
    platform = "binary_sensor" if key == "problem" else "sensor"
    entity_id = er.async_get(hass).async_get_entity_id(platform, DOMAIN, f"{entry.entry_id}_{key}")
    assert entity_id is not None, key
    current = hass.states.get(entity_id)
    assert current is not None, entity_id
    return current.state


def open_issues(hass: HomeAssistant, entry: MockConfigEntry) -> set[str]:
    """Translation keys of the entry's open repairs."""
    return {
        issue.translation_key
        for (domain, issue_id), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN and issue_id.endswith(entry.entry_id)
    }


def entry_issue(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> ir.IssueEntry:
    """The open repair `key` of an entry, which must exist."""
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"{key}_{entry.entry_id}")
    assert issue is not None, key
    assert issue.translation_placeholders is not None
    return issue
