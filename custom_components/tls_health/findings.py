"""What is wrong with an endpoint, derived from one check: its probe report and proxy report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta, tzinfo
from typing import Final

from . import catalogue as c
from .catalogue import Repair
from .options import EndpointOptions
from .probe import (
    AddressCheck,
    CertificateInfo,
    Lifetime,
    ProbeReport,
    RenewalInfo,
    RenewalPhase,
    RevocationReason,
    RevocationState,
    RevocationStatus,
    Verdict,
    days_until,
)
from .proxy_judgement import (
    HOP_PASSES_THROUGH,
    MOVED_HOP,
    MOVED_NOT_TRUSTED,
    SPOOFABLE_RANGE,
    ProxyFinding,
    ProxyReport,
    ProxyVerdict,
    exact_entry,
    is_public,
)
from .tracker import Finding
from .trial_judgement import HttpSettings, Outcome, ProxySettings, TrialWarning, judge_settings

# The repair of each verdict that judges a received certificate.
VERDICT_REPAIRS: Final[Mapping[Verdict, Repair]] = {
    Verdict.CERTIFICATE_EXPIRED: c.CERTIFICATE_EXPIRED,
    Verdict.CERTIFICATE_NOT_YET_VALID: c.CERTIFICATE_NOT_YET_VALID,
    Verdict.HOSTNAME_MISMATCH: c.HOSTNAME_MISMATCH,
    Verdict.INCOMPLETE_CHAIN: c.INCOMPLETE_CHAIN,
    Verdict.SELF_SIGNED: c.SELF_SIGNED_CERTIFICATE,
    Verdict.UNTRUSTED_ISSUER: c.UNTRUSTED_CERTIFICATE,
    Verdict.CHAIN_CONSTRAINT_VIOLATED: c.CHAIN_CONSTRAINT_VIOLATED,
    Verdict.CERTIFICATE_REJECTED: c.CERTIFICATE_REJECTED,
    Verdict.NO_SUBJECT_ALT_NAME: c.NO_SUBJECT_ALT_NAME,
}
# Verdicts of a server that answered without TLS: its own repair, not "unreachable".
PLAIN_TEXT_REPAIRS: Final[Mapping[Verdict, Repair]] = {
    Verdict.STARTTLS_NOT_OFFERED: c.STARTTLS_NOT_OFFERED,
    Verdict.PLAINTEXT_ON_TLS_PORT: c.PLAINTEXT_ON_TLS_PORT,
}
PLAIN_TEXT_KEYS: Final = c.keys_of(PLAIN_TEXT_REPAIRS.values())
# Repairs whose text differs for services other than HTTPS (where their certificate lives).
SERVICE_TEXTS: Final[Mapping[str, str]] = {
    c.CERTIFICATE_EXPIRED.key: "certificate_expired_service",
    c.CERTIFICATE_EXPIRING_SOON.key: "certificate_expiring_soon_service",
}
# The repair of each reverse proxy verdict that is a problem.
PROXY_REPAIRS: Final[Mapping[ProxyVerdict, Repair]] = {
    ProxyVerdict.SUPPORT_DISABLED: c.REVERSE_PROXY_SUPPORT_DISABLED,
    ProxyVerdict.PROXY_NOT_TRUSTED: c.REVERSE_PROXY_NOT_TRUSTED,
    ProxyVerdict.FORWARDED_FOR_MISSING: c.FORWARDED_FOR_MISSING,
    ProxyVerdict.FORWARDED_PROTO_MISSING: c.FORWARDED_PROTO_MISSING,
    ProxyVerdict.HOST_NOT_FORWARDED: c.HOST_NOT_FORWARDED,
    ProxyVerdict.CLIENT_IP_SPOOFABLE: c.CLIENT_IP_SPOOFABLE,
    ProxyVerdict.OUTER_HOP_NOT_TRUSTED: c.OUTER_HOP_NOT_TRUSTED,
    ProxyVerdict.WEBSOCKET_BLOCKED: c.WEBSOCKET_NOT_PROXIED,
    ProxyVerdict.UPSTREAM_UNREACHABLE: c.UPSTREAM_UNREACHABLE,
    ProxyVerdict.BANNED: c.PROXY_BANNED,
}
ENTRY_KEYS: Final = c.keys_of(c.ENTRY_REPAIRS)
# Texts that tell which address to trust, and the text for when that address is a public one.
PUBLIC_TEXTS: Final[Mapping[str, str]] = {
    c.REVERSE_PROXY_SUPPORT_DISABLED.key: "reverse_proxy_support_disabled_public",
    c.REVERSE_PROXY_NOT_TRUSTED.key: "reverse_proxy_not_trusted_public",
    MOVED_NOT_TRUSTED: "reverse_proxy_not_trusted_public",
    c.FORWARDED_FOR_MISSING.key: "forwarded_for_missing_public",
    SPOOFABLE_RANGE: "client_ip_spoofable_range_public",
    c.OUTER_HOP_NOT_TRUSTED.key: "outer_hop_not_trusted_public",
    MOVED_HOP: "outer_hop_not_trusted_public",
    HOP_PASSES_THROUGH: "outer_hop_not_trusted_passes_through_public",
    c.PROXY_BANNED.key: "proxy_banned_public",
}
# The trial warning's text by what the stable settings would do to the proxy's requests.
TRIAL_TEXTS: Final[Mapping[Outcome, str | None]] = {
    Outcome.SUPPORT_DISABLED: None,
    Outcome.PROXY_NOT_TRUSTED: "proxy_settings_on_trial_not_trusted",
    Outcome.SETTLES_ON_HOP: "proxy_settings_on_trial_hop",
}
# Placeholders whose value the probe knows better: which certificate is at fault.
PROBE_NAMED: Final = frozenset({"expected_name", "names", "subject", "issuer", "missing_issuer"})
# How RFC 5280 names each revocation reason (CRLReason): the words CAs and tools use.
REASON_NAMES: Final[Mapping[RevocationReason, str]] = {
    RevocationReason.UNSPECIFIED: "unspecified",
    RevocationReason.KEY_COMPROMISE: "keyCompromise",
    RevocationReason.CA_COMPROMISE: "cACompromise",
    RevocationReason.AFFILIATION_CHANGED: "affiliationChanged",
    RevocationReason.SUPERSEDED: "superseded",
    RevocationReason.CESSATION_OF_OPERATION: "cessationOfOperation",
    RevocationReason.CERTIFICATE_HOLD: "certificateHold",
    RevocationReason.PRIVILEGE_WITHDRAWN: "privilegeWithdrawn",
    RevocationReason.AA_COMPROMISE: "aACompromise",
}


def moment(value: datetime, zone: tzinfo | None) -> str:
    """Format a moment as texts show it: to the minute (short certificates need the hour)."""
    return f"{value.astimezone(zone):%Y-%m-%d %H:%M %Z}".rstrip()


def known_window(renewal_info: RenewalInfo | None) -> RenewalInfo | None:
    """Return the CA's renewal information when it gave a window."""
    return renewal_info if renewal_info is not None and renewal_info.known else None


