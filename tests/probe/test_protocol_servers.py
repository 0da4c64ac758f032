"""The probe against real MQTT, mail, LDAP and PostgreSQL servers (Debian packages, loopback).

For each: a healthy certificate, an expired one, STARTTLS not offered where the protocol has it,
and a server log free of errors caused by the probe (which speaks each protocol to its end).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
import re
import shutil
import tempfile

import pytest

from custom_components.tls_health.probe import (
    ProbeOptions,
    Prober,
    ProbeReport,
    Verdict,
    parse_target,
)
from tests import daemons
from tests.certs import Pki
from tests.daemons import (
    CertFiles,
    Daemon,
    Dovecot,
    Mosquitto,
    PostgresCluster,
    Slapd,
    installed,
    postgres_bin,
    running,
    service_directory,
)

HOST = "services.example.test"
DOVECOT_SCHEMES = {
    "imap": "imap",
    "imaps": "imaps",
    "pop3": "pop3",
    "pop3s": "pop3s",
    "smtp": "submission",
    "smtps": "submissions",
}


@pytest.fixture
def service_dir() -> Iterator[Path]:
    with service_directory() as directory:
        yield directory


def cert_files(pki: Pki, directory: Path, *, expired: bool = False) -> CertFiles:
    return daemons.cert_files(pki, directory, HOST, expired=expired)


async def probe(prober: Prober, pki: Pki, scheme: str, port: int) -> ProbeReport:
    """Probe with the default options of the protocol (no legacy scan, no HTTP)."""
    target = parse_target(
        f"{scheme}://{HOST}:{port}", address="127.0.0.1", ca_file=str(pki.root_file)
    )
    return await prober.probe(target, ProbeOptions(timeout=5))


def assert_clean(daemon: Daemon, since: int, closed: str, count: int = 1) -> None:
    """The server saw `count` sessions end and logged no error."""
    written = daemon.wait_for(closed, since, count)
    assert len(re.findall(closed, written)) >= count, written
    assert daemon.errors(since) == [], written


# -- Mosquitto ----------------------------------------------------------------------------------

mosquitto = pytest.mark.skipif(not installed("mosquitto"), reason="mosquitto not installed")
MOSQUITTO_CLOSED = r"Client <unknown> closed its connection"


@mosquitto
@pytest.mark.parametrize(
    ("expired", "verdict"), [(False, Verdict.OK), (True, Verdict.CERTIFICATE_EXPIRED)]
)
async def test_mosquitto(
    prober: Prober, pki: Pki, service_dir: Path, expired: bool, verdict: Verdict
) -> None:
    with running(Mosquitto(service_dir, cert_files(pki, service_dir, expired=expired))) as broker:
        since = broker.mark()
        report = await probe(prober, pki, "mqtts", broker.port)
        assert report.verdict is verdict, report.detail
        assert report.protocols.tls1_0 is None  # no legacy scan: each attempt logs an error
        assert report.http is None
        assert_clean(broker, since, MOSQUITTO_CLOSED)


@mosquitto
async def test_mosquitto_legacy_scan_logs_errors(
    prober: Prober, pki: Pki, service_dir: Path
) -> None:
    """Why the legacy scan is off by default outside HTTPS: each refused try is a logged error."""
    with running(Mosquitto(service_dir, cert_files(pki, service_dir))) as broker:
        since = broker.mark()
        target = parse_target(
            f"mqtts://{HOST}:{broker.port}", address="127.0.0.1", ca_file=str(pki.root_file)
        )
        report = await prober.probe(target, ProbeOptions(timeout=5, scan_legacy=True))
        assert report.verdict is Verdict.OK, report.detail
        assert (report.protocols.tls1_0, report.protocols.tls1_1) == (False, False)
        broker.wait_for("Protocol error", since, 2)
        assert broker.errors(since), broker.text()[since:]


@mosquitto
async def test_mosquitto_bare_host_port_is_mqtts(
    prober: Prober, pki: Pki, service_dir: Path
) -> None:
    """On 8883 a bare host:port is MQTT; elsewhere mqtts:// says so. Both close cleanly."""
    assert parse_target(f"{HOST}:8883").protocol == "mqtts"
    with running(Mosquitto(service_dir, cert_files(pki, service_dir))) as broker:
        since = broker.mark()
        report = await probe(prober, pki, "tls", broker.port)
        assert report.verdict is Verdict.OK, report.detail
        assert_clean(broker, since, MOSQUITTO_CLOSED)


# -- Dovecot: IMAP, POP3, SMTP submission -----------------------------------------------------

dovecot = pytest.mark.skipif(
    not installed("dovecot") or not Path("/usr/lib/dovecot/submission-login").exists(),
    reason="dovecot-imapd, dovecot-pop3d, dovecot-submissiond not installed",
)
DOVECOT_CLOSED = r"Disconnected: Aborted login by logging out"


