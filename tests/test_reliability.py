"""Reliability of state: hours without network, reloads and renewals converge without flapping."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import errno
import itertools
import socket
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STARTED, EVENT_STATE_CHANGED
from homeassistant.core import CoreState, Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.tls_health.catalogue import UNREACHABLE_CONFIRMATIONS
from custom_components.tls_health.const import DOMAIN
from custom_components.tls_health.coordinator import TlsHealthCoordinator
from custom_components.tls_health.entry_store import SAVE_DELAY_SECONDS
from custom_components.tls_health.probe import days_until, engine

from .certs import NOW, Pki, issue
from .conftest import EndpointServer
from .helpers import endpoint_data, open_issues, present, setup_endpoint, state
from .servers import Server

SELF_SIGNED_EXPIRING = ("self_signed_certificate", "certificate_expiring_soon")
CERTIFICATE_SENSORS = ("certificate_expiry", "days_until_expiry", "issuer")
KNOWN_STORE = f"{DOMAIN}.certificates"
KNOWN_SINGLETON = f"{DOMAIN}_known_certificates"
OUTAGE = timedelta(hours=7)


@dataclass
class History:
    """Every issue registry event of TLS Health, and each state of an entry's entities."""

    issue_events: list[tuple[str, str]] = field(default_factory=list)
    states: dict[str, list[str]] = field(default_factory=dict)

    def actions(self, entry: MockConfigEntry, key: str) -> list[str]:
        """Registry actions on one repair of an entry, in order."""
        issue_id = f"{key}_{entry.entry_id}"
        return [action for action, event_id in self.issue_events if event_id == issue_id]

    def runs(self, key: str, *, skip: str | None = None) -> list[str]:
        """States of one entity from the start of recording, repeats collapsed, `skip` left out."""
        kept = (value for value in self.states[key] if value != skip)
        return [value for value, _ in itertools.groupby(kept)]


def record(hass: HomeAssistant, entry: MockConfigEntry) -> History:
    """Start recording; the entity keys of the entry are resolved now."""
    history = History()
    entities = {
        entity.entity_id: entity.unique_id.removeprefix(f"{entry.entry_id}_")
        for entity in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    }
    history.states = {
        key: [current.state] if (current := hass.states.get(entity_id)) else []
        for entity_id, key in entities.items()
    }

    @callback
    def issue_changed(event: Event[ir.EventIssueRegistryUpdatedData]) -> None:
        if event.data["domain"] == DOMAIN:
            history.issue_events.append((event.data["action"], event.data["issue_id"]))

    @callback
    def state_changed(event: Event[Any]) -> None:
        if (key := entities.get(event.data["entity_id"])) and event.data["new_state"]:
            history.states[key].append(event.data["new_state"].state)

    hass.bus.async_listen(ir.EVENT_REPAIRS_ISSUE_REGISTRY_UPDATED, issue_changed)
    hass.bus.async_listen(EVENT_STATE_CHANGED, state_changed)
    return history


def coordinator_of(entry: MockConfigEntry) -> TlsHealthCoordinator:
    """The running coordinator of an entry."""
    coordinator: TlsHealthCoordinator = entry.runtime_data
    return coordinator


async def scheduled_check(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, entry: MockConfigEntry
) -> None:
    """Let the wall clock run to the coordinator's next check, and let that check run."""
    freezer.tick(coordinator_of(entry).update_interval or timedelta(0))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


def expected_days(expiry: datetime) -> str:
    """What days_until_expiry must show at the current (frozen) time."""
    return str(days_until(expiry, dt_util.now()))


def snapshot(entry: MockConfigEntry) -> tuple[Any, ...]:
    """What the config entry holds that must survive anything."""
    return (
        copy.deepcopy(dict(entry.data)),
        copy.deepcopy(dict(entry.options)),
        entry.unique_id,
        entry.title,
    )


def assert_one_issue_per_key(
    hass: HomeAssistant, entry: MockConfigEntry, keys: Iterable[str]
) -> None:
    """TLS Health's registry holds exactly one issue per key for the entry, and nothing else."""
    issues = [issue for (domain, _), issue in ir.async_get(hass).issues.items() if domain == DOMAIN]
    assert Counter(issue.translation_key for issue in issues) == Counter(keys)
    assert {issue.issue_id for issue in issues} == {f"{key}_{entry.entry_id}" for key in keys}
    assert all(issue.active for issue in issues)