def deadline(value: datetime, zone: tzinfo | None) -> str:
    """Format a deadline minutes away: to the second."""
    return f"{value.astimezone(zone):%Y-%m-%d %H:%M:%S %Z}".rstrip()


def renewal_due(
    lifetime: Lifetime,
    options: EndpointOptions,
    zone: tzinfo | None,
    window: RenewalInfo | None = None,
) -> datetime:
    """When a certificate still served raises a repair: the CA's window, renewal-aware, or days.

    A certificate renewed automatically is due at the end of the CA's suggested renewal window
    when the CA gave one (ACME Renewal Information), else at its renew_by. Fixed days count
    calendar days in `zone`: the warning starts at the local midnight from which `warning_days`
    or fewer are left.
    """
    if lifetime.renewal_aware:
        if (known := known_window(window)) is not None and known.window_end is not None:
            return known.window_end
        return lifetime.renew_by
    last_day = lifetime.not_after.astimezone(zone).date()
    start = datetime.combine(last_day - timedelta(days=options.warning_days), time())
    return start.replace(tzinfo=zone) if zone is not None else start.astimezone()


def issue_placeholders(report: ProbeReport, now: datetime) -> dict[str, str]:
    """Values for every endpoint placeholder: from the certificate, then the probe's details."""
    target = report.target
    leaf = report.leaf
    expiry = report.earliest_expiry
    days = days_until(expiry, now) if expiry else None
    lifetime = report.lifetime
    protocols = report.protocols
    values = {
        "host": target.expected_name,
        "endpoint": f"{target.host}:{target.port}",
        "detail": report.detail,
        "expected_name": target.expected_name,
        "names": (", ".join(leaf.sans) or leaf.common_name or leaf.subject) if leaf else "",
        "subject": leaf.subject if leaf else "",
        "issuer": leaf.issuer if leaf else "",
        "missing_issuer": leaf.issuer if leaf else "",
        "days": "" if days is None else str(days),
        "days_expired": "" if days is None else str(max(-days, 0)),
        "expiry": expiry.astimezone(now.tzinfo).date().isoformat() if expiry else "",
        "scheme": str(target.protocol),
        "expires_at": moment(expiry, now.tzinfo) if expiry else "",
        "renew_by": moment(lifetime.renew_by, now.tzinfo) if lifetime else "",
        "versions": ", ".join(
            name
            for name, accepted in (("TLS 1.0", protocols.tls1_0), ("TLS 1.1", protocols.tls1_1))
            if accepted
        ),
        "cause": _cause(report),
        "fault": _fault(report),
        "not_before": _not_before(report, now),
    }
    # The probe knows which certificate is at fault; day counts stay those of the sensors.
    values.update(
        {key: value for key, value in report.details.items() if key in PROBE_NAMED and value}
    )
    return values


