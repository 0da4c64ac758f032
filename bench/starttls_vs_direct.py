"""Cost of a STARTTLS probe compared with a bare handshake on the same real server.

Run from the repository root:  .venv/bin/python bench/starttls_vs_direct.py [N]

Starts Dovecot (IMAP, POP3, SMTP submission) and slapd on loopback with a test certificate
(tests/daemons.py; the servers come from scripts/setup), then, round by round, probes each
protocol three ways: `tls://` on its direct-TLS port (handshake only, then close_notify), its
direct-TLS scheme (handshake, then the protocol's goodbye) and its STARTTLS scheme (greeting,
capabilities, upgrade, handshake, goodbye). Medians per way, and ratios to the bare handshake.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from custom_components.tls_health.probe import ProbeOptions, Prober, Verdict, parse_target
from tests.certs import Pki
from tests.daemons import Dovecot, Slapd, cert_files, running, service_directory

HOST = "bench.example.test"


async def rounds(cases: dict[str, list[str]], ca_file: str, count: int) -> dict[str, list[float]]:
    prober = await Prober.create()
    options = ProbeOptions(timeout=5)
    times: dict[str, list[float]] = {url: [] for urls in cases.values() for url in urls}
    for _ in range(count):
        for urls in cases.values():
            for url in urls:
                target = parse_target(url, address="127.0.0.1", ca_file=ca_file)
                started = time.perf_counter()
                report = await prober.probe(target, options)
                times[url].append((time.perf_counter() - started) * 1000)
                if report.verdict is not Verdict.OK:
                    raise SystemExit(f"{url}: {report.verdict} {report.detail}")
    return times


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    with tempfile.TemporaryDirectory() as pki_dir, service_directory() as directory:
        pki = Pki(Path(pki_dir))
        cert = cert_files(pki, directory, HOST)
        ldap_dir = directory / "ldap"
        ldap_dir.mkdir()
        with running(Dovecot(directory, cert)) as mail, running(Slapd(ldap_dir, cert)) as ldap:
            port = mail.port
            cases = {
                "IMAP": [
                    f"tls://{HOST}:{port['imaps']}",
                    f"imaps://{HOST}:{port['imaps']}",
                    f"imap://{HOST}:{port['imap']}",
                ],
                "POP3": [
                    f"tls://{HOST}:{port['pop3s']}",
                    f"pop3s://{HOST}:{port['pop3s']}",
                    f"pop3://{HOST}:{port['pop3']}",
                ],
                "SMTP": [
                    f"tls://{HOST}:{port['submissions']}",
                    f"smtps://{HOST}:{port['submissions']}",
                    f"smtp://{HOST}:{port['submission']}",
                ],
                "LDAP": [
                    f"tls://{HOST}:{ldap.tls_port}",
                    f"ldaps://{HOST}:{ldap.tls_port}",
                    f"ldap://{HOST}:{ldap.port}",
                ],
            }
            times = asyncio.run(rounds(cases, str(pki.root_file), count))
    print(f"{count} rounds; median ms (ratio to the bare handshake)")
    print("| protocol | bare `tls://` | direct TLS + goodbye | STARTTLS + goodbye |")
    print("|---|---|---|---|")
    for name, urls in cases.items():
        medians = [statistics.median(times[url]) for url in urls]
        cells = [f"{value:.2f} ({value / medians[0]:.2f}x)" for value in medians]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
