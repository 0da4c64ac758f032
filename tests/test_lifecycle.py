"""Certificate lifecycle against real TLS servers: expiry judged by the certificate's lifetime."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, State, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.tls_health.const import (
    CONF_ADDRESS,
    CONF_CA_FILE,
    CONF_CERTIFICATE_FILE,
    CONF_SCAN_LEGACY,
    CONF_URL,
    DOMAIN,
)
from custom_components.tls_health.entry_store import SAVE_DELAY_SECONDS
from custom_components.tls_health.known import (
    MAX_RECENT,
    KnownCertificate,
    RenewalKind,
    ServedLeaf,
)
from custom_components.tls_health.probe import days_until

from .certs import NOW, Issued, Pki, issue
from .conftest import EndpointServer, StartServer
from .daemons import LoadBalancer, installed, running, service_directory
from .helpers import (
    endpoint_data,
    entry_issue,
    next_check,
    open_issues,
    present,
    setup_endpoint,
    state,
)

KNOWN_STORE = f"{DOMAIN}.certificates"
KNOWN_SINGLETON = f"{DOMAIN}_known_certificates"
ATTRIBUTES = (
    "old_expiry",
    "new_expiry",
    "old_serial",
    "new_serial",
    "old_fingerprint",
    "new_fingerprint",
)

DAY = timedelta(days=1)


def local(moment: datetime) -> str:
    """A moment as repair texts show it, in Home Assistant's time zone."""
    return f"{moment.astimezone(dt_util.get_default_time_zone()):%Y-%m-%d %H:%M %Z}"


@pytest.mark.parametrize(
    ("lifetime", "left", "key", "severity"),
    [
        (6 * DAY, 5 * DAY, None, None),
        (6 * DAY, timedelta(hours=12), "certificate_renewal_overdue", ir.IssueSeverity.ERROR),
        (90 * DAY, 45 * DAY, None, None),
        (90 * DAY, 25 * DAY, "certificate_renewal_overdue", ir.IssueSeverity.WARNING),
        (365 * DAY, 30 * DAY, None, None),
        (365 * DAY, 10 * DAY, "certificate_expiring_soon", ir.IssueSeverity.WARNING),
    ],
    ids=["6d-5d-left", "6d-12h-left", "90d-45d-left", "90d-25d-left", "1y-30d-left", "1y-10d-left"],
)
async def test_expiry_judged_by_lifetime(
    hass: HomeAssistant,
    pki: Pki,
    endpoint_server: EndpointServer,
    lifetime: timedelta,
    left: timedelta,
    key: str | None,
    severity: ir.IssueSeverity | None,
) -> None:
    leaf = pki.leaf(not_before=NOW + left - lifetime, not_after=NOW + left)
    server = await endpoint_server(leaf, pki.intermediate)
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    await next_check(hass)
    assert state(hass, entry, "handshake") == "ok"
    if key is None:
        assert open_issues(hass, entry) == set()
        assert state(hass, entry, "problem") == "off"
        return
    assert open_issues(hass, entry) == {key}
    assert entry_issue(hass, entry, key).severity is severity