def _cause(report: ProbeReport) -> str:
    """Return the verdict, with the TLS library's reason when there is one."""
    reason = report.details.get("reason")
    return f"{report.verdict.value}: {reason}" if reason else report.verdict.value


def _fault(report: ProbeReport) -> str:
    """Return the rule a refused certificate breaks (a code), and which certificate it is."""
    rule = report.details.get("rule") or report.verdict.value
    subject = report.details.get("subject")
    return f"{rule}: {subject}" if subject else rule


def _not_before(report: ProbeReport, now: datetime) -> str:
    """Return the local date from which the certificate at fault is valid."""
    try:
        moment = datetime.fromisoformat(report.details.get("not_before", ""))
    except ValueError:
        return ""
    return moment.astimezone(now.tzinfo).date().isoformat()


@dataclass(frozen=True, slots=True)
class FileCertificate:
    """The first certificate of the file named in the options; None fields when unreadable."""

    path: str
    sha256: str | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None


def renewed_but_not_served(
    sha256: str | None, not_before: datetime | None, served: CertificateInfo
) -> bool:
    """Whether a file holds a newer certificate than the one served: the server kept the old."""
    return (
        sha256 is not None
        and sha256 != served.sha256
        and not_before is not None
        and served.not_before < not_before
    )


def judged_keys(
    report: ProbeReport,
    options: EndpointOptions,
    proxy: ProxyReport | None = None,
    certificate_file: FileCertificate | None = None,
    *,
    certificate_changed: bool = False,
) -> frozenset[str]:
    """Repair keys this check can confirm or clear.

    An unreachable endpoint says nothing about its certificate or protocols, of the proxy only
    the sub-checks its check could decide are judged, and a certificate file that could not be
    read says nothing. Revocation and the CA's renewal window are judged when the CA's answer
    was proven, when their check is switched off, and when another certificate is served than
    the one they were about; an unknown answer neither raises nor clears.
    """
    if report.verdict in PLAIN_TEXT_REPAIRS:
        # It answered: reachable, and whether it speaks TLS is known.
        return frozenset({c.ENDPOINT_UNREACHABLE.key, *PLAIN_TEXT_KEYS})
    if not report.verdict.reached_tls:
        return frozenset({c.ENDPOINT_UNREACHABLE.key})
    keys = set(ENTRY_KEYS) - c.PROXY_KEYS
    if proxy is not None:
        keys |= {PROXY_REPAIRS[verdict].key for verdict in proxy.judged_verdicts}
    if not report.chain:  # a certificate that cannot be parsed: its expiry is unknown
        keys.discard(c.CERTIFICATE_EXPIRING_SOON.key)
        keys.discard(c.CERTIFICATE_RENEWAL_OVERDUE.key)
    revocation = report.revocation
    if (
        options.check_revocation
        and not certificate_changed
        and (revocation is None or revocation.state is RevocationState.UNKNOWN)
    ):
        keys.discard(c.CERTIFICATE_REVOKED.key)
    if (
        options.check_renewal_info
        and not certificate_changed
        and known_window(report.renewal_info) is None
    ):
        keys.discard(c.RENEWAL_REQUESTED_BY_CA.key)
    if options.certificate_file is not None and (
        certificate_file is None or certificate_file.sha256 is None
    ):
        keys.discard(c.STALE_SERVED_CERTIFICATE.key)
    protocols = report.protocols
    # Cleared only when both versions were refused; raised when either was accepted.
    if (
        options.scan_legacy
        and not protocols.legacy_enabled
        and None
        in (
            protocols.tls1_0,
            protocols.tls1_1,
        )
    ):
        keys.discard(c.LEGACY_TLS_ENABLED.key)
    if any(check.verdict is Verdict.NETWORK_UNREACHABLE for check in report.addresses):
        keys.discard(c.ADDRESS_NOT_ANSWERING.key)
    return frozenset(keys)


