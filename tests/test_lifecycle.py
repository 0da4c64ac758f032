"""Certificate lifecycle against real TLS servers: expiry judged by the certificate's lifetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest

from custom_components.tls_health.known import KnownCertificate
from custom_components.tls_health.probe import days_until

from .certs import NOW, Pki
from .conftest import EndpointServer
from .helpers import endpoint_data, entry_issue, next_check, open_issues, setup_endpoint, state

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
