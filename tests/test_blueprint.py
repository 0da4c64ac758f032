"""The alert blueprint runs in a real automation: once per crossing, never for a reload."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
import shutil
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.automation import EVENT_AUTOMATION_RELOADED
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from homeassistant.util.yaml import load_yaml_dict
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.tls_health.const import DOMAIN

from .certs import Pki
from .conftest import EndpointServer
from .helpers import endpoint_data, next_check, present, setup_endpoint

BLUEPRINT = Path(__file__).parent.parent / "blueprints/automation/tls_health/certificate_alert.yaml"
DAYS = "sensor.front_door_days_until_expiry"
HANDSHAKE = "sensor.front_door_handshake"
type Alerts = list[str]


async def start_automation(
    hass: HomeAssistant, tmp_path: Path, days_sensor: str, handshake_sensor: str, days: int
) -> Alerts:
    """Set the blueprint up as an automation; returns the messages it sends, as they come."""
    hass.config.config_dir = str(tmp_path)
    folder = tmp_path / "blueprints/automation/tls_health"
    folder.mkdir(parents=True)
    shutil.copy(BLUEPRINT, folder)
    messages: Alerts = []

    def record(event: Event) -> None:
        messages.append(" ".join(event.data["message"].split()))

    hass.bus.async_listen("tls_health_test_alert", record)
    inputs = {
        "days_sensor": days_sensor,
        "handshake_sensor": handshake_sensor,
        "days": days,
        "notify_action": [
            {"event": "tls_health_test_alert", "event_data": {"message": "{{ message }}"}}
        ],
    }
    config = {"use_blueprint": {"path": "tls_health/certificate_alert.yaml", "input": inputs}}
    assert await async_setup_component(hass, "automation", {"automation": config})
    await hass.async_block_till_done()
    return messages


async def set_states(hass: HomeAssistant, entity_id: str, *values: str) -> None:
    for value in values:
        hass.states.async_set(entity_id, value)
        await hass.async_block_till_done()


async def automation_reloaded(hass: HomeAssistant) -> None:
    """What Home Assistant fires once automations are reloaded, e.g. after one is created."""
    hass.bus.async_fire(EVENT_AUTOMATION_RELOADED)
    await hass.async_block_till_done()


async def test_once_per_crossing_of_the_window(hass: HomeAssistant, tmp_path: Path) -> None:
    await set_states(hass, DAYS, "40")
    await set_states(hass, HANDSHAKE, "ok")
    messages = await start_automation(hass, tmp_path, DAYS, HANDSHAKE, 10)

    await set_states(hass, DAYS, "12", "10")
    assert messages == []
    await set_states(hass, DAYS, "9")
    assert messages == ["sensor.front_door_days_until_expiry: certificate expires in 9 days."]
    # still inside, and the reloads and restarts of the integration: nothing more
    await set_states(hass, DAYS, "8", "unavailable", "8", "unknown", "7", "unavailable", "12")
    await set_states(hass, DAYS, "unavailable", "9")
    assert len(messages) == 1
    # out of the window (a renewal) and into it again: a new crossing
    await set_states(hass, DAYS, "60", "20", "9")
    assert len(messages) == 2
    await set_states(hass, DAYS, "1", "0", "-3")
    assert len(messages) == 2


async def test_expiry_messages_read_naturally(hass: HomeAssistant, tmp_path: Path) -> None:
    await set_states(hass, DAYS, "40")
    await set_states(hass, HANDSHAKE, "ok")
    messages = await start_automation(hass, tmp_path, DAYS, HANDSHAKE, 10)
    for value in ("1", "0", "-2"):
        await set_states(hass, DAYS, "40", value)
    assert [message.split(": ", 1)[1] for message in messages] == [
        "certificate expires tomorrow.",
        "certificate expires today.",
        "certificate expired 2 days ago.",
    ]


async def test_starting_inside_the_window_alerts_once(
    hass: HomeAssistant, tmp_path: Path, freezer: FrozenDateTimeFactory
) -> None:
    await set_states(hass, DAYS, "5")
    await set_states(hass, HANDSHAKE, "ok")
    messages = await start_automation(hass, tmp_path, DAYS, HANDSHAKE, 10)
    await automation_reloaded(hass)  # the automation was just created
    assert messages == ["sensor.front_door_days_until_expiry: certificate expires in 5 days."]
    await automation_reloaded(hass)  # another automation was edited
    assert len(messages) == 1
    # days later, still not renewed, after a restart: the count entered the window before the
    # last alert
    freezer.tick(timedelta(days=3))
    await set_states(hass, DAYS, "unavailable", "2")
    await automation_reloaded(hass)
    assert len(messages) == 1


async def test_an_older_alert_does_not_hide_a_crossing_missed_while_stopped(
    hass: HomeAssistant, tmp_path: Path, freezer: FrozenDateTimeFactory
) -> None:
    await set_states(hass, DAYS, "40")
    await set_states(hass, HANDSHAKE, "ok")
    messages = await start_automation(hass, tmp_path, DAYS, HANDSHAKE, 10)
    await set_states(hass, HANDSHAKE, "self_signed")
    freezer.tick(timedelta(minutes=6))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert messages == ["sensor.front_door_handshake is now self_signed."]
    # Home Assistant was stopped while the count stepped into the window
    freezer.tick(timedelta(days=33))
    await set_states(hass, DAYS, "unavailable", "7")
    assert len(messages) == 1
    await automation_reloaded(hass)
    assert messages[1:] == ["sensor.front_door_days_until_expiry: certificate expires in 7 days."]


async def test_starting_outside_the_window_says_nothing(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    await set_states(hass, DAYS, "30")
    await set_states(hass, HANDSHAKE, "ok")
    messages = await start_automation(hass, tmp_path, DAYS, HANDSHAKE, 10)
    await automation_reloaded(hass)
    await set_states(hass, DAYS, "unavailable")
    await automation_reloaded(hass)
    assert messages == []


async def test_handshake_leaving_ok_for_five_minutes(hass: HomeAssistant, tmp_path: Path) -> None:
    await set_states(hass, DAYS, "40")
    await set_states(hass, HANDSHAKE, "ok")
    messages = await start_automation(hass, tmp_path, DAYS, HANDSHAKE, 10)

    await set_states(hass, HANDSHAKE, "incomplete_chain")
    assert messages == []  # not before five minutes
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=6))
    await hass.async_block_till_done()
    assert messages == ["sensor.front_door_handshake is now incomplete_chain."]

    # a reload passes through unavailable: neither way counts
    await set_states(hass, HANDSHAKE, "ok", "unavailable", "ok", "unknown", "ok")
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=12))
    await hass.async_block_till_done()
    assert len(messages) == 1


async def test_real_endpoint_translated_states_and_device_name(
    hass: HomeAssistant, tmp_path: Path, pki: Pki, endpoint_server: EndpointServer
) -> None:
    server = await endpoint_server()
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    registry = er.async_get(hass)

    def entity(key: str) -> str:
        found = registry.async_get_entity_id("sensor", DOMAIN, f"{entry.entry_id}_{key}")
        assert found is not None
        return found

    messages = await start_automation(
        hass, tmp_path, entity("days_until_expiry"), entity("handshake"), 90
    )
    await automation_reloaded(hass)
    assert messages == ["hass.example.test: certificate expires in 60 days."]

    present(server, pki, pki.leaf("other.example.test"), pki.intermediate)
    await next_check(hass, minutes=61)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=67))
    await hass.async_block_till_done()
    assert messages[1:] == ["hass.example.test Handshake is now Host name mismatch."]

    # a reload of the entry: the sensors pass through unavailable, nothing is sent
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=80))
    await hass.async_block_till_done()
    assert len(messages) == 2


async def test_revoked_certificate_alerts_at_once_and_never_for_a_reload(
    hass: HomeAssistant, tmp_path: Path, pki: Pki, endpoint_server: EndpointServer
) -> None:
    """The revocation sensor of the days sensor's endpoint, with no input of its own."""
    server = await endpoint_server()
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    registry = er.async_get(hass)

    def entity(key: str) -> str:
        found = registry.async_get_entity_id("sensor", DOMAIN, f"{entry.entry_id}_{key}")
        assert found is not None
        return found

    revocation = entity("revocation")
    messages = await start_automation(
        hass, tmp_path, entity("days_until_expiry"), entity("handshake"), 10
    )
    await set_states(hass, revocation, "good", "unknown", "good")
    assert messages == []
    await set_states(hass, revocation, "revoked")
    assert messages == ["hass.example.test: the CA revoked the certificate."]
    # a reload or restart: the sensor comes back from unavailable, or from nothing
    await set_states(hass, revocation, "unavailable", "revoked")
    hass.states.async_remove(revocation)
    await set_states(hass, revocation, "revoked")
    assert len(messages) == 1
    # a certificate that is not revoked, then one that is again
    await set_states(hass, revocation, "good", "revoked")
    assert len(messages) == 2


