"""A name with two addresses, against real TLS servers on 127.0.0.1 and 127.0.0.2.

Tests cannot use DNS: the probe engine's `lookup` hook answers for hass.example.test.
"""

from __future__ import annotations

from datetime import timedelta
import socket
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest

from custom_components.tls_health.const import CONF_CA_FILE, CONF_URL, DOMAIN
from custom_components.tls_health.coordinator import TlsHealthCoordinator
from custom_components.tls_health.probe import engine

from .certs import NOW, Pki
from .conftest import EndpointServer, StartServer
from .helpers import entry_issue, next_check, open_issues, present, setup_endpoint, state
from .servers import Server, black_hole

pytestmark = pytest.mark.usefixtures("loopback_range", "no_proxy_check")


@pytest.fixture
def no_proxy_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reverse proxy check resolves the name through aiohttp, which tests cannot do."""

    async def not_checked(*_: object) -> None:
        return None

    monkeypatch.setattr(TlsHealthCoordinator, "_check_proxy", not_checked)


def resolve(monkeypatch: pytest.MonkeyPatch, *addresses: tuple[str, int]) -> None:
    """Make every name resolve to these (address, port) pairs, in this order."""

    async def lookup(host: str, port: int) -> list[tuple[Any, ...]]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, address_port))
            for address, address_port in addresses
        ]

    monkeypatch.setattr(engine, "lookup", lookup)


def by_name(server: Server, pki: Pki) -> dict[str, str]:
    """Entry data for hass.example.test, resolved (not pinned), trusting the test root."""
    return {
        CONF_URL: f"https://hass.example.test:{server.port}",
        CONF_CA_FILE: str(pki.root_file),
    }


async def test_second_address_serving_an_expired_certificate(
    hass: HomeAssistant,
    pki: Pki,
    endpoint_server: EndpointServer,
    serve: StartServer,
    tls_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = await endpoint_server()
    expired = pki.leaf(not_before=NOW - timedelta(days=90), not_after=NOW - timedelta(days=2))
    second = await serve(context=tls_context(expired, pki.intermediate), host="127.0.0.2")
    resolve(monkeypatch, ("127.0.0.1", first.port), ("127.0.0.2", second.port))
    entry = await setup_endpoint(hass, by_name(first, pki))
    # the worst certificate any address serves, though the check connected to 127.0.0.1
    assert state(hass, entry, "handshake") == "certificate_expired"
    await next_check(hass)
    assert open_issues(hass, entry) == {"address_other_certificate", "certificate_expired"}
    issue = entry_issue(hass, entry, "address_other_certificate")
    assert issue.severity is ir.IssueSeverity.ERROR
    assert "127.0.0.2 (certificate_expired, " in issue.translation_placeholders["addresses"]

    report = await hass.services.async_call(
        DOMAIN, "inspect", {"config_entry_id": entry.entry_id}, blocking=True, return_response=True
    )
    assert [(item["address"], item["verdict"]) for item in report["addresses"]] == [
        ("127.0.0.1", "ok"),
        ("127.0.0.2", "certificate_expired"),
    ]

    present(second, pki, pki.leaf(), pki.intermediate)
    await next_check(hass, minutes=61)
    assert state(hass, entry, "handshake") == "ok"
    assert open_issues(hass, entry) == set()


async def test_the_state_does_not_flip_with_the_connection_race(
    hass: HomeAssistant, pki: Pki, serve: StartServer, tls_context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One address serves an expired certificate: every check says so, whichever address the
    connection reached first, with the same expiry and fingerprint and no certificate event."""
    good = await serve(context=tls_context(pki.leaf(), pki.intermediate))
    expired = pki.leaf(not_before=NOW - timedelta(days=90), not_after=NOW - timedelta(days=2))
    stale = await serve(context=tls_context(expired, pki.intermediate), host="127.0.0.2")
    a, b = ("127.0.0.1", good.port), ("127.0.0.2", stale.port)
    resolve(monkeypatch, a, b)
    entry = await setup_endpoint(hass, by_name(good, pki))
    fired: list[Any] = []
    hass.bus.async_listen(
        "state_changed",
        lambda event: (
            fired.append(event.data["entity_id"])
            if event.data["entity_id"].startswith("event.")
            else None
        ),
    )
    seen = set()
    for turn in range(4):
        resolve(monkeypatch, *((b, a) if turn % 2 == 0 else (a, b)))
        await next_check(hass, minutes=61)
        seen.add(
            (
                state(hass, entry, "handshake"),
                state(hass, entry, "certificate_expiry"),
                state(hass, entry, "certificate_fingerprint"),
            )
        )
    assert len(seen) == 1
    assert next(iter(seen))[0] == "certificate_expired"
    assert fired == []
    assert open_issues(hass, entry) == {"address_other_certificate", "certificate_expired"}