@dovecot
@pytest.mark.parametrize(
    ("expired", "verdict"), [(False, Verdict.OK), (True, Verdict.CERTIFICATE_EXPIRED)]
)
async def test_dovecot_every_scheme(
    prober: Prober, pki: Pki, service_dir: Path, expired: bool, verdict: Verdict
) -> None:
    """STARTTLS and direct TLS for IMAP, POP3 and SMTP; every session ends with a goodbye."""
    with running(Dovecot(service_dir, cert_files(pki, service_dir, expired=expired))) as server:
        since = server.mark()
        for scheme, listener in DOVECOT_SCHEMES.items():
            report = await probe(prober, pki, scheme, server.port[listener])
            assert report.verdict is verdict, (scheme, report.detail)
            if scheme in ("imap", "pop3", "smtp"):
                assert report.timings.starttls_ms is not None
        assert_clean(server, since, DOVECOT_CLOSED, count=len(DOVECOT_SCHEMES))


@dovecot
async def test_dovecot_without_tls(prober: Prober, pki: Pki, service_dir: Path) -> None:
    """ssl = no: STARTTLS is not offered; a TLS scheme on those ports meets plain text."""
    with running(Dovecot(service_dir, None)) as server:
        since = server.mark()
        for scheme, listener in (("imap", "imap"), ("pop3", "pop3"), ("smtp", "submission")):
            report = await probe(prober, pki, scheme, server.port[listener])
            assert report.verdict is Verdict.STARTTLS_NOT_OFFERED, (scheme, report.detail)
            assert not report.verdict.reached_tls
        for scheme, listener in (("imaps", "imap"), ("pop3s", "pop3"), ("smtps", "submission")):
            report = await probe(prober, pki, scheme, server.port[listener])
            assert report.verdict is Verdict.PLAINTEXT_ON_TLS_PORT, (scheme, report.detail)
        # The STARTTLS probes said goodbye; the TLS ones were cut short, which is no error.
        assert_clean(server, since, DOVECOT_CLOSED, count=3)


# -- OpenLDAP -----------------------------------------------------------------------------------

slapd = pytest.mark.skipif(
    not installed("slapd") or not Path("/usr/lib/ldap/back_mdb.so").exists(),
    reason="slapd not installed",
)
SLAPD_CLOSED = r"fd=\d+ closed\n"


@slapd
@pytest.mark.parametrize(
    ("expired", "verdict"), [(False, Verdict.OK), (True, Verdict.CERTIFICATE_EXPIRED)]
)
async def test_slapd(
    prober: Prober, pki: Pki, service_dir: Path, expired: bool, verdict: Verdict
) -> None:
    with running(Slapd(service_dir, cert_files(pki, service_dir, expired=expired))) as server:
        since = server.mark()
        starttls = await probe(prober, pki, "ldap", server.port)
        direct = await probe(prober, pki, "ldaps", server.tls_port)
        assert starttls.verdict is verdict, starttls.detail
        assert direct.verdict is verdict, direct.detail
        written = server.wait_for(SLAPD_CLOSED, since, 2)
        assert written.count(" UNBIND") == 2, written
        assert_clean(server, since, SLAPD_CLOSED, count=2)


@slapd
async def test_slapd_without_tls(prober: Prober, pki: Pki, service_dir: Path) -> None:
    with running(Slapd(service_dir, None)) as server:
        since = server.mark()
        report = await probe(prober, pki, "ldap", server.port)
        assert report.verdict is Verdict.STARTTLS_NOT_OFFERED, report.detail
        written = server.wait_for(SLAPD_CLOSED, since)
        assert "UNBIND" in written, written
        # slapd answers the refused StartTLS with a non-zero result: that line is expected.
        assert [line for line in server.errors(since) if "op=0 RESULT" not in line] == [], written


# -- PostgreSQL ---------------------------------------------------------------------------------

postgres = pytest.mark.skipif(postgres_bin() is None, reason="postgresql not installed")


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    directory = Path(tempfile.mkdtemp(prefix="tls-health-pg-"))
    directory.chmod(0o755)
    try:
        yield PostgresCluster(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@postgres
@pytest.mark.parametrize(
    ("tls", "expired", "verdict"),
    [
        (True, False, Verdict.OK),
        (True, True, Verdict.CERTIFICATE_EXPIRED),
        (False, False, Verdict.STARTTLS_NOT_OFFERED),
    ],
)
async def test_postgres(
    prober: Prober,
    pki: Pki,
    service_dir: Path,
    cluster: PostgresCluster,
    tls: bool,
    expired: bool,
    verdict: Verdict,
) -> None:
    cert = cert_files(pki, service_dir, expired=expired) if tls else None
    with running(cluster.server(service_dir, cert)) as server:
        since = server.mark()
        report = await probe(prober, pki, "postgres", server.port)
        assert report.verdict is verdict, report.detail
        assert_clean(server, since, r"connection received: host=127\.0\.0\.1")
