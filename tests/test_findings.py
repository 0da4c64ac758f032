"""Findings derived from reports: thresholds, placeholders and what an unreachable endpoint judges."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo
import json
from pathlib import Path
from zoneinfo import ZoneInfo

from homeassistant.helpers.issue_registry import IssueSeverity
import pytest

from custom_components.tls_health.catalogue import ENDPOINT_PLACEHOLDERS, PROXY_KEYS
from custom_components.tls_health.findings import (
    ENTRY_KEYS,
    FileCertificate,
    current_findings,
    days_until,
    issue_placeholders,
    judged_keys,
    renewal_due,
)
from custom_components.tls_health.known import issuer_label
from custom_components.tls_health.options import EndpointOptions
from custom_components.tls_health.probe import Lifetime
from custom_components.tls_health.probe.models import (
    AddressCheck,
    CertificateInfo,
    ProbeReport,
    ProtocolSupport,
    Target,
    Verdict,
)
from custom_components.tls_health.proxy import ProxyReport, ProxyVerdict
from custom_components.tls_health.proxy_judgement import ProxyFinding

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DEFAULTS = EndpointOptions()
ENDPOINT_UNREACHABLE = "endpoint_unreachable"
LEGACY_TLS_ENABLED = "legacy_tls_enabled"
STRINGS = Path(__file__).parent.parent / "custom_components" / "tls_health" / "strings.json"


YEAR = timedelta(days=365)
DAY = timedelta(days=1)


def certificate(
    not_after: datetime, subject: str = "CN=hass.example.test", lifetime: timedelta = YEAR
) -> CertificateInfo:
    return CertificateInfo(
        subject=subject,
        issuer="CN=Test Intermediate,O=Test CA",
        issuer_organization="Test CA",
        issuer_common_name="Test Intermediate",
        common_name="hass.example.test",
        sans=("hass.example.test", "www.example.test"),
        serial="01",
        not_before=not_after - lifetime,
        not_after=not_after,
        key_type="EC",
        key_size=256,
        signature_algorithm="sha256",
        sha256="00" * 32,
        is_ca=False,
        self_issued=False,
    )


def report(
    verdict: Verdict = Verdict.OK,
    *,
    expires_in: timedelta | None = timedelta(days=60),
    protocols: ProtocolSupport | None = None,
    details: dict[str, str] | None = None,
    lifetime: timedelta = YEAR,
) -> ProbeReport:
    return ProbeReport(
        target=Target(host="hass.example.test", port=8443),
        checked_at=NOW,
        verdict=verdict,
        detail=f"{verdict} detail",
        details=details or {},
        chain=() if expires_in is None else (certificate(NOW + expires_in, lifetime=lifetime),),
        protocols=protocols or ProtocolSupport(tls1_0=False, tls1_1=False, tls1_3=True),
    )


def keys(found: list) -> set[str]:
    return {finding.key for finding in found}


@pytest.mark.parametrize(
    ("left", "days"),
    [
        (timedelta(days=3, hours=1), 3),
        (timedelta(days=4, hours=23), 5),  # the frontend shows "in 5 days"
        (timedelta(hours=23), 1),  # tomorrow
        (timedelta(hours=11), 0),  # later today: the last day
        (timedelta(minutes=1), 0),  # just before expiry
        (timedelta(0), -1),
        (timedelta(minutes=-1), -1),  # just after expiry
        (timedelta(hours=-1), -1),
        (timedelta(days=-3, minutes=-5), -3),  # the frontend shows "3 days ago"
        (timedelta(days=-2, hours=-1), -2),
    ],
)
def test_days_until_counts_calendar_days(left: timedelta, days: int) -> None:
    assert days_until(NOW + left, NOW) == days


def test_days_until_follows_the_time_zone_of_now() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    late_evening = datetime(2026, 11, 23, 23, 30, tzinfo=berlin)
    after_midnight = datetime(2026, 11, 24, 0, 30, tzinfo=berlin)  # the same day in UTC
    assert days_until(after_midnight, late_evening) == 1
    assert days_until(after_midnight, late_evening.astimezone(UTC)) == 0


def test_healthy_report_has_no_findings() -> None:
    assert current_findings(report(), DEFAULTS, NOW) == []


@pytest.mark.parametrize(
    ("expires_in", "options", "severity"),
    [
        (timedelta(days=14, hours=1), {}, IssueSeverity.WARNING),
        (timedelta(days=7, hours=1), {}, IssueSeverity.ERROR),
        (timedelta(days=29), {"warning_days": 30, "critical_days": 10}, IssueSeverity.WARNING),
    ],
)
def test_expiring_soon_follows_thresholds(
    expires_in: timedelta, options: dict[str, int], severity: IssueSeverity
) -> None:
    (finding,) = current_findings(
        report(expires_in=expires_in), EndpointOptions.from_options(options), NOW
    )
    assert finding.key == "certificate_expiring_soon"
    assert finding.severity is severity
    assert finding.placeholders["days"] == str(expires_in.days)


def test_not_expiring_soon_outside_warning_days() -> None:
    assert current_findings(report(expires_in=timedelta(days=15, hours=1)), DEFAULTS, NOW) == []


@pytest.mark.parametrize(
    ("lifetime", "left", "key", "severity"),
    [
        # 6-day certificates: renewed with 2 days left, critical with 1 day left
        (timedelta(days=6), timedelta(days=5), None, None),
        (timedelta(days=6), timedelta(days=2, hours=1), None, None),
        (timedelta(days=6), timedelta(hours=30), "certificate_renewal_overdue", "warning"),
        (timedelta(days=6), timedelta(hours=12), "certificate_renewal_overdue", "error"),
        # 90-day certificates: renewed with 30 days left (a day's slack), critical with 15 left
        (timedelta(days=90), timedelta(days=45), None, None),
        (timedelta(days=90), timedelta(days=29, hours=1), None, None),
        (timedelta(days=90), timedelta(days=25), "certificate_renewal_overdue", "warning"),
        (timedelta(days=90), timedelta(days=14), "certificate_renewal_overdue", "error"),
        # 24-hour certificates never fall inside the fixed 14 days as such
        (timedelta(hours=24), timedelta(hours=20), None, None),
        (timedelta(hours=24), timedelta(hours=3), "certificate_renewal_overdue", "error"),
        # 200 days is still renewed automatically; longer is judged by fixed days
        (timedelta(days=200), timedelta(days=60), "certificate_renewal_overdue", "warning"),
        (timedelta(days=201), timedelta(days=60), None, None),
        (YEAR, timedelta(days=30), None, None),
        (YEAR, timedelta(days=10), "certificate_expiring_soon", "warning"),
        (YEAR, timedelta(days=5), "certificate_expiring_soon", "error"),
    ],
)
def test_expiry_judged_by_lifetime(
    lifetime: timedelta, left: timedelta, key: str | None, severity: str | None
) -> None:
    found = current_findings(report(expires_in=left, lifetime=lifetime), DEFAULTS, NOW)
    assert [(finding.key, finding.severity.value) for finding in found] == (
        [] if key is None else [(key, severity)]
    )


def test_renewal_overdue_says_when_renewal_was_due() -> None:
    (finding,) = current_findings(
        report(expires_in=timedelta(days=25), lifetime=timedelta(days=90)), DEFAULTS, NOW
    )
    # issued 65 days ago; renewal at 60 days of age, plus a day's slack
    assert finding.placeholders["renew_by"] == "2026-11-19 12:00 UTC"
    assert finding.placeholders["expires_at"] == "2026-12-18 12:00 UTC"


@pytest.mark.parametrize("zone", [UTC, ZoneInfo("Pacific/Auckland"), ZoneInfo("America/New_York")])
def test_renewal_due_moment(zone: tzinfo) -> None:
    short = Lifetime(NOW, NOW + timedelta(days=6))
    assert renewal_due(short, DEFAULTS, zone) == NOW + timedelta(days=4, hours=14, minutes=24)
    long = Lifetime(NOW, NOW + YEAR)
    due = renewal_due(long, DEFAULTS, zone)
    # the warning starts at the local midnight from which 14 calendar days are left
    assert (due.astimezone(zone).hour, due.astimezone(zone).minute) == (0, 0)
    assert days_until(long.not_after, (due - timedelta(seconds=1)).astimezone(zone)) == 15
    assert days_until(long.not_after, due.astimezone(zone)) == 14
    assert current_findings(report(expires_in=YEAR), DEFAULTS, due - timedelta(seconds=1)) == []
    (finding,) = current_findings(
        report(expires_in=long.not_after - NOW), DEFAULTS, due.astimezone(zone)
    )
    assert finding.key == "certificate_expiring_soon"


def test_expiry_of_an_intermediate_expiring_first_is_judged_by_its_lifetime() -> None:
    leaf = certificate(NOW + timedelta(days=60), lifetime=timedelta(days=90))
    intermediate = certificate(NOW + timedelta(days=10), subject="CN=Intermediate")
    chained = replace(report(), chain=(leaf, intermediate))
    assert keys(current_findings(chained, DEFAULTS, NOW)) == {"certificate_expiring_soon"}


def test_expired_verdict_is_not_also_expiring_soon() -> None:
    found = current_findings(
        report(Verdict.CERTIFICATE_EXPIRED, expires_in=timedelta(days=-3)), DEFAULTS, NOW
    )
    assert keys(found) == {"certificate_expired"}
    assert found[0].placeholders["days_expired"] == "3"


@pytest.mark.parametrize(
    ("verdict", "key"),
    [
        (Verdict.HOSTNAME_MISMATCH, "hostname_mismatch"),
        (Verdict.INCOMPLETE_CHAIN, "incomplete_chain"),
        (Verdict.SELF_SIGNED, "self_signed_certificate"),
        (Verdict.UNTRUSTED_ISSUER, "untrusted_certificate"),
        (Verdict.CHAIN_CONSTRAINT_VIOLATED, "chain_constraint_violated"),
        (Verdict.CERTIFICATE_REJECTED, "certificate_rejected"),
        (Verdict.NO_SUBJECT_ALT_NAME, "no_subject_alt_name"),
        (Verdict.CERTIFICATE_NOT_YET_VALID, "certificate_not_yet_valid"),
    ],
)
def test_certificate_verdicts_map_to_repairs(verdict: Verdict, key: str) -> None:
    assert keys(current_findings(report(verdict), DEFAULTS, NOW)) == {key}


def test_legacy_protocols_only_when_scanned() -> None:
    legacy = report(protocols=ProtocolSupport(tls1_0=True, tls1_1=False))
    (finding,) = current_findings(legacy, DEFAULTS, NOW)
    assert finding.key == LEGACY_TLS_ENABLED
    assert finding.placeholders["versions"] == "TLS 1.0"
    assert current_findings(legacy, EndpointOptions(scan_legacy=False), NOW) == []


def test_undetermined_legacy_scan_neither_raises_nor_clears() -> None:
    unknown = report(protocols=ProtocolSupport())
    assert LEGACY_TLS_ENABLED not in judged_keys(unknown, DEFAULTS)
    assert LEGACY_TLS_ENABLED in judged_keys(unknown, EndpointOptions(scan_legacy=False))


@pytest.mark.parametrize(
    "verdict",
    [
        Verdict.CONNECTION_REFUSED,
        Verdict.TIMEOUT,
        Verdict.DNS_FAILURE,
        Verdict.NETWORK_UNREACHABLE,
        Verdict.HANDSHAKE_FAILED,
    ],
)
def test_unreachable_judges_only_reachability(verdict: Verdict) -> None:
    down = report(verdict, expires_in=None)
    assert keys(current_findings(down, DEFAULTS, NOW)) == {ENDPOINT_UNREACHABLE}
    assert judged_keys(down, DEFAULTS) == {ENDPOINT_UNREACHABLE}
    # Without an answer of the CA, revocation and its renewal window are not judged; the trial
    # warning is judged with Home Assistant's HTTP settings (settings_keys).
    unanswered = {"certificate_revoked", "renewal_requested_by_ca"}
    with_proxy = judged_keys(report(), DEFAULTS, ProxyReport(ProxyVerdict.OK, ""))
    assert with_proxy == ENTRY_KEYS - unanswered - {"proxy_settings_on_trial"}
    assert judged_keys(report(), DEFAULTS) == ENTRY_KEYS - PROXY_KEYS - unanswered


def test_unparsable_certificate_keeps_the_expiry_unjudged() -> None:
    """A certificate that cannot be parsed is rejected; its expiry is not known, so not cleared."""
    rejected = report(Verdict.CERTIFICATE_REJECTED, expires_in=None)
    assert keys(current_findings(rejected, DEFAULTS, NOW)) == {"certificate_rejected"}
    assert "certificate_expiring_soon" not in judged_keys(rejected, DEFAULTS)
    assert "certificate_rejected" in judged_keys(rejected, DEFAULTS)


def test_placeholders_cover_every_name_and_prefer_probe_details() -> None:
    values = issue_placeholders(
        report(Verdict.INCOMPLETE_CHAIN, details={"missing_issuer": "CN=Missing R1"}), NOW
    )
    assert set(values) | {"title"} == ENDPOINT_PLACEHOLDERS
    assert values["missing_issuer"] == "CN=Missing R1"
    assert values["names"] == "hass.example.test, www.example.test"
    assert values["endpoint"] == "hass.example.test:8443"


@pytest.mark.parametrize(
    ("organization", "common_name", "label"),
    [
        ("Let's Encrypt", "R11", "Let's Encrypt (R11)"),
        (None, "Only Name", "Only Name"),
        ("Only Org", None, "Only Org"),
        ("Same", "Same", "Same"),
        (None, None, "C=US"),
        ("O" * 300, "CN", f"{'O' * 254}\u2026"),
        ("Line\nbreak `code`", None, "Line break \u02cbcode\u02cb"),
    ],
)
def test_issuer_label(organization: str | None, common_name: str | None, label: str) -> None:
    cert = certificate(NOW + timedelta(days=30))
    with_issuer = ProbeReport(
        target=Target(host="hass.example.test"),
        checked_at=NOW,
        verdict=Verdict.OK,
        detail="",
        chain=(
            replace(
                cert,
                issuer="C=US",
                issuer_organization=organization,
                issuer_common_name=common_name,
            ),
        ),
    )
    assert issuer_label(with_issuer) == label
    assert issuer_label(report(expires_in=None)) is None


def with_addresses(*others: AddressCheck, main_lifetime: timedelta = YEAR) -> ProbeReport:
    served = report(lifetime=main_lifetime)
    leaf = served.chain[0]
    main = AddressCheck(
        address="192.0.2.1",
        verdict=Verdict.OK,
        detail="",
        main=True,
        sha256=leaf.sha256,
        not_before=leaf.not_before,
        not_after=leaf.not_after,
    )
    return replace(served, address="192.0.2.1", addresses=(main, *others))


def other_address(
    verdict: Verdict = Verdict.OK,
    *,
    sha256: str = "11" * 32,
    left: timedelta = timedelta(days=60),
    lifetime: timedelta = YEAR,
) -> AddressCheck:
    return AddressCheck(
        address="2001:db8::1",
        verdict=verdict,
        detail="",
        sha256=None if not verdict.reached_tls else sha256,
        not_before=NOW + left - lifetime,
        not_after=NOW + left,
    )


def test_address_that_does_not_answer() -> None:
    found = current_findings(with_addresses(other_address(Verdict.TIMEOUT)), DEFAULTS, NOW)
    (finding,) = found
    assert (finding.key, finding.severity) == ("address_not_answering", IssueSeverity.WARNING)
    assert finding.placeholders["addresses"] == "2001:db8::1 (timeout)"
    assert finding.placeholders["served_address"] == "192.0.2.1"
    assert finding.repair.confirmations == 3


def test_addresses_serving_the_same_certificate_agree() -> None:
    same = other_address(sha256="00" * 32)
    assert current_findings(with_addresses(same), DEFAULTS, NOW) == []


def test_different_valid_certificates_are_not_a_problem() -> None:
    assert current_findings(with_addresses(other_address()), DEFAULTS, NOW) == []


@pytest.mark.parametrize(
    ("other", "severity"),
    [
        (other_address(Verdict.CERTIFICATE_EXPIRED, left=-DAY), IssueSeverity.ERROR),
        (other_address(Verdict.HOSTNAME_MISMATCH), IssueSeverity.ERROR),
        # still valid, but past its renewal: the listener was not reloaded
        (other_address(left=20 * DAY, lifetime=90 * DAY), IssueSeverity.WARNING),
    ],
)
def test_address_serving_a_worse_certificate(other: AddressCheck, severity: IssueSeverity) -> None:
    (finding,) = current_findings(with_addresses(other), DEFAULTS, NOW)
    assert (finding.key, finding.severity) == ("address_other_certificate", severity)
    assert finding.placeholders["addresses"] == (
        f"192.0.2.1 (ok, 2027-01-22 12:00 UTC), 2001:db8::1 ({other.verdict}, "
        f"{other.not_after:%Y-%m-%d %H:%M} UTC)"
    )


def test_address_repairs_read_the_same_whichever_address_was_connected() -> None:
    """Two addresses serve one certificate, a third an expired one: the repair lists all three
    the same way whether the check's connection reached the first or the third."""
    served = with_addresses()
    main = served.addresses[0]
    twin = replace(main, address="192.0.2.2", main=False)
    expired = other_address(Verdict.CERTIFICATE_EXPIRED, left=-DAY)
    reports = [
        replace(served, addresses=(main, twin, replace(expired, reported=True))),
        replace(
            served,
            addresses=(
                replace(expired, main=True, reported=True),
                replace(main, main=False),
                twin,
            ),
        ),
    ]
    first, second = (current_findings(each, DEFAULTS, NOW) for each in reports)
    assert first == second
    assert keys(first) == {"address_other_certificate"}
    assert first[-1].placeholders["addresses"].split(", ")[::2] == [
        "192.0.2.1 (ok",
        "192.0.2.2 (ok",
        "2001:db8::1 (certificate_expired",
    ]