async def test_black_holed_address_is_not_an_unreachable_endpoint(
    hass: HomeAssistant,
    pki: Pki,
    endpoint_server: EndpointServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engine, "ADDRESS_TIMEOUT", 0.5)
    server = await endpoint_server()
    with black_hole("127.0.0.2") as silent_port:
        resolve(monkeypatch, ("127.0.0.2", silent_port), ("127.0.0.1", server.port))
        entry = await setup_endpoint(hass, by_name(server, pki))
        for _ in range(2):
            assert state(hass, entry, "handshake") == "ok"
            assert open_issues(hass, entry) == set()
            await next_check(hass)
        assert state(hass, entry, "handshake") == "ok"
        assert open_issues(hass, entry) == {"address_not_answering"}
        issue = entry_issue(hass, entry, "address_not_answering")
        assert issue.severity is ir.IssueSeverity.WARNING
        assert issue.translation_placeholders["addresses"] == "127.0.0.2 (timeout)"
        assert issue.translation_placeholders["served_address"] == "127.0.0.1"

    # the record is gone: one address left, nothing disagrees
    resolve(monkeypatch, ("127.0.0.1", server.port))
    await next_check(hass, minutes=61)
    assert open_issues(hass, entry) == set()


async def test_an_address_this_home_assistant_cannot_route_to_is_not_judged(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IPv6 in a container without IPv6: clients that have it may reach the address fine."""
    server = await endpoint_server()

    async def lookup(host: str, port: int) -> list[tuple[Any, ...]]:
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("100::1", port, 0, 0)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
        ]

    monkeypatch.setattr(engine, "lookup", lookup)
    entry = await setup_endpoint(hass, by_name(server, pki))
    for _ in range(3):
        await next_check(hass)
    assert state(hass, entry, "handshake") == "ok"
    assert open_issues(hass, entry) == set()


async def test_rotating_addresses_do_not_rewrite_open_repairs(
    hass: HomeAssistant, pki: Pki, serve: StartServer, tls_context, monkeypatch: pytest.MonkeyPatch
) -> None:
    leaf = pki.leaf(not_before=NOW - timedelta(days=300), not_after=NOW + timedelta(days=10))
    first = await serve(context=tls_context(leaf, pki.intermediate))
    second = await serve(context=tls_context(leaf, pki.intermediate), host="127.0.0.2")
    a, b = ("127.0.0.1", first.port), ("127.0.0.2", second.port)
    resolve(monkeypatch, a, b)
    entry = await setup_endpoint(hass, by_name(first, pki))
    await next_check(hass)
    assert open_issues(hass, entry) == {"certificate_expiring_soon"}
    updates: list[Any] = []
    hass.bus.async_listen(ir.EVENT_REPAIRS_ISSUE_REGISTRY_UPDATED, updates.append)
    for turn in range(4):
        resolve(monkeypatch, *((b, a) if turn % 2 == 0 else (a, b)))
        await next_check(hass, minutes=61)
    assert [event.data["action"] for event in updates] == []


async def test_addresses_serving_their_own_valid_certificates_fire_no_event(
    hass: HomeAssistant, pki: Pki, serve: StartServer, tls_context, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = pki.leaf(not_before=NOW - timedelta(days=10), not_after=NOW + timedelta(days=80))
    two = pki.leaf(not_before=NOW - timedelta(days=5), not_after=NOW + timedelta(days=85))
    first = await serve(context=tls_context(one, pki.intermediate))
    second = await serve(context=tls_context(two, pki.intermediate), host="127.0.0.2")
    a, b = ("127.0.0.1", first.port), ("127.0.0.2", second.port)
    resolve(monkeypatch, a, b)
    entry = await setup_endpoint(hass, by_name(first, pki))
    fired: list[Any] = []
    hass.bus.async_listen(
        "state_changed",
        lambda event: (
            fired.append(event.data["entity_id"])
            if event.data["entity_id"].startswith("event.")
            else None
        ),
    )
    fingerprint = state(hass, entry, "certificate_fingerprint")
    for turn in range(4):
        resolve(monkeypatch, *((b, a) if turn % 2 == 0 else (a, b)))
        await next_check(hass, minutes=61)
        assert state(hass, entry, "certificate_fingerprint") == fingerprint
    assert fired == []
    assert open_issues(hass, entry) == set()
