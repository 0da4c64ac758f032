"""The self-probe view answers only to nonces it issued, and HA's forwarded refusals are seen."""

from __future__ import annotations

from collections.abc import Callable
import json
import logging
import ssl

from aiohttp import DummyCookieJar
from homeassistant.const import EVENT_HOMEASSISTANT_CLOSE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.tls_health import selfprobe
from custom_components.tls_health.const import DOMAIN
from custom_components.tls_health.http_settings import async_clear_refused_traffic
from custom_components.tls_health.proxy import async_get_proxy_session
from custom_components.tls_health.proxy_judgement import (
    TRAFFIC_UPDATE_EVERY,
    ProxyReport,
    ProxyVerdict,
    RefusalReason,
)
from custom_components.tls_health.selfprobe import (
    DATA_SELF_PROBE,
    FORWARDED_LOGGER,
    NONCE_LIFETIME,
    SELF_PROBE_PREFIX,
    Observation,
    async_get_self_probe,
)

from .certs import Pki
from .conftest import EndpointServer, StartServer
from .helpers import endpoint_data, next_check, setup_endpoint, state
from .servers import HttpHandler


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


async def test_refused_traffic_names_a_repeating_private_address_without_trust_advice(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    await setup_endpoint(hass, endpoint_data(await endpoint_server(), pki))
    self_probe = async_get_self_probe(hass)
    logger = logging.getLogger(FORWARDED_LOGGER)
    registry = ir.async_get(hass)
    traffic_issue = "reverse_proxy_not_trusted_traffic"
    updates: list[str] = []
    hass.bus.async_listen(
        ir.EVENT_REPAIRS_ISSUE_REGISTRY_UPDATED,
        lambda event: updates.append(event.data["issue_id"]),
    )

    async def refused(address: str, times: int = 1) -> None:
        for _ in range(times):
            logger.error("Received X-Forwarded-For header from an untrusted proxy %s", address)
        await hass.async_block_till_done()

    self_probe.checking += 1  # our own check's refusals are judged by the check itself
    await refused("192.168.1.9", 5)
    self_probe.checking -= 1
    assert registry.async_get_issue(DOMAIN, traffic_issue) is None

    await refused("198.51.100.7", 50)  # public: counted only
    await refused("192.168.1.9", 2)  # once is no pattern
    assert registry.async_get_issue(DOMAIN, traffic_issue) is None
    assert self_probe.traffic[RefusalReason.PROXY_NOT_TRUSTED].as_dict() == {
        "public": 50,
        "private": 2,
        "private_addresses": 1,
    }

    await refused("192.168.1.9")
    issue = registry.async_get_issue(DOMAIN, traffic_issue)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.translation_key == "traffic_refused_not_trusted"
    # the address as seen, never a trusted_proxies entry to add
    assert issue.translation_placeholders == {
        "address": "192.168.1.9",
        "count": "3",
        "total": "3",
        "sources": "1",
    }

    for index in range(20):
        await refused(f"10.0.0.{index}", 10)
    assert updates.count(traffic_issue) == 1  # rate limited: no update storm
    issue = registry.async_get_issue(DOMAIN, traffic_issue)
    assert issue is not None
    assert issue.translation_placeholders["address"] == "192.168.1.9"  # first seen kept

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
    assert registry.async_get_issue(DOMAIN, traffic_issue) is None
    assert self_probe.traffic[RefusalReason.PROXY_NOT_TRUSTED].private == 0


async def test_traffic_repair_counts_are_written_again_after_a_while(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await async_setup_component(hass, DOMAIN, {DOMAIN: None})
    logger = logging.getLogger(FORWARDED_LOGGER)
    registry = ir.async_get(hass)
    now = 1000.0
    monkeypatch.setattr(selfprobe.time, "monotonic", lambda: now)

    async def refused(address: str, times: int) -> None:
        for _ in range(times):
            logger.error(
                "A request from a reverse proxy was received from %s, but your HTTP "
                "integration is not set-up for reverse proxies",
                address,
            )
        await hass.async_block_till_done()

    await refused("fd00::5", 3)
    issue = registry.async_get_issue(DOMAIN, "reverse_proxy_support_disabled_traffic")
    assert issue is not None
    assert issue.translation_key == "traffic_refused_support_disabled"
    await refused("fd00::5", 4)
    assert issue.translation_placeholders["count"] == "3"
    now += TRAFFIC_UPDATE_EVERY
    await refused("fd00::5", 1)
    issue = registry.async_get_issue(DOMAIN, "reverse_proxy_support_disabled_traffic")
    assert issue is not None
    assert issue.translation_placeholders["count"] == "8"


async def test_a_nonce_is_honoured_only_within_its_lifetime(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert await async_setup_component(hass, "http", {})
    self_probe = async_get_self_probe(hass)
    client = await hass_client_no_auth()
    now = 1000.0
    monkeypatch.setattr(selfprobe.time, "monotonic", lambda: now)
    nonce, waiter = self_probe.issue()
    now += NONCE_LIFETIME + 1
    assert (await client.get(f"{SELF_PROBE_PREFIX}{nonce}")).status == 404
    assert not waiter.done() or waiter.cancelled()
    fresh, fresh_waiter = self_probe.issue()
    now += NONCE_LIFETIME - 1
    assert (await client.get(f"{SELF_PROBE_PREFIX}{fresh}")).status == 204
    assert fresh_waiter.result().peer == "127.0.0.1"
    self_probe.close()


async def test_empty_yaml_key_loads_the_integration_without_endpoints(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, DOMAIN, {DOMAIN: None})
    assert DATA_SELF_PROBE in hass.data
    assert hass.services.has_service(DOMAIN, "check_now")


async def test_yaml_key_takes_no_settings(hass: HomeAssistant) -> None:
    assert not await async_setup_component(hass, DOMAIN, {DOMAIN: {"url": "https://x.test"}})


async def test_proxy_checks_keep_no_cookies_and_their_session_closes_with_home_assistant(
    hass: HomeAssistant,
) -> None:
    session = async_get_proxy_session(hass)
    assert session is async_get_proxy_session(hass)
    assert session is not async_get_clientsession(hass, verify_ssl=False)
    # a cookie a proxy (or an SSO portal in front of it) sets is never kept nor sent back
    assert isinstance(session.cookie_jar, DummyCookieJar)
    assert session.auth is None
    hass.bus.async_fire(EVENT_HOMEASSISTANT_CLOSE)
    await hass.async_block_till_done()
    assert session.closed


async def test_an_endpoint_that_is_not_this_home_assistant_gets_no_proxy_sensor(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    pki: Pki,
    endpoint_server: EndpointServer,
) -> None:
    entry = await setup_endpoint(hass, endpoint_data(await endpoint_server(), pki))
    registry = er.async_get(hass)
    assert state(hass, entry, "handshake") == "ok"
    proxy = entry.runtime_data.data.proxy
    assert proxy is not None
    assert proxy.verdict is ProxyVerdict.NOT_HOME_ASSISTANT
    unique_id = f"{entry.entry_id}_reverse_proxy"
    assert registry.async_get_entity_id("sensor", DOMAIN, unique_id) is None

    logger = logging.getLogger(FORWARDED_LOGGER)
    for address in ("198.51.100.7", "192.168.1.9"):
        logger.error("Received X-Forwarded-For header from an untrusted proxy %s", address)
    await hass.async_block_till_done()
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["refused_traffic"]["proxy_not_trusted"] == {
        "public": 1,
        "private": 1,
        "private_addresses": 1,
    }
    assert "192.168.1.9" not in json.dumps(diagnostics)
    assert diagnostics["reverse_proxy"]["judged"] == []  # another server: nothing cleared


async def test_home_assistants_own_url_answering_502_is_upstream_unreachable(
    hass: HomeAssistant,
    pki: Pki,
    serve: StartServer,
    tls_context: Callable[..., ssl.SSLContext],
) -> None:
    assert await async_setup_component(hass, "http", {})
    server = await serve(HttpHandler(502), context=tls_context(pki.leaf(), pki.intermediate))
    await hass.config.async_update(external_url=f"https://hass.example.test:{server.port}")
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    await next_check(hass)
    assert state(hass, entry, "reverse_proxy") == "upstream_unreachable"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"upstream_unreachable_{entry.entry_id}")
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["status"] == "502"
    # after a reload (or a restart) the sensor is back, whatever the first check finds
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert state(hass, entry, "reverse_proxy") in {"unknown", "upstream_unreachable"}
