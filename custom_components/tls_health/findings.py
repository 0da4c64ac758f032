"""What is wrong with an endpoint, derived from one probe report and the entry's options."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
import math
from typing import Any

from homeassistant.helpers.issue_registry import IssueSeverity

from .const import (
    CONF_CRITICAL_DAYS,
    CONF_SCAN_LEGACY,
    CONF_WARNING_DAYS,
    CONFIRMATIONS,
    DEFAULT_CRITICAL_DAYS,
    DEFAULT_SCAN_LEGACY,
    DEFAULT_WARNING_DAYS,
    UNREACHABLE_CONFIRMATIONS,
)
from .probe import ProbeReport, Verdict
from .proxy import ProxyReport, ProxyVerdict

# Repair translation keys (a public contract) for the verdicts that judge a received certificate.
VERDICT_ISSUES: Mapping[Verdict, str] = {
    Verdict.CERTIFICATE_EXPIRED: "certificate_expired",
    Verdict.CERTIFICATE_NOT_YET_VALID: "certificate_not_yet_valid",
    Verdict.HOSTNAME_MISMATCH: "hostname_mismatch",
    Verdict.INCOMPLETE_CHAIN: "incomplete_chain",
    Verdict.SELF_SIGNED: "self_signed_certificate",
    Verdict.UNTRUSTED_ISSUER: "untrusted_certificate",
}
CERTIFICATE_EXPIRING_SOON = "certificate_expiring_soon"
LEGACY_TLS_ENABLED = "legacy_tls_enabled"
ENDPOINT_UNREACHABLE = "endpoint_unreachable"
# Repairs for what Home Assistant receives through the endpoint's reverse proxy.
PROXY_ISSUES: Mapping[ProxyVerdict, tuple[str, IssueSeverity]] = {
    ProxyVerdict.SUPPORT_DISABLED: ("reverse_proxy_support_disabled", IssueSeverity.ERROR),
    ProxyVerdict.PROXY_NOT_TRUSTED: ("reverse_proxy_not_trusted", IssueSeverity.ERROR),
    ProxyVerdict.FORWARDED_FOR_MISSING: ("forwarded_for_missing", IssueSeverity.WARNING),
    ProxyVerdict.FORWARDED_PROTO_MISSING: ("forwarded_proto_missing", IssueSeverity.WARNING),
    ProxyVerdict.HOST_NOT_FORWARDED: ("host_not_forwarded", IssueSeverity.WARNING),
    ProxyVerdict.CLIENT_IP_SPOOFABLE: ("client_ip_spoofable", IssueSeverity.ERROR),
    ProxyVerdict.WEBSOCKET_BLOCKED: ("websocket_not_proxied", IssueSeverity.ERROR),
}
PROXY_KEYS = frozenset(key for key, _ in PROXY_ISSUES.values())
ISSUE_KEYS = (
    *VERDICT_ISSUES.values(),
    CERTIFICATE_EXPIRING_SOON,
    LEGACY_TLS_ENABLED,
    ENDPOINT_UNREACHABLE,
    *(key for key, _ in PROXY_ISSUES.values()),
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem, with the placeholders its repair text needs."""

    key: str
    severity: IssueSeverity
    placeholders: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def confirmations(self) -> int:
        """Consecutive checks that must see this before it is raised."""
        return UNREACHABLE_CONFIRMATIONS if self.key == ENDPOINT_UNREACHABLE else CONFIRMATIONS


def days_until(moment: datetime, now: datetime) -> int:
    """Whole days left until `moment`: 0 on its last day, negative once past."""
    return math.floor((moment - now).total_seconds() / 86400)


# Every placeholder the repair texts may use: `title` is the entry's title, added when raised;
# the rest (networks, path, ...) belong to the repairs about Home Assistant's own http settings.
ISSUE_PLACEHOLDERS = frozenset(
    {
        "title",
        "host",
        "endpoint",
        "detail",
        "expected_name",
        "names",
        "subject",
        "issuer",
        "missing_issuer",
        "days",
        "days_expired",
        "expiry",
        "versions",
        "proxy_address",
        "trusted_entry",
        "networks",
        "path",
        "reason",
        "key_path",
        "file_until",
        "served_until",
    }
)