async def test_revocation_of_another_endpoint_says_nothing(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    await set_states(hass, DAYS, "40")
    await set_states(hass, HANDSHAKE, "ok")
    messages = await start_automation(hass, tmp_path, DAYS, HANDSHAKE, 10)
    await set_states(hass, "sensor.other_revocation", "good", "revoked")
    assert messages == []


def _matches(hass: HomeAssistant, entity_id: str, entity_filter: dict[str, Any]) -> bool:
    """The entity selector's filter, as the frontend applies it to the entities it lists."""
    state = hass.states.get(entity_id)
    entry = er.async_get(hass).async_get(entity_id)
    if state is None or entry is None:
        return False  # disabled entities are not offered

    def allowed(key: str, value: Any) -> bool:
        wanted = entity_filter.get(key)
        return wanted is None or value in (wanted if isinstance(wanted, list) else [wanted])

    return (
        allowed("integration", entry.platform)
        and allowed("domain", entity_id.split(".", maxsplit=1)[0])
        and allowed("device_class", state.attributes.get("device_class"))
        and allowed("unit_of_measurement", state.attributes.get("unit_of_measurement"))
    )


async def test_pickers_offer_only_fitting_entities(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    server = await endpoint_server()
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    keys = {
        entity.entity_id: entity.unique_id.removeprefix(f"{entry.entry_id}_")
        for entity in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    }
    hass.states.async_set("sensor.other_days", "3", {"unit_of_measurement": "d"})
    inputs: dict[str, Any] = load_yaml_dict(BLUEPRINT)["blueprint"]["input"]

    def offered(name: str) -> set[str]:
        filters = inputs[name]["selector"]["entity"]["filter"]
        return {
            keys.get(entity_id, entity_id)
            for entity_id in hass.states.async_entity_ids()
            if any(_matches(hass, entity_id, entity_filter) for entity_filter in filters)
        }

    assert offered("days_sensor") == {"days_until_expiry"}
    # the enum sensors: handshake verdict, protocol version, revocation (the test server is not
    # this Home Assistant: no reverse proxy sensor)
    assert offered("handshake_sensor") == {"handshake", "tls_version", "revocation"}