async def test_renewal_overdue_names_the_renewal_date_and_clears_on_renewal(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    overdue = pki.leaf(not_before=NOW - 65 * DAY, not_after=NOW + 25 * DAY)
    server = await endpoint_server(overdue, pki.intermediate)
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    renew_by = NOW - 4 * DAY  # renewal with 30 of 90 days left, plus a day's slack
    assert datetime.fromisoformat(state(hass, entry, "renewal_due")) == renew_by
    await next_check(hass)
    placeholders = entry_issue(hass, entry, "certificate_renewal_overdue").translation_placeholders
    # shown in Home Assistant's time zone
    assert placeholders["renew_by"] == local(renew_by)
    assert placeholders["expires_at"] == local(NOW + 25 * DAY)

    renewed = pki.leaf(not_before=NOW, not_after=NOW + 90 * DAY)
    server.present(*pki.server_files("renewed", renewed, pki.intermediate))
    await next_check(hass, minutes=61)
    assert open_issues(hass, entry) == set()
    assert datetime.fromisoformat(state(hass, entry, "renewal_due")) == NOW + 61 * DAY


async def test_renewal_due_of_a_long_lived_certificate_follows_warning_days(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    leaf = pki.leaf(not_before=NOW - 300 * DAY, not_after=NOW + 65 * DAY)
    server = await endpoint_server(leaf, pki.intermediate)
    entry = await setup_endpoint(hass, endpoint_data(server, pki), {"warning_days": 20})
    due = datetime.fromisoformat(state(hass, entry, "renewal_due"))
    # the local midnight from which 20 calendar days are left, as the days sensor counts them
    zone = dt_util.get_default_time_zone()
    assert (due.astimezone(zone).hour, due.astimezone(zone).minute) == (0, 0)
    assert days_until(NOW + 65 * DAY, (due - timedelta(seconds=1)).astimezone(zone)) == 21
    assert days_until(NOW + 65 * DAY, due.astimezone(zone)) == 20


def test_known_certificate_stored_before_lifetimes_still_reads() -> None:
    older = KnownCertificate.from_stored(
        {"expiry": "2027-01-22T12:00:00+00:00", "issuer": "Let's Encrypt (R11)"}
    )
    assert older.expiry == datetime(2027, 1, 22, 12, tzinfo=UTC)
    assert older.lifetime is None
    assert KnownCertificate.from_stored(older.stored()) == older


def certificate_events(hass: HomeAssistant, entry: MockConfigEntry) -> list[State]:
    """Every state the certificate event entity has had since `record_events`."""
    return hass.data["tls_health_test_events"][entry.entry_id]  # type: ignore[no-any-return]


def record_events(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    """Record each new state of the entry's certificate event entity; return its entity id."""
    entity_id = er.async_get(hass).async_get_entity_id(
        "event", DOMAIN, f"{entry.entry_id}_certificate_changed"
    )
    assert entity_id is not None
    seen: list[State] = []
    hass.data.setdefault("tls_health_test_events", {})[entry.entry_id] = seen

    @callback
    def changed(event: Event[EventStateChangedData]) -> None:
        if (new := event.data["new_state"]) is not None and new.state not in (
            STATE_UNKNOWN,
            STATE_UNAVAILABLE,
        ):
            seen.append(new)

    async_track_state_change_event(hass, entity_id, changed)
    return entity_id


async def test_renewal_fires_renewed_once(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    old = pki.leaf(not_before=NOW - 60 * DAY, not_after=NOW + 30 * DAY)
    server = await endpoint_server(old, pki.intermediate)
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    entity_id = record_events(hass, entry)
    assert hass.states.get(entity_id).state == STATE_UNKNOWN  # type: ignore[union-attr]
    await next_check(hass, minutes=61)
    assert certificate_events(hass, entry) == []

    renewed = pki.leaf(not_before=NOW, not_after=NOW + 90 * DAY)
    present(server, pki, renewed, pki.intermediate)
    await next_check(hass, minutes=61)
    (fired,) = certificate_events(hass, entry)
    assert fired.attributes["event_type"] == "renewed"
    assert fired.attributes["event_types"] == ["renewed", "replaced"]
    assert {key: fired.attributes[key] for key in ATTRIBUTES} == {
        "old_expiry": old.cert.not_valid_after_utc.isoformat(),
        "new_expiry": renewed.cert.not_valid_after_utc.isoformat(),
        "old_serial": format(old.cert.serial_number, "x"),
        "new_serial": format(renewed.cert.serial_number, "x"),
        "old_fingerprint": old.cert.fingerprint(hashes.SHA256()).hex(),
        "new_fingerprint": renewed.cert.fingerprint(hashes.SHA256()).hex(),
    }
    assert state(hass, entry, "certificate_fingerprint") == fired.attributes["new_fingerprint"]
    assert state(hass, entry, "certificate_serial") == fired.attributes["new_serial"]

    # the same certificate again, check after check: nothing more
    await next_check(hass, minutes=61)
    await hass.services.async_call(DOMAIN, "check_now", {}, blocking=True)
    assert len(certificate_events(hass, entry)) == 1


@pytest.mark.parametrize(
    "other",
    ["other_names", "other_issuer", "earlier_expiry"],
)
async def test_other_certificate_fires_replaced(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer, other: str
) -> None:
    server = await endpoint_server()
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    record_events(hass, entry)
    other_ca = issue(
        None,
        ca=True,
        subject=x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Other CA"),
                x509.NameAttribute(NameOID.COMMON_NAME, "Other CA R1"),
            ]
        ),
    )
    chains = {
        "other_names": lambda: (
            pki.leaf("hass.example.test", "www.example.test", not_after=NOW + 90 * DAY),
            pki.intermediate,
        ),
        "other_issuer": lambda: (
            issue(
                "hass.example.test",
                issuer=other_ca,
                names=("hass.example.test",),
                not_after=NOW + 90 * DAY,
            ),
            other_ca,
        ),
        "earlier_expiry": lambda: (pki.leaf(not_after=NOW + 50 * DAY), pki.intermediate),
    }
    present(server, pki, *chains[other]())
    await next_check(hass, minutes=61)
    (fired,) = certificate_events(hass, entry)
    assert fired.attributes["event_type"] == "replaced"


async def test_no_event_on_reload_or_restart_with_the_same_certificate(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    pki: Pki,
    endpoint_server: EndpointServer,
    freezer: FrozenDateTimeFactory,
) -> None:
    server = await endpoint_server()
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    record_events(hass, entry)
    freezer.tick(timedelta(seconds=SAVE_DELAY_SECONDS + 1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass_storage[KNOWN_STORE]["data"][entry.entry_id]["sha256"]

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    # A restart as far as TLS Health can tell: unloaded and its memory gone.
    assert await hass.config_entries.async_unload(entry.entry_id)
    hass.data.pop(KNOWN_SINGLETON)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state(hass, entry, "handshake") == "ok"
    assert certificate_events(hass, entry) == []

    # renewed while Home Assistant was down: told at the first check after the start
    assert await hass.config_entries.async_unload(entry.entry_id)
    hass.data.pop(KNOWN_SINGLETON)
    present(server, pki, pki.leaf(not_after=NOW + 90 * DAY), pki.intermediate)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    (fired,) = certificate_events(hass, entry)
    assert fired.attributes["event_type"] == "renewed"


def test_change_needs_fingerprints_on_both_sides() -> None:
    stored_before = KnownCertificate(datetime(2027, 1, 22, tzinfo=UTC), "Let's Encrypt (R11)")
    served = replace(stored_before, sha256="ab" * 32, serial="1f", leaf_expiry=stored_before.expiry)
    assert stored_before.change_to(served) is None
    assert served.change_to(served) is None
    assert served.change_to(replace(served, sha256="cd" * 32)) is not None


def _leaf(number: int, expiry: datetime = NOW + 60 * DAY) -> KnownCertificate:
    return KnownCertificate(expiry, "Test", sha256=f"{number:064x}", leaf_expiry=expiry)


def _served(known: KnownCertificate) -> tuple[ServedLeaf, ...]:
    assert known.sha256 is not None
    return (ServedLeaf(known.sha256, known.leaf_expiry),)


def test_a_certificate_served_lately_is_no_change() -> None:
    one, two, three = _leaf(1), _leaf(2), _leaf(3, NOW + 90 * DAY)
    known, change = one.after_check(one, _served(one), NOW)
    assert change is None
    known, change = known.after_check(two, _served(two), NOW)
    assert change is not None  # not seen before
    assert known.sha256 == two.sha256
    for served in (one, two, one, one, two):
        known, change = known.after_check(served, _served(served), NOW)
        assert change is None
        assert known.sha256 == two.sha256  # stays
    known, change = known.after_check(three, _served(three), NOW)
    assert change is not None
    assert change.kind is RenewalKind.RENEWED
    assert [leaf.sha256 for leaf in known.recent] == [three.sha256, two.sha256, one.sha256]


def test_recently_served_is_bounded_and_forgets_expired_certificates() -> None:
    known = _leaf(0)
    for number in range(1, 20):
        served = _leaf(number)
        known, _ = known.after_check(served, _served(served), NOW)
    assert len(known.recent) == MAX_RECENT
    assert known.recent[0].sha256 == _leaf(19).sha256
    # a certificate that expired is forgotten: served again, it is a change
    short = _leaf(30, NOW + DAY)
    known, _ = known.after_check(short, _served(short), NOW)
    known, _ = known.after_check(_leaf(40), _served(_leaf(40)), NOW)
    known, change = known.after_check(short, _served(short), NOW + 2 * DAY)
    assert change is not None
    assert short.sha256 not in [leaf.sha256 for leaf in known.recent]


@pytest.mark.parametrize(
    "recent",
    [None, "not a list", [{"sha256": "<b>1f</b>", "expiry": None}], [{"expiry": 5}], [7]],
)
def test_recently_served_as_stored_by_older_versions_or_damaged(recent: object) -> None:
    stored: dict[str, Any] = {**_leaf(1).stored(), "recent": recent}
    if recent is None:
        del stored["recent"]
    known = KnownCertificate.from_stored(stored)  # type: ignore[arg-type]
    assert known.recent == ()
    assert known.sha256 == _leaf(1).sha256
    remembered, _ = known.after_check(_leaf(1), _served(_leaf(1)), NOW)
    assert KnownCertificate.from_stored(remembered.stored()) == remembered


def test_network_values_that_are_not_hex_are_not_kept() -> None:
    stored = KnownCertificate(None, None, serial="1f", sha256="ab" * 32).stored()
    hostile = KnownCertificate.from_stored({**stored, "serial": "<b>1f</b>", "sha256": "x" * 64})
    assert (hostile.serial, hostile.sha256) == (None, None)


async def test_server_not_reloaded_after_its_file_was_renewed(
    hass: HomeAssistant,
    pki: Pki,
    endpoint_server: EndpointServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    old = pki.leaf(not_before=NOW - 60 * DAY, not_after=NOW + 30 * DAY)
    server = await endpoint_server(old, pki.intermediate)
    renewed = pki.leaf(not_before=NOW - DAY, not_after=NOW + 89 * DAY)
    fullchain = pki.write("fullchain.pem", renewed, pki.intermediate)
    entry = await setup_endpoint(
        hass, endpoint_data(server, pki), {CONF_CERTIFICATE_FILE: str(fullchain)}
    )
    await next_check(hass)
    assert open_issues(hass, entry) == {"stale_served_certificate"}
    placeholders = entry_issue(hass, entry, "stale_served_certificate").translation_placeholders
    assert placeholders["path"] == str(fullchain)
    assert placeholders["served_until"] == local(NOW + 30 * DAY)
    assert placeholders["file_until"] == local(NOW + 89 * DAY)

    # a file that cannot be read judges nothing: the repair stays, one log line
    fullchain.write_bytes(b"not a certificate")
    await next_check(hass, minutes=61)
    await next_check(hass, minutes=61)
    assert open_issues(hass, entry) == {"stale_served_certificate"}
    assert caplog.text.count("cannot be used (no PEM certificate in it)") == 1

    # reloaded: the server serves what the file holds
    pki.write("fullchain.pem", renewed, pki.intermediate)
    present(server, pki, renewed, pki.intermediate)
    await next_check(hass, minutes=61)
    assert open_issues(hass, entry) == set()


async def test_file_older_than_the_served_certificate_is_not_stale(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    served = pki.leaf(not_before=NOW - DAY, not_after=NOW + 89 * DAY)
    server = await endpoint_server(served, pki.intermediate)
    older = pki.write("old.pem", pki.leaf(not_before=NOW - 60 * DAY, not_after=NOW + 30 * DAY))
    entry = await setup_endpoint(
        hass, endpoint_data(server, pki), {CONF_CERTIFICATE_FILE: str(older)}
    )
    await next_check(hass)
    assert open_issues(hass, entry) == set()


async def test_options_refuse_a_certificate_file_without_a_certificate(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    server = await endpoint_server()
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    options = {"scan_interval": 60, "warning_days": 14, "critical_days": 7, "scan_legacy": True}
    for unusable in (str(pki.directory / "missing.pem"), str(pki.directory)):
        result = await hass.config_entries.options.async_init(entry.entry_id)
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {**options, CONF_CERTIFICATE_FILE: unusable}
        )
        assert result["errors"] == {CONF_CERTIFICATE_FILE: "certificate_file_invalid"}
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**options, CONF_CERTIFICATE_FILE: f" {pki.root_file} "}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_CERTIFICATE_FILE] == str(pki.root_file)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**options, CONF_CERTIFICATE_FILE: "  "}
    )
    assert CONF_CERTIFICATE_FILE not in entry.options


needs_haproxy = pytest.mark.skipif(not installed("haproxy"), reason="haproxy not installed")


def fingerprint(issued: Issued) -> str:
    return issued.cert.fingerprint(hashes.SHA256()).hex()


@needs_haproxy
async def test_load_balanced_backends_serving_their_own_certificates(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    pki: Pki,
    serve: StartServer,
    tls_context: Any,
) -> None:
    """Two backends behind one address (HAProxy), each with its own valid certificate, in turn.

    A certificate served lately is no change: no event once both were seen, none after a
    restart, and the known certificate stays; a new certificate fires one event.
    """
    one = pki.leaf(not_before=NOW - 10 * DAY, not_after=NOW + 80 * DAY)
    two = pki.leaf(not_before=NOW - 5 * DAY, not_after=NOW + 85 * DAY)
    first = await serve(context=tls_context(one, pki.intermediate))
    second = await serve(context=tls_context(two, pki.intermediate))
    # Weights 2 and 1: every check's connection goes to each backend in turn, whether a check
    # opens one connection or two.
    backends = [(first.port, 2), (second.port, 1)]
    with service_directory() as directory, running(LoadBalancer(directory, backends)) as balancer:
        since = balancer.mark()
        data = {
            CONF_URL: f"https://hass.example.test:{balancer.port}",
            CONF_ADDRESS: "127.0.0.1",
            CONF_CA_FILE: str(pki.root_file),
        }
        entry = await setup_endpoint(hass, data, {CONF_SCAN_LEGACY: False})
        record_events(hass, entry)

        async def served_by_checks(count: int) -> list[str]:
            served = []
            for _ in range(count):
                await next_check(hass, minutes=61)
                report = entry.runtime_data.data.report
                assert report is not None
                assert report.leaf is not None
                assert report.verdict == "ok", report.detail
                served.append(report.leaf.sha256)
            return served

        assert set(await served_by_checks(3)) == {fingerprint(one), fingerprint(two)}
        events = len(certificate_events(hass, entry))
        assert events <= 1  # the first time the second certificate is seen
        known = state(hass, entry, "certificate_fingerprint")
        served = await served_by_checks(6)
        assert served.count(fingerprint(one)) >= 2
        assert served.count(fingerprint(two)) >= 2
        assert len(certificate_events(hass, entry)) == events
        assert state(hass, entry, "certificate_fingerprint") == known
        stored = hass_storage[KNOWN_STORE]["data"][entry.entry_id]["recent"]
        assert {leaf["sha256"] for leaf in stored} == {fingerprint(one), fingerprint(two)}

        # a restart as far as TLS Health can tell: what was served lately is remembered
        assert await hass.config_entries.async_unload(entry.entry_id)
        hass.data.pop(KNOWN_SINGLETON)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)
        record_events(hass, entry)
        assert len(set(await served_by_checks(6))) == 2
        assert certificate_events(hass, entry) == []
        assert state(hass, entry, "certificate_fingerprint") == known

        # one backend renewed: a certificate not served before is one event, then no more
        three = pki.leaf(not_before=NOW, not_after=NOW + 90 * DAY)
        present(second, pki, three, pki.intermediate)
        served = await served_by_checks(6)
        assert served.count(fingerprint(three)) >= 2
        (fired,) = certificate_events(hass, entry)
        assert fired.attributes["event_type"] == "renewed"
        assert fired.attributes["new_fingerprint"] == fingerprint(three)
        assert state(hass, entry, "certificate_fingerprint") == fingerprint(three)
        assert balancer.errors(since) == [], balancer.text()[since:]