PROBE_NAMED = frozenset({"expected_name", "names", "subject", "issuer", "missing_issuer"})


def issue_placeholders(report: ProbeReport, now: datetime) -> dict[str, str]:
    """Values for every placeholder: from the certificate, overridden by the probe's details."""
    target = report.target
    leaf = report.leaf
    expiry = report.earliest_expiry
    days = days_until(expiry, now) if expiry else None
    protocols = report.protocols
    values = {
        "proxy_address": "",
        "trusted_entry": "",
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
        "expiry": expiry.date().isoformat() if expiry else "",
        "versions": ", ".join(
            name
            for name, accepted in (("TLS 1.0", protocols.tls1_0), ("TLS 1.1", protocols.tls1_1))
            if accepted
        ),
    }
    # The probe knows which certificate is at fault; day counts stay those of the sensors.
    values.update(
        {key: value for key, value in report.details.items() if key in PROBE_NAMED and value}
    )
    return values


def judged_keys(
    report: ProbeReport, options: Mapping[str, Any], proxy: ProxyReport | None = None
) -> frozenset[str]:
    """Issue keys this check can confirm or clear.

    An unreachable endpoint says nothing about its certificate or protocols, and the proxy is
    judged only when its check ran.
    """
    if not report.verdict.reached_tls:
        return frozenset({ENDPOINT_UNREACHABLE})
    keys = set(ISSUE_KEYS)
    if proxy is None:
        keys -= PROXY_KEYS
    protocols = report.protocols
    if (
        options.get(CONF_SCAN_LEGACY, DEFAULT_SCAN_LEGACY)
        and protocols.tls1_0 is None
        and protocols.tls1_1 is None
    ):
        keys.discard(LEGACY_TLS_ENABLED)
    return frozenset(keys)


def current_findings(
    report: ProbeReport,
    options: Mapping[str, Any],
    now: datetime,
    proxy: ProxyReport | None = None,
) -> list[Finding]:
    """Every problem this one check shows."""
    placeholders = issue_placeholders(report, now)
    if not report.verdict.reached_tls:
        return [Finding(ENDPOINT_UNREACHABLE, IssueSeverity.ERROR, placeholders)]
    found: list[Finding] = []
    if (key := VERDICT_ISSUES.get(report.verdict)) is not None:
        found.append(Finding(key, IssueSeverity.ERROR, placeholders))
    if (expiry := report.earliest_expiry) is not None and report.verdict not in (
        Verdict.CERTIFICATE_EXPIRED,
        Verdict.CERTIFICATE_NOT_YET_VALID,
    ):
        days = days_until(expiry, now)
        if days <= options.get(CONF_WARNING_DAYS, DEFAULT_WARNING_DAYS):
            critical = days <= options.get(CONF_CRITICAL_DAYS, DEFAULT_CRITICAL_DAYS)
            found.append(
                Finding(
                    CERTIFICATE_EXPIRING_SOON,
                    IssueSeverity.ERROR if critical else IssueSeverity.WARNING,
                    placeholders,
                )
            )
    if options.get(CONF_SCAN_LEGACY, DEFAULT_SCAN_LEGACY) and report.protocols.legacy_enabled:
        found.append(Finding(LEGACY_TLS_ENABLED, IssueSeverity.WARNING, placeholders))
    if proxy is not None and (issue := PROXY_ISSUES.get(proxy.verdict)) is not None:
        found.append(Finding(*issue, {**placeholders, **proxy_placeholders(proxy)}))
    return found


def proxy_placeholders(proxy: ProxyReport) -> dict[str, str]:
    """Return the proxy's address and the trusted_proxies entry that trusts exactly it."""
    return {**address_placeholders(proxy.proxy_address or ""), "detail": proxy.detail}


def address_placeholders(address: str) -> dict[str, str]:
    """Return a proxy's address and the trusted_proxies entry that trusts exactly it."""
    return {
        "proxy_address": address,
        "trusted_entry": f"{address}/{128 if ':' in address else 32}" if address else "",
    }