@dataclass
class Outage:
    """A way for the endpoint to become unreachable and come back."""

    verdict: str
    begin: Callable[[Server, pytest.MonkeyPatch], Awaitable[None]]
    end: Callable[[Server, pytest.MonkeyPatch], Awaitable[None]]


async def refuse(server: Server, _: pytest.MonkeyPatch) -> None:
    await server.stop()


async def listen_again(server: Server, _: pytest.MonkeyPatch) -> None:
    await server.start()


async def lose_route(_: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """No route to the endpoint cannot happen on loopback: the socket error is injected."""

    async def no_route(*args: object) -> socket.socket:
        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    monkeypatch.setattr(engine, "open_tcp", no_route)


async def route_back(_: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()


OUTAGES = {
    "refused": Outage("connection_refused", refuse, listen_again),
    "no_route": Outage("network_unreachable", lose_route, route_back),
}


async def self_signed_expiring_endpoint(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer, freezer: FrozenDateTimeFactory
) -> tuple[Server, MockConfigEntry, datetime]:
    """An endpoint whose self-signed certificate expires in ten days; both repairs confirmed.

    The clock starts at 20:00 local time, so hours later the count crosses a local midnight.
    """
    evening = NOW.astimezone(dt_util.get_default_time_zone()).replace(hour=20, minute=0, second=0)
    freezer.move_to(evening)
    expiry = (evening + timedelta(days=10, hours=3)).astimezone(UTC)
    # long-lived: judged by the fixed days
    leaf = issue(
        "hass.example.test",
        names=("hass.example.test",),
        not_before=expiry - timedelta(days=365),
        not_after=expiry,
    )
    server = await endpoint_server(leaf)
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    await scheduled_check(hass, freezer, entry)
    assert open_issues(hass, entry) == set(SELF_SIGNED_EXPIRING)
    return server, entry, expiry


@pytest.mark.parametrize("outage", OUTAGES.values(), ids=OUTAGES.keys())
async def test_hours_without_network_then_back(
    hass: HomeAssistant,
    pki: Pki,
    endpoint_server: EndpointServer,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
    outage: Outage,
) -> None:
    server, entry, expiry = await self_signed_expiring_endpoint(hass, pki, endpoint_server, freezer)
    before = snapshot(entry)
    history = record(hass, entry)

    await outage.begin(server, monkeypatch)
    started = dt_util.utcnow()
    checks = 0
    while dt_util.utcnow() - started < OUTAGE:
        await scheduled_check(hass, freezer, entry)
        checks += 1
        assert state(hass, entry, "handshake") == outage.verdict
        # the last certificate seen keeps counting down
        assert state(hass, entry, "days_until_expiry") == expected_days(expiry)
        assert state(hass, entry, "problem") == "on"
        unreachable = {"endpoint_unreachable"} if checks >= UNREACHABLE_CONFIRMATIONS else set()
        assert open_issues(hass, entry) == {*SELF_SIGNED_EXPIRING, *unreachable}
    assert checks > UNREACHABLE_CONFIRMATIONS
    assert state(hass, entry, "days_until_expiry") == "9"  # the seven hours crossed midnight

    await outage.end(server, monkeypatch)
    await scheduled_check(hass, freezer, entry)
    assert open_issues(hass, entry) == set(SELF_SIGNED_EXPIRING)
    assert state(hass, entry, "handshake") == "self_signed"
    assert state(hass, entry, "days_until_expiry") == expected_days(expiry)
    assert state(hass, entry, "problem") == "on"
    assert state(hass, entry, "certificate_expiry") == expiry.isoformat()
    assert state(hass, entry, "tls_version") == "tls_1_3"

    assert history.actions(entry, "endpoint_unreachable") == ["create", "remove"]
    for key in SELF_SIGNED_EXPIRING:
        assert {"create", "remove"}.isdisjoint(history.actions(entry, key)), key
    assert history.runs("handshake") == ["self_signed", outage.verdict, "self_signed"]
    assert history.runs("problem") == ["on"]
    assert history.runs("certificate_expiry") == [expiry.isoformat()]
    assert history.runs("days_until_expiry") == ["10", "9"]
    assert_one_issue_per_key(hass, entry, SELF_SIGNED_EXPIRING)
    assert snapshot(entry) == before


async def self_signed_endpoint(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer, freezer: FrozenDateTimeFactory
) -> tuple[Server, MockConfigEntry]:
    """An endpoint with a self-signed certificate and its confirmed repair."""
    server = await endpoint_server(issue("hass.example.test", names=("hass.example.test",)))
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    await scheduled_check(hass, freezer, entry)
    assert open_issues(hass, entry) == {"self_signed_certificate"}
    return server, entry


async def reload(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Reload the entry and wait for its first check (a background task of the entry)."""
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)


@pytest.mark.parametrize(
    "checks_before_reload", [1, UNREACHABLE_CONFIRMATIONS], ids=["unconfirmed", "confirmed"]
)
async def test_reload_while_unreachable(
    hass: HomeAssistant,
    pki: Pki,
    endpoint_server: EndpointServer,
    freezer: FrozenDateTimeFactory,
    checks_before_reload: int,
) -> None:
    server, entry = await self_signed_endpoint(hass, pki, endpoint_server, freezer)
    before = snapshot(entry)
    history = record(hass, entry)
    await server.stop()
    for _ in range(checks_before_reload):
        await scheduled_check(hass, freezer, entry)
    expected = open_issues(hass, entry)
    assert "self_signed_certificate" in expected

    await reload(hass, entry)
    assert open_issues(hass, entry) == expected
    assert state(hass, entry, "handshake") == "connection_refused"
    assert state(hass, entry, "problem") == "on"
    for _ in range(UNREACHABLE_CONFIRMATIONS):
        await scheduled_check(hass, freezer, entry)
    assert open_issues(hass, entry) == {"self_signed_certificate", "endpoint_unreachable"}
    await server.start()
    await scheduled_check(hass, freezer, entry)

    assert open_issues(hass, entry) == {"self_signed_certificate"}
    assert state(hass, entry, "handshake") == "self_signed"
    assert history.actions(entry, "endpoint_unreachable") == ["create", "remove"]
    assert {"create", "remove"}.isdisjoint(history.actions(entry, "self_signed_certificate"))
    # a reload makes entities unavailable for a moment; never does it say "no problem"
    assert history.runs("problem", skip="unavailable") == ["on"]
    assert_one_issue_per_key(hass, entry, ["self_signed_certificate"])
    assert snapshot(entry) == before


async def test_reload_after_recovery_converges_to_no_repair(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer, freezer: FrozenDateTimeFactory
) -> None:
    server, entry = await self_signed_endpoint(hass, pki, endpoint_server, freezer)
    before = snapshot(entry)
    history = record(hass, entry)
    await server.stop()
    for _ in range(UNREACHABLE_CONFIRMATIONS):
        await scheduled_check(hass, freezer, entry)
    assert open_issues(hass, entry) == {"self_signed_certificate", "endpoint_unreachable"}

    # renewed and back before the next check; the reload's first check sees it
    present(server, pki, pki.leaf(), pki.intermediate)
    await server.start()
    await reload(hass, entry)
    assert open_issues(hass, entry) == set()
    assert state(hass, entry, "handshake") == "ok"
    assert state(hass, entry, "problem") == "off"
    assert history.actions(entry, "endpoint_unreachable") == ["create", "remove"]
    assert history.actions(entry, "self_signed_certificate") == ["remove"]
    await scheduled_check(hass, freezer, entry)
    assert open_issues(hass, entry) == set()
    assert_one_issue_per_key(hass, entry, [])
    assert snapshot(entry) == before


async def test_renewed_while_unreachable_clears_at_first_good_check(
    hass: HomeAssistant,
    pki: Pki,
    endpoint_server: EndpointServer,
    freezer: FrozenDateTimeFactory,
) -> None:
    server, entry, _ = await self_signed_expiring_endpoint(hass, pki, endpoint_server, freezer)
    history = record(hass, entry)
    await server.stop()
    for _ in range(UNREACHABLE_CONFIRMATIONS):
        await scheduled_check(hass, freezer, entry)
    assert open_issues(hass, entry) == {*SELF_SIGNED_EXPIRING, "endpoint_unreachable"}

    present(server, pki, pki.leaf(), pki.intermediate)
    await server.start()
    await scheduled_check(hass, freezer, entry)
    assert open_issues(hass, entry) == set()
    assert state(hass, entry, "handshake") == "ok"
    assert state(hass, entry, "problem") == "off"
    assert state(hass, entry, "certificate_expiry") == (NOW + timedelta(days=60)).isoformat()
    assert state(hass, entry, "days_until_expiry") == "60"
    assert state(hass, entry, "issuer") == "TLS Health Tests (TLS Health Test Intermediate R1)"
    assert history.actions(entry, "endpoint_unreachable") == ["create", "remove"]
    for key in SELF_SIGNED_EXPIRING:
        assert history.actions(entry, key) == ["remove"], key
    assert history.runs("problem") == ["on", "off"]


async def test_first_check_waits_until_home_assistant_has_started(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    server = await endpoint_server(issue("hass.example.test", names=("hass.example.test",)))
    hass.set_state(CoreState.starting)
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    # Set up, entities present, nothing probed yet: HA does not serve HTTP before it has started.
    assert entry.state is ConfigEntryState.LOADED
    assert state(hass, entry, "handshake") == "unknown"
    assert open_issues(hass, entry) == set()

    hass.set_state(CoreState.running)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STARTED)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state(hass, entry, "handshake") == "self_signed"
    assert state(hass, entry, "days_until_expiry") != "unknown"


async def test_known_certificate_outlives_a_restart_while_down(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    pki: Pki,
    endpoint_server: EndpointServer,
    freezer: FrozenDateTimeFactory,
) -> None:
    server = await endpoint_server()
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    shown = {key: state(hass, entry, key) for key in CERTIFICATE_SENSORS}
    assert "unknown" not in shown.values()
    freezer.tick(timedelta(seconds=SAVE_DELAY_SECONDS + 1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert entry.entry_id in hass_storage[KNOWN_STORE]["data"]

    # A restart as far as TLS Health can tell: unloaded, its memory gone, the endpoint down.
    assert await hass.config_entries.async_unload(entry.entry_id)
    hass.data.pop(KNOWN_SINGLETON)
    await server.stop()
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state(hass, entry, "handshake") == "connection_refused"
    assert {key: state(hass, entry, key) for key in CERTIFICATE_SENSORS} == shown

    # the restored expiry keeps counting down
    freezer.tick(timedelta(days=1))
    await scheduled_check(hass, freezer, entry)
    assert state(hass, entry, "days_until_expiry") == str(int(shown["days_until_expiry"]) - 1)

    await hass.config_entries.async_remove(entry.entry_id)
    freezer.tick(timedelta(seconds=SAVE_DELAY_SECONDS + 1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert entry.entry_id not in hass_storage[KNOWN_STORE]["data"]


GARBLED: Any = {
    "expiry": 5,
    "issuer": ["not", "text"],
    "names": 7,
    "serial": 12,
    "valid_from": "2026-02-30T00:00:00+00:00",
    "leaf_expiry": "2026-01-01T00:00:00",
    "recent": "x",
}


@pytest.mark.parametrize(
    "stored",
    [
        lambda entry_id: {entry_id: GARBLED},
        lambda entry_id: {entry_id: ["not", "an", "object"]},
        lambda entry_id: [entry_id],
    ],
    ids=["garbled_fields", "not_an_object", "not_a_mapping"],
)
async def test_stores_not_as_written_are_read_without_raising(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    pki: Pki,
    endpoint_server: EndpointServer,
    stored: Callable[[str], Any],
) -> None:
    """A store edited by hand or cut short is read as far as it makes sense, never raised on."""
    server = await endpoint_server()
    data = endpoint_data(server, pki)
    entry = MockConfigEntry(domain=DOMAIN, title="hass.example.test", data=data)
    entry.add_to_hass(hass)
    for key in (KNOWN_STORE, f"{DOMAIN}.proxy_paths"):
        hass_storage[key] = {
            "version": 1,
            "minor_version": 1,
            "key": key,
            "data": stored(entry.entry_id),
        }
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED
    assert state(hass, entry, "handshake") == "ok"
    assert state(hass, entry, "days_until_expiry") not in ("unknown", "unavailable")