def current_findings(
    report: ProbeReport,
    options: EndpointOptions,
    now: datetime,
    proxy: ProxyReport | None = None,
    certificate_file: FileCertificate | None = None,
) -> list[Finding]:
    """Every problem this one check shows."""
    placeholders = issue_placeholders(report, now)
    if (repair := PLAIN_TEXT_REPAIRS.get(report.verdict)) is not None:
        return [Finding(repair, placeholders)]
    if not report.verdict.reached_tls:
        return [Finding(c.ENDPOINT_UNREACHABLE, placeholders)]
    found: list[Finding] = []
    service = not report.target.protocol.spec.http
    if (repair := VERDICT_REPAIRS.get(report.verdict)) is not None:
        found.append(Finding(repair, placeholders, text=_text(repair, service=service)))
    if (expiring := _expiring(report, options, now)) is not None:
        repair, critical = expiring
        if repair is c.RENEWAL_REQUESTED_BY_CA:
            renewal = _renewal_placeholders(report, now)
            text = repair.texts[1] if renewal.get("explanation_url") else None
            found.append(Finding(repair, {**placeholders, **renewal}, critical=critical, text=text))
        else:
            found.append(
                Finding(
                    repair, placeholders, critical=critical, text=_text(repair, service=service)
                )
            )
    if (status := revoked(report)) is not None:
        found.append(
            Finding(
                c.CERTIFICATE_REVOKED,
                {**placeholders, **revocation_placeholders(status, now.tzinfo)},
                text=revoked_text(status, c.CERTIFICATE_REVOKED),
            )
        )
    found += _address_findings(report, options, now, placeholders)
    if (
        certificate_file is not None
        and (stale := _stale(report, certificate_file, now)) is not None
    ):
        found.append(Finding(c.STALE_SERVED_CERTIFICATE, {**placeholders, **stale}))
    if options.scan_legacy and report.protocols.legacy_enabled:
        found.append(Finding(c.LEGACY_TLS_ENABLED, placeholders))
    if proxy is not None:
        found.extend(proxy_findings(proxy, placeholders))
    return found