def test_connected_address_that_failed_is_listed_as_not_answering() -> None:
    served = with_addresses()
    failed = replace(
        served.addresses[0], verdict=Verdict.HANDSHAKE_FAILED, sha256=None, not_after=None
    )
    other = replace(other_address(sha256=served.addresses[0].sha256 or ""), reported=True)
    (finding,) = current_findings(replace(served, addresses=(failed, other)), DEFAULTS, NOW)
    assert finding.key == "address_not_answering"
    assert finding.placeholders["addresses"] == "192.0.2.1 (handshake_failed)"
    assert finding.placeholders["served_address"] == "2001:db8::1"


def test_address_repairs_are_judged_whenever_tls_was_reached() -> None:
    assert {"address_not_answering", "address_other_certificate"} <= judged_keys(report(), DEFAULTS)


def test_stale_served_certificate_judged_only_with_a_readable_file() -> None:
    named = EndpointOptions(certificate_file="/ssl/fullchain.pem")
    served = report()
    leaf = served.chain[0]
    newer = FileCertificate(
        "/ssl/fullchain.pem", "ff" * 32, leaf.not_before + DAY, leaf.not_after + 30 * DAY
    )
    (finding,) = current_findings(served, named, NOW, certificate_file=newer)
    assert finding.key == "stale_served_certificate"
    assert finding.placeholders["path"] == "/ssl/fullchain.pem"
    same = replace(newer, sha256=leaf.sha256)
    assert current_findings(served, named, NOW, certificate_file=same) == []
    unreadable = FileCertificate("/ssl/fullchain.pem")
    assert "stale_served_certificate" not in judged_keys(served, named, None, unreadable)
    assert "stale_served_certificate" in judged_keys(served, named, None, newer)
    assert "stale_served_certificate" in judged_keys(served, DEFAULTS)


