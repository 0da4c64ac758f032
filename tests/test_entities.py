"""What a user sees of an endpoint's device and entities: names, device info, values across reloads."""

from __future__ import annotations

from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, State, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.event import async_track_state_change_event
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    mock_restore_cache_with_extra_data,
)

from custom_components.tls_health.const import DOMAIN

from .certs import Pki
from .conftest import EndpointServer
from .helpers import endpoint_data, setup_endpoint, state

# read from the newest check (the certificate sensors read the stored certificate); the test
# server is not this Home Assistant, so the endpoint has no reverse_proxy sensor
CHECKED = ("handshake", "tls_version")


def entity_id(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> str:
    platform = "binary_sensor" if key == "problem" else "sensor"
    found = er.async_get(hass).async_get_entity_id(platform, DOMAIN, f"{entry.entry_id}_{key}")
    assert found is not None
    return found


async def test_device_says_what_it_is(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    server = await endpoint_server()
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    [device] = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert device.identifiers == {(DOMAIN, entry.entry_id)}
    assert device.name == "hass.example.test"
    assert device.manufacturer == "TLS Health"
    assert device.model == "HTTPS endpoint"
    assert device.entry_type is dr.DeviceEntryType.SERVICE
    assert device.configuration_url == f"https://hass.example.test:{server.port}/"


async def test_problem_sensor_name_does_not_repeat_its_state(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    """The device page shows name and state side by side: not "Problem · Problem"."""
    server = await endpoint_server()
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    problem = hass.states.get(entity_id(hass, entry, "problem"))
    assert problem is not None
    assert problem.attributes["device_class"] == "problem"
    assert problem.attributes["friendly_name"] == "hass.example.test Repairs"


async def test_options_dialog_names_its_endpoint(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    server = await endpoint_server()
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    result = await hass.config_entries.options.async_init(
        entry.entry_id, context={"source": SOURCE_USER}
    )
    assert result["description_placeholders"] == {"endpoint": "hass.example.test"}


async def test_reload_keeps_the_last_values(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    server = await endpoint_server()
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    before = {key: state(hass, entry, key) for key in CHECKED}
    assert before == {"handshake": "ok", "tls_version": "tls_1_3"}
    seen: dict[str, list[str]] = {key: [] for key in CHECKED}
    ids = {entity_id(hass, entry, key): key for key in CHECKED}

    @callback
    def record(event: Event[EventStateChangedData]) -> None:
        if (new := event.data["new_state"]) is not None:
            seen[ids[event.data["entity_id"]]].append(new.state)

    async_track_state_change_event(hass, list(ids), record)
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    # Home Assistant itself marks the entities unavailable while they are unloaded; then their
    # last value comes back at once, never unknown
    for key, states in seen.items():
        assert [value for value in states if value != STATE_UNAVAILABLE] == [before[key]], key
    assert {key: state(hass, entry, key) for key in CHECKED} == before


async def test_restart_restores_only_states_that_still_exist(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    """A state stored before the tls_version keys changed is not brought back."""
    restored = {
        "sensor.hass_example_test_handshake": "self_signed",
        "sensor.hass_example_test_tls_version": "TLSv1.3",
    }
    mock_restore_cache_with_extra_data(
        hass,
        [
            (State(eid, value), {"native_value": value, "native_unit_of_measurement": None})
            for eid, value in restored.items()
        ],
    )
    server = await endpoint_server()
    first: dict[str, str] = {}

    @callback
    def record(event: Event[EventStateChangedData]) -> None:
        if (new := event.data["new_state"]) is not None:
            first.setdefault(event.data["entity_id"], new.state)

    async_track_state_change_event(hass, list(restored), record)
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    assert first == {
        "sensor.hass_example_test_handshake": "self_signed",
        "sensor.hass_example_test_tls_version": "unknown",
    }
    assert state(hass, entry, "handshake") == "ok"
    assert state(hass, entry, "tls_version") == "tls_1_3"