def _silent(check: AddressCheck) -> bool:
    """Whether an address did not answer TLS for a reason that is the server's."""
    return not check.verdict.reached_tls and check.verdict is not Verdict.NETWORK_UNREACHABLE


def proxy_findings(proxy: ProxyReport, placeholders: Mapping[str, str]) -> list[Finding]:
    """One finding per failing sub-check of the proxy check."""
    found = proxy.findings
    if not found and proxy.verdict in PROXY_REPAIRS:
        found = (ProxyFinding(proxy.verdict, proxy.detail),)  # a report made by hand
    return [
        Finding(
            PROXY_REPAIRS[finding.verdict],
            {**placeholders, **proxy_placeholders(proxy, finding)},
            text=_proxy_text(finding, proxy),
        )
        for finding in found
        if finding.verdict in PROXY_REPAIRS
    ]


def _proxy_text(finding: ProxyFinding, proxy: ProxyReport) -> str | None:
    """Return the finding's text; a public address to trust gets one that advises no trust."""
    text = finding.cause or PROXY_REPAIRS[finding.verdict].key
    # The address a text would have trusted: a hop in front of the proxy, or the proxy.
    address = finding.placeholders.get("hop") or proxy.proxy_address
    if text in PUBLIC_TEXTS and is_public(address):
        return PUBLIC_TEXTS[text]
    return finding.cause or None


def _text(repair: Repair, *, service: bool) -> str | None:
    """Return the text for a service other than HTTPS, where the repair has one."""
    return SERVICE_TEXTS.get(repair.key) if service else None


def _address_findings(
    report: ProbeReport, options: EndpointOptions, now: datetime, placeholders: dict[str, str]
) -> list[Finding]:
    """Addresses of the name that do not answer, or serve different certificates.

    The report describes the worst certificate the addresses served, whichever address the
    check connected to; each finding lists its addresses in order, so that it reads the same
    from check to check. An address that does not answer is a problem for the clients that
    pick it. Another certificate is one only when some address serves a certificate that is
    wrong or due for renewal: sites behind several servers may serve different valid
    certificates on purpose.
    """
    reported = next((check for check in report.addresses if check.reported), None) or next(
        (check for check in report.addresses if check.main), None
    )
    if reported is None:
        return []
    found: list[Finding] = []
    # An address this Home Assistant has no route to (e.g. IPv6 in a container without it) says
    # nothing about the clients that do: it is judged neither way (see judged_keys).
    if silent := sorted(
        (check for check in report.addresses if _silent(check)), key=lambda check: check.address
    ):
        listed = ", ".join(f"{check.address} ({check.verdict})" for check in silent)
        found.append(
            Finding(
                c.ADDRESS_NOT_ANSWERING,
                {**placeholders, "addresses": listed, "served_address": reported.address},
            )
        )
    serving = sorted(
        (check for check in report.addresses if check.verdict.reached_tls),
        key=lambda check: check.address,
    )
    if len({check.sha256 for check in serving}) < 2:  # noqa: PLR2004
        return found
    problems = [check for check in serving if check.verdict is not Verdict.OK]
    leaf = report.leaf
    due = [
        check
        for check in serving
        if check.lifetime is not None
        and expiry_due(
            check.lifetime,
            check.verdict,
            options,
            now,
            # the CA's window is about the certificate the main connection received
            report.renewal_info if leaf is not None and check.sha256 == leaf.sha256 else None,
        )
        is not None
    ]
    if problems or due:
        listed = ", ".join(
            f"{check.address} ({check.verdict}"
            + (f", {moment(check.not_after, now.tzinfo)})" if check.not_after else ")")
            for check in serving
        )
        found.append(
            Finding(
                c.ADDRESS_OTHER_CERTIFICATE,
                {**placeholders, "addresses": listed},
                critical=bool(problems),
            )
        )
    return found


