"""Command line: `python -m custom_components.tls_health.probe URL [options]`; see scripts/probe."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
import json
import sys

from .engine import Prober
from .models import ProbeReport, Verdict
from .target import InvalidTargetError, parse_target

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_BAD_TARGET = 2


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/probe",
        description="Inspect the HTTPS front door of a host: certificate chain, TLS, HTTP.",
    )
    parser.add_argument("url", help="https://host[:port] or host[:port]")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--no-legacy", action="store_true", help="skip the TLS 1.0/1.1 scan")
    parser.add_argument("--no-http", action="store_true", help="skip the HTTPS GET /")
    parser.add_argument(
        "--redirect", action="store_true", help="check that http:// redirects to https://"
    )
    parser.add_argument("--http-port", type=int, default=80, help="port of the http:// check")
    parser.add_argument("--sni", metavar="NAME", help="server name to send and verify")
    parser.add_argument("--address", metavar="IP", help="connect to this IP (no DNS)")
    parser.add_argument("--ca-file", metavar="FILE", help="extra trusted CA certificates (PEM)")
    parser.add_argument("--timeout", metavar="S", type=float, default=10.0, help="per step")
    return parser.parse_args(argv)


def _format(report: ProbeReport) -> str:
    target = report.target
    timings = report.timings
    lines = [
        f"{target.host}:{target.port}  {report.verdict.value.upper()}",
        f"  {report.detail}",
        "",
        "Timings (ms): "
        + "  ".join(
            f"{name} {value:.1f}" if value is not None else f"{name} -"
            for name, value in (
                ("dns", timings.dns_ms),
                ("connect", timings.connect_ms),
                ("tls", timings.tls_ms),
                ("http", timings.http_ms),
            )
        ),
    ]
    if report.address:
        lines.append(f"Address:   {report.address}")
    if report.tls_version:
        lines.append(
            f"Protocol:  {report.tls_version}  cipher {report.cipher}  ALPN {report.alpn or '-'}"
        )
    protocols = report.protocols
    if protocols.tls1_0 is not None or protocols.tls1_1 is not None:
        lines.append(
            "Legacy:    "
            + "  ".join(
                f"{name} {'accepted' if ok else 'refused' if ok is False else 'unknown'}"
                for name, ok in (("TLS 1.0", protocols.tls1_0), ("TLS 1.1", protocols.tls1_1))
            )
        )
    if report.chain:
        order = "" if report.chain_in_order is not False else "  (served out of order)"
        lines += ["", f"Chain as served{order}:"]
        for index, cert in enumerate(report.chain):
            key = f"{cert.key_type} {cert.key_size or ''}".strip()
            lines.append(f"  {index}  {cert.subject}")
            lines.append(f"     issuer     {cert.issuer}")
            if cert.sans:
                lines.append(f"     names      {', '.join(cert.sans)}")
            lines.append(
                f"     valid      {cert.not_before:%Y-%m-%d} .. {cert.not_after:%Y-%m-%d}"
                f"   key {key}   sig {cert.signature_algorithm}"
            )
        if report.placeholder:
            lines.append("  (a placeholder certificate)")
    if report.http is not None:
        http = report.http
        lines.append("")
        if http.status is not None:
            hsts = f"max-age={http.hsts_max_age}" if http.hsts else "absent"
            lines.append(f"HTTP:      status {http.status}   HSTS {hsts}")
        if http.error:
            lines.append(f"HTTP:      {http.error}")
        if http.redirects_to_https is not None:
            lines.append(
                f"Redirect:  http:// -> https:// {'yes' if http.redirects_to_https else 'no'}"
            )
    return "\n".join(lines)


async def _probe(args: argparse.Namespace) -> ProbeReport:
    target = parse_target(
        args.url, server_name=args.sni, address=args.address, ca_file=args.ca_file
    )
    prober = await Prober.create()
    return await prober.probe(
        target,
        timeout=args.timeout,
        scan_legacy=not args.no_legacy,
        check_http=not args.no_http,
        check_redirect=args.redirect,
        http_port=args.http_port,
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
        sys.stdout.write(_format(report) + "\n")
    return EXIT_OK if report.verdict is Verdict.OK else EXIT_PROBLEM


if __name__ == "__main__":
    sys.exit(main())
