"""Command line: one probe, printed for a person or as JSON; see scripts/probe."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
import json
import sys

from .engine import Prober
from .inert import inert
from .models import (
    CertificateInfo,
    HttpInfo,
    ProbeOptions,
    ProbeReport,
    ProtocolSupport,
    RenewalPhase,
    RevocationSource,
    RevocationState,
    Timings,
    Verdict,
    bracketed,
)
from .protocols import AppProtocol
from .target import InvalidTargetError, parse_target

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_BAD_TARGET = 2
MAX_LINE = 4096


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/probe",
        description="Inspect a TLS endpoint (HTTPS, MQTT, mail, LDAP, PostgreSQL): certificate "
        "chain, TLS, and for HTTPS the HTTP answer.",
    )
    parser.add_argument(
        "url",
        help="scheme://host[:port] or host[:port]; schemes: "
        + ", ".join(protocol.value for protocol in AppProtocol),
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    legacy = parser.add_mutually_exclusive_group()
    legacy.add_argument(
        "--legacy",
        action="store_true",
        help="scan TLS 1.0/1.1 (default for https only: other servers log each try as an error)",
    )
    legacy.add_argument("--no-legacy", action="store_true", help="skip the TLS 1.0/1.1 scan")
    parser.add_argument("--no-http", action="store_true", help="skip the HTTPS GET /")
    parser.add_argument(
        "--redirect", action="store_true", help="check that http:// redirects to https://"
    )
    parser.add_argument("--http-port", type=int, default=80, help="port of the http:// check")
    parser.add_argument("--sni", metavar="NAME", help="server name to send and verify")
    parser.add_argument("--address", metavar="IP", help="connect to this IP (no DNS)")
    parser.add_argument("--ca-file", metavar="FILE", help="extra trusted CA certificates (PEM)")
    parser.add_argument("--timeout", metavar="S", type=float, default=10.0, help="per step")
    parser.add_argument(
        "--no-revocation",
        action="store_true",
        help="skip the CRL/OCSP check (the CA learns which certificate is checked)",
    )
    parser.add_argument(
        "--no-renewal-info",
        action="store_true",
        help="skip ACME Renewal Information (asked of the CA that issued the certificate)",
    )
    parser.add_argument(
        "--acme-directory",
        metavar="URL",
        help="ACME directory of the issuing CA (default: recognised from the issuer)",
    )
    return parser.parse_args(argv)


def _timings(timings: Timings) -> str:
    return "Timings (ms): " + "  ".join(
        f"{name} {value:.1f}" if value is not None else f"{name} -"
        for name, value in (
            ("dns", timings.dns_ms),
            ("connect", timings.connect_ms),
            ("starttls", timings.starttls_ms),
            ("tls", timings.tls_ms),
            ("http", timings.http_ms),
        )
    )


def _connection(report: ProbeReport) -> list[str]:
    lines = []
    if report.address:
        lines.append(f"Address:   {report.address}")
    if report.tls_version:
        lines.append(
            f"Protocol:  {report.tls_version}  cipher {report.cipher}  ALPN {report.alpn or '-'}"
        )
    return lines


def _legacy(protocols: ProtocolSupport) -> list[str]:
    if protocols.tls1_0 is None and protocols.tls1_1 is None:
        return []
    return [
        "Legacy:    "
        + "  ".join(
            f"{name} {'accepted' if ok else 'refused' if ok is False else 'unknown'}"
            for name, ok in (("TLS 1.0", protocols.tls1_0), ("TLS 1.1", protocols.tls1_1))
        )
    ]


def _certificate(index: int, cert: CertificateInfo) -> list[str]:
    key = f"{cert.key_type} {cert.key_size or ''}".strip()
    lines = [f"  {index}  {cert.subject}", f"     issuer     {cert.issuer}"]
    if cert.sans:
        lines.append(f"     names      {', '.join(cert.sans)}")
    lines.append(
        f"     valid      {cert.not_before:%Y-%m-%d} .. {cert.not_after:%Y-%m-%d}"
        f"   key {key}   sig {cert.signature_algorithm}"
    )
    return lines


def _chain(report: ProbeReport) -> list[str]:
    if not report.chain:
        return []
    order = "" if report.chain_in_order is not False else "  (served out of order)"
    lines = ["", f"Chain as served{order}:"]
    for index, cert in enumerate(report.chain):
        lines += _certificate(index, cert)
    if report.placeholder:
        lines.append("  (a placeholder certificate)")
    return lines


def _lifetime(report: ProbeReport) -> list[str]:
    if (lifetime := report.lifetime) is None:
        return []
    days = lifetime.length.total_seconds() / 86400
    if not lifetime.renewal_aware:
        return [f"Lifetime:  {days:.0f} days, renewed by hand (judged by days before expiry)"]
    renewal = f"{lifetime.renewal_point:%Y-%m-%d %H:%M} UTC"
    return [f"Lifetime:  {days:.4g} days; an ACME client renews it at {renewal} (a third left)"]


def _revocation(report: ProbeReport) -> list[str]:
    status = report.revocation
    if status is None:
        return []
    source = (
        f" ({status.source.value.upper()})" if status.source is not RevocationSource.NONE else ""
    )
    if status.state is RevocationState.REVOKED:
        when = f" on {status.revoked_at:%Y-%m-%d %H:%M} UTC" if status.revoked_at else ""
        reason = status.reason.value if status.reason else "unspecified"
        lines = [f"Revocation: REVOKED{when}, reason {reason}{source}", f"  {status.subject}"]
    elif status.state is RevocationState.GOOD:
        lines = [f"Revocation: good{source}"]
    else:
        lines = [f"Revocation: unknown ({status.detail})"]
    lines += [
        f"  {other.subject}: {other.state.value}"
        for other in report.revocation_chain
        if other is not status and other.state is not RevocationState.UNKNOWN
    ]
    return lines


def _renewal_info(report: ProbeReport) -> list[str]:
    info = report.renewal_info
    if info is None:
        return []
    if info.window_start is None or info.window_end is None:
        return [f"Renewal:   the CA's renewal information is unknown ({info.detail})"]
    by = f" ({info.ca})" if info.ca else ""
    window = f"{info.window_start:%Y-%m-%d %H:%M} and {info.window_end:%Y-%m-%d %H:%M} UTC"
    lines = [f"Renewal:   the CA{by} suggests renewing between {window}"]
    if info.phase(report.checked_at) is RenewalPhase.PASSED:
        lines.append("           the window has passed: the CA asks for renewal now")
    if info.explanation_url:
        lines.append(f"           why: {info.explanation_url}")
    return lines


def _addresses(report: ProbeReport) -> list[str]:
    left_out = report.addresses_left_out
    if not report.addresses:
        return ["", f"Addresses: {left_out} more of this name not tried"] if left_out else []
    lines = ["", "Addresses:"]
    leaf = report.leaf
    for check in report.addresses:
        expiry = f"  expires {check.not_after:%Y-%m-%d %H:%M}" if check.not_after else ""
        same = ""
        if check.reported:
            same = "  (the report's certificate)"
        elif check.sha256 and leaf:
            same = "  same certificate" if check.sha256 == leaf.sha256 else "  OTHER certificate"
        used = "  (this probe's connection)" if check.main else ""
        lines.append(f"  {check.address:<39} {check.verdict.value}{expiry}{same}{used}")
        if check.verdict is not Verdict.OK and not check.reported:
            lines.append(f"  {'':<39} {check.detail}")
    if left_out:
        lines.append(f"  and {left_out} more, not checked")
    return lines


def _http(http: HttpInfo | None) -> list[str]:
    if http is None:
        return []
    lines = [""]
    if http.status is not None:
        hsts = f"max-age={http.hsts_max_age}" if http.hsts else "absent"
        lines.append(f"HTTP:      status {http.status}   HSTS {hsts}")
    if http.error:
        lines.append(f"HTTP:      {http.error}")
    if http.redirects_to_https is not None:
        lines.append(f"Redirect:  http:// -> https:// {'yes' if http.redirects_to_https else 'no'}")
    return lines


def format_report(report: ProbeReport) -> str:
    """Write the report for a person: verdict, timings, connection, chain and HTTP."""
    target = report.target
    lines = [
        f"{target.protocol}://{bracketed(target.host)}:{target.port}  "
        + report.verdict.value.upper(),
        f"  {report.detail}",
        "",
        _timings(report.timings),
        *_connection(report),
        *_legacy(report.protocols),
        *_chain(report),
        *_lifetime(report),
        *_revocation(report),
        *_renewal_info(report),
        *_addresses(report),
        *_http(report.http),
    ]
    # Names, details and HTTP errors come from the server: no terminal control sequences.
    return "\n".join(inert(line, MAX_LINE) for line in lines)


async def _probe(args: argparse.Namespace) -> ProbeReport:
    target = parse_target(
        args.url, server_name=args.sni, address=args.address, ca_file=args.ca_file
    )
    prober = await Prober.create()
    return await prober.probe(
        target,
        ProbeOptions(
            timeout=args.timeout,
            scan_legacy=True if args.legacy else False if args.no_legacy else None,
            check_http=not args.no_http,
            check_redirect=args.redirect,
            http_port=args.http_port,
            check_revocation=not args.no_revocation,
            check_renewal_info=not args.no_renewal_info,
            acme_directory=args.acme_directory,
        ),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one probe; exit 0 when ok, 1 otherwise, 2 for an unusable URL."""
    args = _arguments(argv)
    try:
        report = asyncio.run(_probe(args))
    except InvalidTargetError as err:
        sys.stderr.write(f"invalid target {args.url!r}: {err}\n")
        return EXIT_BAD_TARGET
    if args.json:
        sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(format_report(report) + "\n")
    return EXIT_OK if report.verdict is Verdict.OK else EXIT_PROBLEM