def _stale(report: ProbeReport, file: FileCertificate, now: datetime) -> dict[str, str] | None:
    """Placeholders when the file holds a newer certificate than the one served."""
    served = report.leaf
    if served is None or not renewed_but_not_served(file.sha256, file.not_before, served):
        return None
    return {
        "path": file.path,
        "served_until": moment(served.not_after, now.tzinfo),
        "file_until": moment(file.not_after, now.tzinfo) if file.not_after else "",
    }


def _expiring(
    report: ProbeReport, options: EndpointOptions, now: datetime
) -> tuple[Repair, bool] | None:
    """Return the expiry repair due now and whether it is critical; None in its normal life."""
    lifetime = report.lifetime
    if lifetime is None:
        return None
    return expiry_due(lifetime, report.verdict, options, now, report.renewal_info)


def expiry_due(
    lifetime: Lifetime,
    verdict: Verdict,
    options: EndpointOptions,
    now: datetime,
    window: RenewalInfo | None = None,
) -> tuple[Repair, bool] | None:
    """Return the expiry repair due now and whether it is critical; None in its normal life.

    When the CA gave a renewal window (ACME Renewal Information), a certificate still served
    after its end is one the CA asks to renew now. Otherwise a certificate of at most 200 days
    is renewed automatically: it is overdue once past its renewal point (with slack); a longer
    one is renewed by hand and judged by the warning days. Either is critical with a sixth of
    its lifetime or the critical days left.
    """
    if verdict in (Verdict.CERTIFICATE_EXPIRED, Verdict.CERTIFICATE_NOT_YET_VALID):
        return None
    days = days_until(lifetime.not_after, now)
    critical = (
        now >= lifetime.critical_from if lifetime.renewal_aware else days <= options.critical_days
    )
    known = known_window(window)
    if known is not None and known.phase(now) is RenewalPhase.PASSED:
        return c.RENEWAL_REQUESTED_BY_CA, critical
    if lifetime.renewal_aware:
        # The CA's window, when known, replaces the third-of-lifetime rule.
        if known is not None or now < lifetime.renew_by:
            return None
        return c.CERTIFICATE_RENEWAL_OVERDUE, critical
    if days > options.warning_days:
        return None
    return c.CERTIFICATE_EXPIRING_SOON, critical


def revoked(report: ProbeReport) -> RevocationStatus | None:
    """Return the status of the revoked certificate of the chain, when the CA proved one."""
    status = report.revocation
    return status if status is not None and status.state is RevocationState.REVOKED else None


def revocation_placeholders(status: RevocationStatus, zone: tzinfo | None) -> dict[str, str]:
    """Which certificate the CA revoked, why and when, and where it said so."""
    reason = status.reason or RevocationReason.UNSPECIFIED
    return {
        "revoked_subject": status.subject,
        "serial": status.serial,
        "revocation_reason": REASON_NAMES[reason],
        "revoked_at": moment(status.revoked_at, zone) if status.revoked_at else "",
        "revocation_source": status.source.value.upper(),
    }


def revoked_text(status: RevocationStatus, repair: Repair) -> str | None:
    """Return the text that also asks for a new key when the reason says a key may be known."""
    if status.reason is not None and status.reason.key_at_risk:
        return repair.texts[1]
    return None


def _renewal_placeholders(report: ProbeReport, now: datetime) -> dict[str, str]:
    """Return the CA's renewal window and its page on why, for renewal_requested_by_ca."""
    info = known_window(report.renewal_info)
    if info is None or info.window_start is None or info.window_end is None:
        return {}
    return {
        "window_start": moment(info.window_start, now.tzinfo),
        "window_end": moment(info.window_end, now.tzinfo),
        "explanation_url": info.explanation_url or "",
    }


def proxy_placeholders(proxy: ProxyReport, finding: ProxyFinding) -> dict[str, str]:
    """Return the proxy's address, the trusted_proxies entry trusting just it, the finding's."""
    seen_host = proxy.observation.host if proxy.observation is not None else ""
    return {
        **address_placeholders(proxy.proxy_address or ""),
        "detail": finding.detail,
        "seen_host": seen_host,
        **finding.placeholders,
    }


