"""The self-probe view answers only to nonces it issued, and HA's forwarded refusals are seen."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
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
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.tls_health import selfprobe
from custom_components.tls_health.const import DOMAIN
from custom_components.tls_health.endpoint import is_own_url
from custom_components.tls_health.http_settings import async_clear_refused_traffic
from custom_components.tls_health.probe import parse_target
from custom_components.tls_health.proxy import async_get_proxy_session
from custom_components.tls_health.proxy_judgement import (
    TRAFFIC_UPDATE_EVERY,
    ForwardedRefusal,
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


async def test_a_refusal_of_a_checks_own_request_is_its_answer_and_others_are_traffic(
    hass: HomeAssistant, hass_client_no_auth: ClientSessionGenerator
) -> None:
    # reverse proxy support is off: HA's forwarded middleware refuses every X-Forwarded-For
    assert await async_setup_component(hass, "http", {})
    self_probe = async_get_self_probe(hass)
    client = await hass_client_no_auth()
    forwarded = {"X-Forwarded-For": "192.168.1.50"}
    nonce, waiter = self_probe.issue()

    # a stranger's request in the middle of the check: refused, counted, nobody's answer
    assert (await client.get("/api/", headers=forwarded)).status == 400
    assert (await client.get(f"{SELF_PROBE_PREFIX}guessed", headers=forwarded)).status == 400
    await hass.async_block_till_done()
    assert not waiter.done()

    assert (await client.get(f"{SELF_PROBE_PREFIX}{nonce}", headers=forwarded)).status == 400
    await hass.async_block_till_done()
    refusal = waiter.result()
    assert isinstance(refusal, ForwardedRefusal)
    assert (refusal.reason, refusal.proxy_address) == ("support_disabled", "127.0.0.1")
    assert self_probe.traffic[RefusalReason.SUPPORT_DISABLED].as_dict() == {
        "public": 0,
        "private": 2,
        "private_addresses": 1,
    }
    # used up: the same nonce again is someone's traffic
    assert (await client.get(f"{SELF_PROBE_PREFIX}{nonce}", headers=forwarded)).status == 400
    await hass.async_block_till_done()
    assert self_probe.traffic[RefusalReason.SUPPORT_DISABLED].private == 3

    # a record logged outside the middleware holds no request: traffic too
    logger = logging.getLogger(FORWARDED_LOGGER)
    logger.error("Received X-Forwarded-For header from an untrusted proxy %s", "fd00::5")
    logger.error("Invalid IP address in X-Forwarded-For: %s", "nonsense")
    await hass.async_block_till_done()
    assert self_probe.traffic[RefusalReason.PROXY_NOT_TRUSTED].private == 1
    self_probe.close()
    logger.error("Received X-Forwarded-For header from an untrusted proxy %s", "10.0.0.1")
    await hass.async_block_till_done()
    assert self_probe.traffic[RefusalReason.PROXY_NOT_TRUSTED].private == 1


async def test_refused_traffic_is_counted_and_never_named(
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
    # counted, never named: no check proved any of these addresses
    assert issue.translation_placeholders == {"count": "3", "sources": "1", "public": "50"}

    for index in range(20):
        await refused(f"10.0.0.{index}", 10)
    assert updates.count(traffic_issue) == 1  # rate limited: no update storm
    issue = registry.async_get_issue(DOMAIN, traffic_issue)
    assert issue is not None
    assert not any("10.0.0." in value for value in issue.translation_placeholders.values())

    # a check through a proxy at another address explains nothing of these refusals
    other = Observation(
        peer="192.168.1.8",
        remote="192.168.1.20",
        scheme="https",
        host="hass.example.test",
        forwarded_for="192.168.1.20",
        forwarded_proto="https",
        forwarded_host=None,
    )
    async_clear_refused_traffic(hass, ProxyReport(ProxyVerdict.OK, "", "192.168.1.8", other))
    assert registry.async_get_issue(DOMAIN, traffic_issue) is not None
    # the address that kept being refused is now proven to get through
    through = replace(other, peer="192.168.1.9")
    async_clear_refused_traffic(hass, ProxyReport(ProxyVerdict.OK, "", "192.168.1.9", through))
    assert registry.async_get_issue(DOMAIN, traffic_issue) is None
    assert self_probe.traffic[RefusalReason.PROXY_NOT_TRUSTED].private == 0


@pytest.mark.parametrize(
    "shown_as", ["reverse_proxy_not_trusted", "reverse_proxy_not_trusted_moved"]
)
async def test_no_traffic_repair_beside_an_endpoint_repair_of_the_same_problem(
    hass: HomeAssistant, shown_as: str
) -> None:
    assert await async_setup_component(hass, DOMAIN, {DOMAIN: None})
    # an endpoint's repair, in whichever of its texts detection picked
    ir.async_create_issue(
        hass,
        DOMAIN,
        "reverse_proxy_not_trusted_entry",
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=shown_as,
    )
    logger = logging.getLogger(FORWARDED_LOGGER)
    for _ in range(5):
        logger.error("Received X-Forwarded-For header from an untrusted proxy %s", "192.168.1.9")
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, "reverse_proxy_not_trusted_traffic") is None


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
    assert issue.translation_placeholders == {"count": "8", "sources": "1", "public": "0"}


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


async def test_an_endpoint_not_leading_here_is_never_handed_a_nonce(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    pki: Pki,
    serve: StartServer,
    tls_context: Callable[..., ssl.SSLContext],
) -> None:
    assert await async_setup_component(hass, "http", {})
    handler = HttpHandler(200)
    server = await serve(handler, context=tls_context(pki.leaf(), pki.intermediate))
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    await next_check(hass)
    assert state(hass, entry, "handshake") == "ok"
    # only the probe's own GET /: nothing it could replay to this Home Assistant
    assert handler.requests
    assert all(b"self_probe" not in request for request in handler.requests)
    assert entry.runtime_data.data.proxy is None
    unique_id = f"{entry.entry_id}_reverse_proxy"
    assert er.async_get(hass).async_get_entity_id("sensor", DOMAIN, unique_id) is None

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
    assert diagnostics["reverse_proxy"] is None


async def test_marking_an_endpoint_as_leading_here_checks_its_proxy_and_unmarking_stops(
    hass: HomeAssistant,
    pki: Pki,
    serve: StartServer,
    tls_context: Callable[..., ssl.SSLContext],
) -> None:
    assert await async_setup_component(hass, "http", {})
    handler = HttpHandler(502)
    server = await serve(handler, context=tls_context(pki.leaf(), pki.intermediate))
    entry = await setup_endpoint(
        hass, endpoint_data(server, pki), {"leads_to_home_assistant": True}
    )
    await next_check(hass)
    assert any(b"GET /api/tls_health/self_probe/" in request for request in handler.requests)
    assert state(hass, entry, "reverse_proxy") == "upstream_unreachable"
    issue_id = f"upstream_unreachable_{entry.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None

    hass.config_entries.async_update_entry(entry, options={"leads_to_home_assistant": False})
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    unique_id = f"{entry.entry_id}_reverse_proxy"
    assert er.async_get(hass).async_get_entity_id("sensor", DOMAIN, unique_id) is None
    # no check can ever judge it again
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    handler.requests.clear()
    await next_check(hass, 61)
    assert handler.requests
    assert all(b"self_probe" not in request for request in handler.requests)


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


@pytest.mark.parametrize(
    ("external", "internal", "url", "own"),
    [
        ("https://hass.example.test", None, "https://hass.example.test", True),
        ("https://HASS.example.test:443/", None, "https://hass.example.test", True),
        (None, "https://hass.example.test:8443", "https://hass.example.test:8443", True),
        ("https://hass.example.test:8443", None, "https://hass.example.test", False),
        ("https://other.example.test", None, "https://hass.example.test", False),
        (None, "http://hass.example.test:443", "https://hass.example.test", False),
        ("https://hass.example.test", None, "mqtts://hass.example.test:443", False),
        (None, None, "https://hass.example.test", False),
    ],
)
async def test_own_url_is_the_same_scheme_name_and_port(
    hass: HomeAssistant, external: str | None, internal: str | None, url: str, own: bool
) -> None:
    await hass.config.async_update(external_url=external, internal_url=internal)
    assert is_own_url(hass, parse_target(url)) is own


async def test_only_https_endpoints_can_be_marked_as_leading_here(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    https = await setup_endpoint(hass, endpoint_data(await endpoint_server(), pki))
    mqtt = MockConfigEntry(
        domain=DOMAIN, data={"url": "mqtts://127.0.0.1:1"}, unique_id="127.0.0.1:1:"
    )
    mqtt.add_to_hass(hass)
    for entry, offered in ((https, True), (mqtt, False)):
        result = await hass.config_entries.options.async_init(entry.entry_id)
        assert ("leads_to_home_assistant" in result["data_schema"].schema) is offered
