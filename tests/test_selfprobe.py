"""The self-probe view answers only to nonces it issued, and HA's forwarded refusals are seen."""

from __future__ import annotations

import logging

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.tls_health.const import DOMAIN
from custom_components.tls_health.http_settings import async_clear_refused_traffic
from custom_components.tls_health.proxy import ProxyReport, ProxyVerdict
from custom_components.tls_health.selfprobe import (
    DATA_SELF_PROBE,
    FORWARDED_LOGGER,
    SELF_PROBE_PREFIX,
    Observation,
    async_get_self_probe,
)

from .certs import Pki
from .conftest import EndpointServer
from .helpers import endpoint_data, setup_endpoint


async def test_view_answers_only_issued_nonces_once(
    hass: HomeAssistant, hass_client_no_auth: ClientSessionGenerator
) -> None:
    assert await async_setup_component(hass, "http", {})
    self_probe = async_get_self_probe(hass)
    client = await hass_client_no_auth()

    unknown = await client.get(f"{SELF_PROBE_PREFIX}not-a-nonce")
    assert unknown.status == 404
    assert await unknown.text() == ""

    nonce, waiter = self_probe.issue()
    answer = await client.get(
        f"{SELF_PROBE_PREFIX}{nonce}",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "hass.example.test"},
    )
    assert answer.status == 204
    observation = waiter.result()
    assert observation.forwarded_for is None
    assert observation.forwarded_proto == "https"
    assert observation.forwarded_host == "hass.example.test"
    assert observation.peer == "127.0.0.1"
    assert observation.scheme == "http"

    again = await client.get(f"{SELF_PROBE_PREFIX}{nonce}")
    assert again.status == 404


async def test_withdrawn_nonce_is_unknown(
    hass: HomeAssistant, hass_client_no_auth: ClientSessionGenerator
) -> None:
    assert await async_setup_component(hass, "http", {})
    self_probe = async_get_self_probe(hass)
    nonce, waiter = self_probe.issue()
    self_probe.withdraw(nonce)
    client = await hass_client_no_auth()
    assert (await client.get(f"{SELF_PROBE_PREFIX}{nonce}")).status == 404
    assert not waiter.done()
    self_probe.close()
    assert waiter.cancelled() or not waiter.done()


async def test_forwarded_refusals_are_recorded(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, "http", {})
    self_probe = async_get_self_probe(hass)
    logger = logging.getLogger(FORWARDED_LOGGER)
    logger.error(
        "A request from a reverse proxy was received from %s, but your HTTP integration is "
        "not set-up for reverse proxies",
        "192.168.1.2",
    )
    logger.error("Received X-Forwarded-For header from an untrusted proxy %s", "fd00::5")
    logger.error("Invalid IP address in X-Forwarded-For: %s", "nonsense")
    await hass.async_block_till_done()
    assert [(r.reason, r.proxy_address) for r in self_probe.refusals_since(0)] == [
        ("support_disabled", "192.168.1.2"),
        ("proxy_not_trusted", "fd00::5"),
    ]
    self_probe.close()
    logger.error("Received X-Forwarded-For header from an untrusted proxy %s", "10.0.0.1")
    await hass.async_block_till_done()
    assert len(self_probe.refusals_since(0)) == 2


async def test_refused_traffic_raises_a_repair_until_a_check_gets_through(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    await setup_endpoint(hass, endpoint_data(await endpoint_server(), pki))
    self_probe = async_get_self_probe(hass)
    logger = logging.getLogger(FORWARDED_LOGGER)
    registry = ir.async_get(hass)

    self_probe.checking += 1  # our own check's refusals are judged by the check itself
    logger.error("Received X-Forwarded-For header from an untrusted proxy %s", "192.168.1.9")
    await hass.async_block_till_done()
    self_probe.checking -= 1
    assert registry.async_get_issue(DOMAIN, "reverse_proxy_not_trusted_traffic") is None

    logger.error("Received X-Forwarded-For header from an untrusted proxy %s", "192.168.1.9")
    await hass.async_block_till_done()
    issue = registry.async_get_issue(DOMAIN, "reverse_proxy_not_trusted_traffic")
    assert issue is not None
    assert issue.translation_placeholders == {
        "proxy_address": "192.168.1.9",
        "trusted_entry": "192.168.1.9/32",
    }

    through = Observation(
        peer="192.168.1.9",
        remote="192.168.1.20",
        scheme="https",
        host="hass.example.test",
        forwarded_for="192.168.1.20",
        forwarded_proto="https",
        forwarded_host=None,
    )
    async_clear_refused_traffic(hass, ProxyReport(ProxyVerdict.OK, "", "192.168.1.9", through))
    assert registry.async_get_issue(DOMAIN, "reverse_proxy_not_trusted_traffic") is None


async def test_empty_yaml_key_loads_the_integration_without_endpoints(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, DOMAIN, {DOMAIN: None})
    assert DATA_SELF_PROBE in hass.data
    assert hass.services.has_service(DOMAIN, "check_now")


async def test_yaml_key_takes_no_settings(hass: HomeAssistant) -> None:
    assert not await async_setup_component(hass, DOMAIN, {DOMAIN: {"url": "https://x.test"}})