def address_placeholders(address: str) -> dict[str, str]:
    """Return a proxy's address and the trusted_proxies entry that trusts exactly it."""
    return {"proxy_address": address, "trusted_entry": exact_entry(address)}


def settings_findings(
    found: list[Finding],
    report: ProbeReport,
    proxy: ProxyReport | None,
    settings: HttpSettings,
    now: datetime,
) -> list[Finding]:
    """Read a check's findings against HA's HTTP settings: the saved and the tried ones.

    A proxy repair that the saved settings resolve once applied says so instead of asking for
    the change again; one that settings tried and reverted had resolved says that this is why
    the proxy broke. A proxy that works only thanks to settings on trial gets a warning.
    Public addresses keep their own texts, which advise no trust.
    """
    judgement = judge_settings(proxy, settings)
    values = settings_placeholders(settings, now.tzinfo)
    suffixes = {PROXY_REPAIRS[verdict].key: suffix for verdict, suffix in judgement.texts.items()}
    read = [
        replace(
            finding,
            placeholders={
                **finding.placeholders,
                **values,
                **trusted_by(settings.pending, finding.placeholders),
            },
            text=f"{finding.key}{suffixes[finding.key]}",
        )
        if finding.key in suffixes and finding.translation_key == finding.key
        else finding
        for finding in found
    ]
    if proxy is not None and judgement.trial is not None:
        placeholders = {**issue_placeholders(report, now), **values}
        read.append(trial_finding(proxy, judgement.trial, placeholders, settings.pending))
    return read


def trusted_by(saved: ProxySettings | None, placeholders: Mapping[str, str]) -> dict[str, str]:
    """Return the entries of the saved settings that trust the proxy and the hop a text names.

    The texts about saved, tried or reverted settings quote what those settings trust, which
    may be a wider entry than the one address the repair advises.
    """
    if saved is None:
        return {}
    quoted = {
        "trusted_entry": saved.entries_holding(placeholders.get("proxy_address", "")),
        "hop_entry": saved.entries_holding(placeholders.get("hop", "")),
    }
    return {key: value for key, value in quoted.items() if value}


def settings_keys(proxy: ProxyReport | None, settings: HttpSettings) -> frozenset[str]:
    """Return the trial warning's key when HA's settings and this check can judge it.

    It is cleared as soon as no trial runs; on a trial, only a check that reached Home Assistant
    judges it.
    """
    if judge_settings(proxy, settings).trial_judged:
        return frozenset({c.PROXY_SETTINGS_ON_TRIAL.key})
    return frozenset()


def trial_finding(
    proxy: ProxyReport,
    trial: TrialWarning,
    placeholders: Mapping[str, str],
    on_trial: ProxySettings | None,
) -> Finding:
    """Return the warning that the proxy works only until HA reverts the settings on trial.

    Its texts quote what the settings on trial trust (`on_trial`, HA's pending slot).
    """
    hop = trial.address if trial.outcome is Outcome.SETTLES_ON_HOP else ""
    text = TRIAL_TEXTS[trial.outcome]
    if is_public(trial.address):
        text = "proxy_settings_on_trial_public"
    values = {
        **placeholders,
        **address_placeholders(proxy.proxy_address or ""),
        "hop": hop,
        "previous_hop": trial.previous_hop,
        "hop_entry": exact_entry(hop),
        "trusted_address": trial.address,
    }
    return Finding(c.PROXY_SETTINGS_ON_TRIAL, {**values, **trusted_by(on_trial, values)}, text=text)


def settings_placeholders(settings: HttpSettings, zone: tzinfo | None) -> dict[str, str]:
    """Return when HA's pending settings were saved, and when their trial ends.

    Always both: a text whose placeholder is missing would not render.
    """
    return {
        "saved_at": moment(settings.saved_at, zone) if settings.saved_at else "",
        "revert_at": deadline(settings.revert_at, zone) if settings.revert_at else "",
    }
