"""Actions and diagnostics."""

from __future__ import annotations

from datetime import timedelta
import json

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.tls_health.const import DOMAIN
from custom_components.tls_health.probe import days_until

from .certs import NOW, Pki, issue
from .conftest import EndpointServer
from .helpers import endpoint_data, next_check, present, setup_endpoint, state


async def test_check_now_one_entry(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    first, second = await endpoint_server(), await endpoint_server()
    watched = await setup_endpoint(hass, endpoint_data(first, pki))
    other = await setup_endpoint(hass, endpoint_data(second, pki))
    soon = pki.leaf(not_after=NOW + timedelta(days=30, hours=1))
    present(first, pki, soon, pki.intermediate)
    present(second, pki, soon, pki.intermediate)
    await hass.services.async_call(
        DOMAIN, "check_now", {"config_entry_id": watched.entry_id}, blocking=True
    )
    now = dt_util.now()
    assert state(hass, watched, "days_until_expiry") == str(
        days_until(soon.cert.not_valid_after_utc, now)
    )
    assert state(hass, other, "days_until_expiry") == str(days_until(NOW + timedelta(days=60), now))


async def test_inspect_returns_the_report(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    server = await endpoint_server()
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    by_entry = await hass.services.async_call(
        DOMAIN, "inspect", {"config_entry_id": entry.entry_id}, blocking=True, return_response=True
    )
    assert by_entry["verdict"] == "ok"
    assert by_entry["chain"][0]["sans"] == ["hass.example.test"]
    json.dumps(by_entry)

    by_url = await hass.services.async_call(
        DOMAIN,
        "inspect",
        {"url": f"https://127.0.0.1:{server.port}", "ca_file": str(pki.root_file)},
        blocking=True,
        return_response=True,
    )
    assert by_url["verdict"] == "hostname_mismatch"
    assert by_url["target"]["host"] == "127.0.0.1"


@pytest.mark.parametrize(
    ("service", "data", "key"),
    [
        ("inspect", {"url": "http://plain.example.test"}, "invalid_target"),
        ("inspect", {"config_entry_id": "missing"}, "entry_not_found"),
        ("check_now", {"config_entry_id": "missing"}, "entry_not_found"),
    ],
)
async def test_action_errors(
    hass: HomeAssistant,
    pki: Pki,
    endpoint_server: EndpointServer,
    service: str,
    data: dict,
    key: str,
) -> None:
    await setup_endpoint(hass, endpoint_data(await endpoint_server(), pki))
    with pytest.raises(ServiceValidationError) as raised:
        await hass.services.async_call(
            DOMAIN, service, data, blocking=True, return_response=service == "inspect"
        )
    assert raised.value.translation_key == key


async def test_action_on_unloaded_entry(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    entry = await setup_endpoint(hass, endpoint_data(await endpoint_server(), pki))
    other = await setup_endpoint(hass, endpoint_data(await endpoint_server(), pki))
    await hass.config_entries.async_unload(entry.entry_id)
    with pytest.raises(ServiceValidationError) as raised:
        await hass.services.async_call(
            DOMAIN, "check_now", {"config_entry_id": entry.entry_id}, blocking=True
        )
    assert raised.value.translation_key == "entry_not_loaded"
    await hass.services.async_call(DOMAIN, "check_now", {}, blocking=True)
    assert state(hass, other, "handshake") == "ok"


async def test_diagnostics_are_redacted(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    pki: Pki,
    endpoint_server: EndpointServer,
) -> None:
    server = await endpoint_server()
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["report"]["verdict"] == "ok"
    assert diagnostics["reverse_proxy"] is None  # its URL does not lead to this HA
    assert diagnostics["data"]["url"] == "**REDACTED**"
    assert diagnostics["report"]["chain"][0]["sans"] == "**REDACTED**"
    assert "hass.example.test" not in json.dumps(diagnostics)
    assert str(pki.root_file) not in json.dumps(diagnostics)
    assert "PRIVATE KEY" not in json.dumps(diagnostics)


async def test_diagnostics_list_open_repairs(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    pki: Pki,
    endpoint_server: EndpointServer,
) -> None:
    server = await endpoint_server(issue("hass.example.test", names=("hass.example.test",)))
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["open_repairs"] == []
    assert diagnostics["streaks"] == {"self_signed_certificate": 1}
    await next_check(hass)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["open_repairs"] == ["self_signed_certificate"]
    # a self-signed certificate's issuer is its own name
    assert "hass.example.test" not in json.dumps(diagnostics)
