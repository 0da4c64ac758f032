"""What the CA says, judged: a revoked certificate, its renewal window, and an unknown answer."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from markdown_it import MarkdownIt
import pytest

from custom_components.tls_health.catalogue import CERTIFICATE_REVOKED, RENEWAL_REQUESTED_BY_CA
from custom_components.tls_health.findings import (
    current_findings,
    expiry_due,
    judged_keys,
    renewal_due,
)
from custom_components.tls_health.issues import MAX_PLACEHOLDER
from custom_components.tls_health.options import EndpointOptions
from custom_components.tls_health.probe import (
    Lifetime,
    RenewalInfo,
    RevocationReason,
    RevocationSource,
    RevocationState,
    RevocationStatus,
    UnknownReason,
    Verdict,
    inert,
)
from custom_components.tls_health.probe.models import (
    CertificateInfo,
    ProbeReport,
    ProtocolSupport,
    Target,
)

from . import icu
from .test_translations import COMPONENT, _load

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
DEFAULTS = EndpointOptions()
REVOKED_AT = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
REVOKED = "certificate_revoked"
RENEW_NOW = "renewal_requested_by_ca"
OVERDUE = "certificate_renewal_overdue"


def status(
    state: RevocationState, reason: RevocationReason | None = None, **kwargs: object
) -> RevocationStatus:
    return RevocationStatus(
        state=state,
        source=RevocationSource.CRL,
        subject="CN=hass.example.test",
        serial="1a2b3c",
        reason=reason,
        revoked_at=REVOKED_AT if state is RevocationState.REVOKED else None,
        unknown_reason=UnknownReason.UNREACHABLE if state is RevocationState.UNKNOWN else None,
        **kwargs,  # type: ignore[arg-type]
    )


def window(start: timedelta, end: timedelta, url: str | None = None) -> RenewalInfo:
    return RenewalInfo(window_start=NOW + start, window_end=NOW + end, explanation_url=url)


def report(
    *,
    revocation: RevocationStatus | None = None,
    renewal_info: RenewalInfo | None = None,
    lifetime: timedelta = 90 * DAY,
    left: timedelta = 60 * DAY,
) -> ProbeReport:
    leaf = CertificateInfo(
        subject="CN=hass.example.test",
        issuer="CN=Test Intermediate,O=Test CA",
        issuer_organization="Test CA",
        issuer_common_name="Test Intermediate",
        common_name="hass.example.test",
        sans=("hass.example.test",),
        serial="1a2b3c",
        not_before=NOW + left - lifetime,
        not_after=NOW + left,
        key_type="EC",
        key_size=256,
        signature_algorithm="sha256",
        sha256="00" * 32,
        is_ca=False,
        self_issued=False,
    )
    return ProbeReport(
        target=Target(host="hass.example.test", port=8443),
        checked_at=NOW,
        verdict=Verdict.OK,
        detail="ok",
        chain=(leaf,),
        protocols=ProtocolSupport(tls1_0=False, tls1_1=False, tls1_3=True),
        revocation=revocation,
        renewal_info=renewal_info,
    )


def found(checked: ProbeReport, options: EndpointOptions = DEFAULTS) -> dict[str, object]:
    return {finding.key: finding for finding in current_findings(checked, options, NOW)}


def test_revoked_certificate_is_an_error_naming_reason_date_and_serial() -> None:
    checked = report(revocation=status(RevocationState.REVOKED, RevocationReason.SUPERSEDED))
    (finding,) = current_findings(checked, DEFAULTS, NOW)
    assert finding.key == REVOKED
    assert finding.severity == "error"
    assert finding.translation_key == "certificate_revoked"
    assert finding.placeholders["revocation_reason"] == "superseded"
    assert finding.placeholders["revoked_at"] == "2026-11-20 08:30 UTC"
    assert finding.placeholders["serial"] == "1a2b3c"
    assert finding.placeholders["revoked_subject"] == "CN=hass.example.test"
    assert finding.placeholders["revocation_source"] == "CRL"
    assert REVOKED in judged_keys(checked, DEFAULTS)
    # a signed statement of the CA: one check raises it
    assert CERTIFICATE_REVOKED.confirmations == 1


@pytest.mark.parametrize(
    ("reason", "text", "name"),
    [
        (RevocationReason.KEY_COMPROMISE, "certificate_revoked_key_compromise", "keyCompromise"),
        (RevocationReason.CA_COMPROMISE, "certificate_revoked_key_compromise", "cACompromise"),
        (RevocationReason.CESSATION_OF_OPERATION, "certificate_revoked", "cessationOfOperation"),
        (None, "certificate_revoked", "unspecified"),
    ],
)
def test_a_key_at_risk_asks_for_a_new_key(
    reason: RevocationReason | None, text: str, name: str
) -> None:
    (finding,) = current_findings(
        report(revocation=status(RevocationState.REVOKED, reason)), DEFAULTS, NOW
    )
    assert finding.translation_key == text
    assert finding.placeholders["revocation_reason"] == name


@pytest.mark.parametrize("answer", [None, status(RevocationState.UNKNOWN)])
def test_unknown_revocation_neither_raises_nor_clears(answer: RevocationStatus | None) -> None:
    checked = report(revocation=answer)
    assert REVOKED not in found(checked)
    assert REVOKED not in judged_keys(checked, DEFAULTS)


def test_good_clears_and_switched_off_clears() -> None:
    assert REVOKED in judged_keys(report(revocation=status(RevocationState.GOOD)), DEFAULTS)
    off = EndpointOptions(check_revocation=False, check_renewal_info=False)
    assert {REVOKED, RENEW_NOW} <= judged_keys(report(), off)


def test_another_certificate_served_clears_what_was_said_of_the_old_one() -> None:
    unanswered = report(revocation=status(RevocationState.UNKNOWN))
    assert {REVOKED, RENEW_NOW} <= judged_keys(unanswered, DEFAULTS, certificate_changed=True)


def test_window_ahead_or_open_is_the_normal_life_even_past_the_lifetime_rule() -> None:
    # 20 of 90 days left: the third-of-lifetime rule calls it overdue; the CA's window says not yet
    for start, end in ((DAY, 3 * DAY), (-DAY, DAY)):
        checked = report(left=20 * DAY, renewal_info=window(start, end))
        assert found(checked) == {}
        assert {OVERDUE, RENEW_NOW} <= judged_keys(checked, DEFAULTS)
    assert set(found(report(left=20 * DAY))) == {OVERDUE}


def test_window_in_the_past_is_the_ca_asking_for_renewal_now() -> None:
    url = "https://letsencrypt.org/2026/11/20/incident"
    checked = report(left=60 * DAY, renewal_info=window(-2 * DAY, -DAY, url))
    (finding,) = current_findings(checked, DEFAULTS, NOW)
    assert finding.key == RENEW_NOW
    assert finding.severity == "warning"
    assert finding.translation_key == "renewal_requested_by_ca_explained"
    assert finding.placeholders["explanation_url"] == url
    assert finding.placeholders["window_end"] == "2026-11-22 12:00 UTC"
    assert RENEWAL_REQUESTED_BY_CA.confirmations == 1
    # without a page on why, the text says nothing of one
    plain = report(renewal_info=window(-2 * DAY, -DAY))
    (finding,) = current_findings(plain, DEFAULTS, NOW)
    assert finding.translation_key == "renewal_requested_by_ca"
    # an error with a sixth of the lifetime left
    close = report(left=10 * DAY, renewal_info=window(-2 * DAY, -DAY))
    (finding,) = current_findings(close, DEFAULTS, NOW)
    assert finding.severity == "error"


def test_long_lived_certificate_with_a_passed_window_is_asked_for_too() -> None:
    checked = report(lifetime=365 * DAY, left=100 * DAY, renewal_info=window(-2 * DAY, -DAY))
    assert set(found(checked)) == {RENEW_NOW}
    # and its fixed days still apply while the window is ahead
    ahead = report(lifetime=365 * DAY, left=10 * DAY, renewal_info=window(DAY, 2 * DAY))
    assert set(found(ahead)) == {"certificate_expiring_soon"}


def test_unknown_window_keeps_the_renewal_judgement_and_leaves_the_request_open() -> None:
    garbage = RenewalInfo(unknown_reason=UnknownReason.MALFORMED, detail="garbage")
    checked = report(left=20 * DAY, renewal_info=garbage)
    assert set(found(checked)) == {OVERDUE}
    assert RENEW_NOW not in judged_keys(checked, DEFAULTS)


def test_renewal_due_is_the_end_of_the_window() -> None:
    lifetime = Lifetime(NOW - 30 * DAY, NOW + 60 * DAY)
    assert renewal_due(lifetime, DEFAULTS, UTC) == lifetime.renew_by
    ari = window(DAY, 3 * DAY)
    assert renewal_due(lifetime, DEFAULTS, UTC, ari) == NOW + 3 * DAY
    unknown = RenewalInfo(unknown_reason=UnknownReason.UNREACHABLE)
    assert renewal_due(lifetime, DEFAULTS, UTC, unknown) == lifetime.renew_by
    assert expiry_due(lifetime, Verdict.OK, DEFAULTS, NOW + 4 * DAY, ari) == (
        RENEWAL_REQUESTED_BY_CA,
        False,
    )


HOSTILE_URL = "https://ca.example/`x` [click](https://evil.example) ![i](http://127.0.0.1/t.png)"


@pytest.mark.parametrize("language", ["strings.json", "translations/zh-Hans.json"])
def test_explanation_url_renders_as_text(language: str) -> None:
    """The CA's page is shown in a code span: a hostile URL adds no link, image or code span."""
    text = _load(COMPONENT / language)["issues"]["renewal_requested_by_ca_explained"]["description"]
    (finding,) = current_findings(
        report(renewal_info=window(-2 * DAY, -DAY, HOSTILE_URL)), DEFAULTS, NOW
    )
    values = {
        name: inert(finding.placeholders.get(name, "x"), MAX_PLACEHOLDER)
        for name in icu.arguments(text)
    }
    html = MarkdownIt("commonmark").render(icu.render(text, values))
    assert "<a " not in html
    assert "<img" not in html
    assert "[click](https://evil.example)" in html
    baseline = MarkdownIt("commonmark").render(icu.render(text, dict.fromkeys(values, "x")))
    assert html.count("<code>") == baseline.count("<code>")


def test_revocation_and_window_of_one_report_are_both_said() -> None:
    checked = replace(
        report(renewal_info=window(-2 * DAY, -DAY)),
        revocation=status(RevocationState.REVOKED, RevocationReason.KEY_COMPROMISE),
    )
    assert set(found(checked)) == {REVOKED, RENEW_NOW}
