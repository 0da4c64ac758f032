"""Repairs raised and cleared against real TLS servers on 127.0.0.1, and the entities that follow."""

from __future__ import annotations

from datetime import timedelta

from homeassistant.config_entries import ConfigEntryDisabler, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest

from custom_components.tls_health.const import DOMAIN

from .certs import NOW, Pki, issue
from .conftest import EndpointServer
from .helpers import (
    endpoint_data,
    entry_issue,
    next_check,
    noon,
    open_issues,
    present,
    setup_endpoint,
    state,
)


async def test_healthy_endpoint(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    server = await endpoint_server()
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    assert entry.state is ConfigEntryState.LOADED
    assert state(hass, entry, "handshake") == "ok"
    assert state(hass, entry, "days_until_expiry") == "60"
    assert state(hass, entry, "tls_version") == "tls_1_3"
    assert state(hass, entry, "issuer") == "TLS Health Tests (TLS Health Test Intermediate R1)"
    # handshake_time changes at every check: disabled until a user enables it
    registry = er.async_get(hass)
    handshake_time = registry.async_get_entity_id(
        "sensor", DOMAIN, f"{entry.entry_id}_handshake_time"
    )
    assert handshake_time is not None
    assert registry.async_get(handshake_time).disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert hass.states.get(handshake_time) is None
    registry.async_update_entity(handshake_time, disabled_by=None)
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert float(state(hass, entry, "handshake_time")) > 0
    # the intermediate outlives the leaf, so the leaf's expiry is the chain's
    assert state(hass, entry, "certificate_expiry") == (NOW + timedelta(days=60)).isoformat()
    assert state(hass, entry, "problem") == "off"
    await next_check(hass, minutes=61)
    assert open_issues(hass, entry) == set()


async def test_expired_then_renewed(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    # expired three calendar days ago in Home Assistant's time zone, whatever the hour now
    expired = pki.leaf(not_before=NOW - timedelta(days=100), not_after=noon(-3))
    server = await endpoint_server(expired, pki.intermediate)
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    assert state(hass, entry, "handshake") == "certificate_expired"
    assert state(hass, entry, "days_until_expiry") == "-3"
    # one check is not enough to raise; the second, a minute later rather than an hour, is
    assert open_issues(hass, entry) == set()
    assert state(hass, entry, "problem") == "off"
    await next_check(hass)
    assert open_issues(hass, entry) == {"certificate_expired"}
    assert state(hass, entry, "problem") == "on"
    issue_entry = entry_issue(hass, entry, "certificate_expired")
    assert issue_entry.severity is ir.IssueSeverity.ERROR
    assert issue_entry.translation_placeholders["days_expired"] == "3"

    present(server, pki, pki.leaf(), pki.intermediate)
    await hass.services.async_call(DOMAIN, "check_now", {}, blocking=True)
    await hass.async_block_till_done()
    assert open_issues(hass, entry) == set()
    assert state(hass, entry, "handshake") == "ok"
    assert state(hass, entry, "days_until_expiry") == "60"
    assert state(hass, entry, "problem") == "off"


@pytest.mark.parametrize(
    ("scenario", "verdict", "key"),
    [
        ("expiring", "ok", "certificate_expiring_soon"),
        ("wrong_name", "hostname_mismatch", "hostname_mismatch"),
        ("no_intermediate", "incomplete_chain", "incomplete_chain"),
        ("self_signed", "self_signed", "self_signed_certificate"),
        ("other_root", "untrusted_issuer", "untrusted_certificate"),
        ("not_yet_valid", "certificate_not_yet_valid", "certificate_not_yet_valid"),
    ],
)
async def test_certificate_repairs_raise_and_clear(
    hass: HomeAssistant,
    pki: Pki,
    endpoint_server: EndpointServer,
    scenario: str,
    verdict: str,
    key: str,
) -> None:
    other_root = issue("Other Root", ca=True)
    chains = {
        "expiring": lambda: (
            pki.leaf(
                not_before=NOW - timedelta(days=360), not_after=NOW + timedelta(days=5, hours=1)
            ),
            pki.intermediate,
        ),
        "wrong_name": lambda: (pki.leaf("other.example.test"), pki.intermediate),
        "no_intermediate": lambda: (pki.leaf(),),
        "self_signed": lambda: (issue("hass.example.test", names=("hass.example.test",)),),
        "other_root": lambda: (
            issue("hass.example.test", issuer=other_root, names=("hass.example.test",)),
            other_root,
        ),
        "not_yet_valid": lambda: (pki.leaf(not_before=NOW + timedelta(days=2)), pki.intermediate),
    }
    server = await endpoint_server(*chains[scenario]())
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    assert state(hass, entry, "handshake") == verdict
    await next_check(hass)
    assert open_issues(hass, entry) == {key}
    assert state(hass, entry, "problem") == "on"

    present(server, pki, pki.leaf(), pki.intermediate)
    await next_check(hass, minutes=61)
    assert open_issues(hass, entry) == set()
    assert state(hass, entry, "handshake") == "ok"


async def test_expiring_soon_severity_follows_options(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    leaf = pki.leaf(not_before=noon(-345), not_after=noon(20))
    server = await endpoint_server(leaf, pki.intermediate)
    entry = await setup_endpoint(
        hass, endpoint_data(server, pki), {"warning_days": 30, "critical_days": 21}
    )
    await next_check(hass)
    issue_entry = entry_issue(hass, entry, "certificate_expiring_soon")
    assert issue_entry.severity is ir.IssueSeverity.ERROR
    assert issue_entry.translation_placeholders["days"] == "20"


async def test_legacy_tls_repair(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    server = await endpoint_server(legacy=True)
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    await next_check(hass)
    assert open_issues(hass, entry) == {"legacy_tls_enabled"}
    placeholders = entry_issue(hass, entry, "legacy_tls_enabled").translation_placeholders
    assert "TLS 1.0" in placeholders["versions"]

    options_entry = await setup_endpoint(
        hass,
        {**endpoint_data(server, pki), "server_name": "hass.example.test"},
        {"scan_legacy": False},
    )
    await next_check(hass)
    assert open_issues(hass, options_entry) == set()


async def test_unreachable_needs_three_checks_and_keeps_certificate_state(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer, caplog: pytest.LogCaptureFixture
) -> None:
    expired = pki.leaf(
        not_before=NOW - timedelta(days=100), not_after=NOW - timedelta(days=1) + timedelta(hours=1)
    )
    server = await endpoint_server(expired, pki.intermediate)
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    await next_check(hass)
    assert open_issues(hass, entry) == {"certificate_expired"}

    await server.stop()
    await next_check(hass, minutes=61)
    assert state(hass, entry, "handshake") == "connection_refused"
    # the known certificate stays: still expired, still counting
    assert state(hass, entry, "days_until_expiry") == "-1"
    assert open_issues(hass, entry) == {"certificate_expired"}
    await next_check(hass)
    assert open_issues(hass, entry) == {"certificate_expired"}
    await next_check(hass)
    assert open_issues(hass, entry) == {"certificate_expired", "endpoint_unreachable"}
    assert caplog.text.count("cannot be reached") == 1

    present(server, pki, pki.leaf(), pki.intermediate)
    await server.start()
    await next_check(hass, minutes=61)
    assert open_issues(hass, entry) == set()
    assert caplog.text.count("can be reached again") == 1


async def test_open_issue_survives_reload_without_reconfirming(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    server = await endpoint_server(issue("hass.example.test", names=("hass.example.test",)))
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    await next_check(hass)
    assert open_issues(hass, entry) == {"self_signed_certificate"}

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert open_issues(hass, entry) == {"self_signed_certificate"}
    assert state(hass, entry, "problem") == "on"
    assert len([key for key in ir.async_get(hass).issues if key[0] == DOMAIN]) == 1

    assert await hass.config_entries.async_unload(entry.entry_id)
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert state(hass, entry, "handshake") == "unavailable"
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert open_issues(hass, entry) == set()


async def test_disabling_the_entry_removes_its_repairs(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    server = await endpoint_server(issue("hass.example.test", names=("hass.example.test",)))
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    await next_check(hass)
    assert open_issues(hass, entry) == {"self_signed_certificate"}
    await hass.config_entries.async_set_disabled_by(entry.entry_id, ConfigEntryDisabler.USER)
    await hass.async_block_till_done()
    assert open_issues(hass, entry) == set()


@pytest.mark.parametrize(
    ("trusted", "broad"),
    [
        (["127.0.0.1", "192.168.1.0/24", "fd00::/8"], None),
        (["127.0.0.1", "0.0.0.0/0"], "0.0.0.0/0"),
        (["::/0", "8.8.8.0/24"], "::/0, 8.8.8.0/24"),
    ],
)
async def test_trusted_proxies_too_broad(
    hass: HomeAssistant,
    pki: Pki,
    endpoint_server: EndpointServer,
    trusted: list[str],
    broad: str | None,
) -> None:
    assert await async_setup_component(
        hass, "http", {"http": {"use_x_forwarded_for": True, "trusted_proxies": trusted}}
    )
    await setup_endpoint(hass, endpoint_data(await endpoint_server(), pki))
    issue_entry = ir.async_get(hass).async_get_issue(DOMAIN, "trusted_proxies_too_broad")
    if broad is None:
        assert issue_entry is None
    else:
        assert issue_entry is not None
        assert issue_entry.translation_placeholders == {"networks": broad}