@pytest.mark.parametrize(
    ("tls1_0", "tls1_1", "judged", "raised"),
    [
        (None, False, False, False),  # 1.0 undetermined: it may still be on
        (False, None, False, False),
        (True, None, True, True),  # accepted is enough to tell
        (False, False, True, False),
    ],
)
def test_legacy_scan_clears_only_when_both_versions_were_refused(
    tls1_0: bool | None, tls1_1: bool | None, judged: bool, raised: bool
) -> None:
    scanned = report(protocols=ProtocolSupport(tls1_0=tls1_0, tls1_1=tls1_1))
    assert (LEGACY_TLS_ENABLED in judged_keys(scanned, DEFAULTS)) is judged
    assert (LEGACY_TLS_ENABLED in keys(current_findings(scanned, DEFAULTS, NOW))) is raised


@pytest.mark.parametrize(
    ("verdict", "cause", "text"),
    [
        (ProxyVerdict.PROXY_NOT_TRUSTED, "", "reverse_proxy_not_trusted"),
        (ProxyVerdict.SUPPORT_DISABLED, "", "reverse_proxy_support_disabled"),
        (ProxyVerdict.FORWARDED_FOR_MISSING, "", "forwarded_for_missing"),
        (ProxyVerdict.BANNED, "", "proxy_banned"),
        (
            ProxyVerdict.CLIENT_IP_SPOOFABLE,
            "client_ip_spoofable_range",
            "client_ip_spoofable_range",
        ),
    ],
)
@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("192.168.1.5", False),
        ("172.30.33.7", False),
        ("100.101.102.103", False),  # CGNAT and Tailscale
        ("fd00::5", False),
        ("::1", False),
        ("8.8.4.4", True),
        ("2a00:1450:4001::5", True),
        ("::ffff:8.8.4.4", True),
    ],
)
def test_a_public_proxy_address_gets_a_text_that_advises_no_trust(
    verdict: ProxyVerdict, cause: str, text: str, address: str, public: bool
) -> None:
    finding = ProxyFinding(verdict, "", cause=cause)
    proxy = ProxyReport(verdict, "", address, findings=(finding,))
    found = current_findings(report(), DEFAULTS, NOW, proxy)
    (shown,) = [item for item in found if item.key in PROXY_KEYS]
    assert shown.translation_key == (f"{text}_public" if public else text)


def test_texts_for_a_public_proxy_name_no_entry_to_trust() -> None:
    strings = json.loads(STRINGS.read_text(encoding="utf-8"))["issues"]
    public = {key: text for key, text in strings.items() if key.endswith("_public")}
    assert set(public) == {
        "reverse_proxy_support_disabled_public",
        "reverse_proxy_not_trusted_public",
        "forwarded_for_missing_public",
        "client_ip_spoofable_range_public",
        "outer_hop_not_trusted_public",
        "outer_hop_not_trusted_passes_through_public",
        "proxy_banned_public",
        "proxy_settings_on_trial_public",
    }
    entries = ("{trusted_entry}", "{hop_entry}")
    for key, text in public.items():
        assert not any(entry in text["description"] for entry in entries), key
        base = strings[key.removesuffix("_public")]["description"]
        assert any(entry in base for entry in entries), key
