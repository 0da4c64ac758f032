"""Revocation and renewal information against real authorities.

A real `openssl ca` issues and revokes, nginx serves its CRLs, `openssl ocsp` answers for it, and
an ACME Renewal Information server speaks RFC 9773's JSON. Hostile sources (huge, endless,
forged, stale, lying, garbage) each end in `unknown` or a clear verdict, bounded, never in an
exception and never in a false `revoked`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
import ssl
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID
import pytest

from custom_components.tls_health.probe import (
    ProbeOptions,
    Prober,
    ProbeReport,
    RenewalPhase,
    RevocationReason,
    RevocationSource,
    RevocationState,
    Target,
    UnknownReason,
    Verdict,
)
from custom_components.tls_health.probe.renewal import certificate_id, recognise
from tests.authority import (
    AriHandler,
    NginxFiles,
    OcspResponder,
    OpenSslCa,
    crl_of,
    served_authority,
)
from tests.certs import DAY, NOW, Issued, Pki, issue
from tests.daemons import free_ports, installed, running, service_directory
from tests.servers import ocsp_responder

from .conftest import CallbackWatch

HOST = "hass.example.test"

needs_nginx = pytest.mark.skipif(not installed("nginx"), reason="nginx not installed")


@pytest.fixture
def authority() -> Iterator[tuple[OpenSslCa, NginxFiles, Path]]:
    """A real openssl CA whose files nginx serves from www/."""
    with served_authority() as served:
        yield served


async def probe(
    prober: Prober, serve, tls_context, chain: bytes, key: bytes, ca_file: Path, **options: object
) -> ProbeReport:
    """Serve chain/key on a real TLS server and probe it, trusting ca_file."""
    directory = ca_file.parent
    stem = f"served{time.monotonic_ns()}"
    (directory / f"{stem}.pem").write_bytes(chain)
    (directory / f"{stem}.key").write_bytes(key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / f"{stem}.pem", directory / f"{stem}.key")
    server = await serve(context=context)
    options.setdefault("timeout", 5)
    options.setdefault("scan_legacy", False)
    options.setdefault("check_http", False)
    now = options.pop("now", None)
    target = Target(host=HOST, port=server.port, address="127.0.0.1", ca_file=str(ca_file))
    report = await prober.probe(target, ProbeOptions(**options), now=now)  # type: ignore[arg-type]
    report.as_dict()
    return report


def served(leaf) -> tuple[bytes, bytes]:
    return leaf.cert_file.read_bytes(), leaf.key_file.read_bytes()


# -- CRLs from a real openssl CA, served by a real nginx ------------------------------------------


@needs_nginx
async def test_crl_good_then_revoked(authority, prober, serve, tls_context) -> None:
    ca, nginx, www = authority
    leaf = ca.issue(HOST, crl_url=nginx.url("ca.crl"))
    crl = ca.crl(www / "ca.crl")
    report = await probe(prober, serve, tls_context, *served(leaf), ca.root_file)
    assert report.verdict is Verdict.OK, report.detail
    status = report.revocation
    assert status is not None
    assert status.state is RevocationState.GOOD, status.detail
    assert status.source is RevocationSource.CRL
    assert status.url == nginx.url("ca.crl")
    assert status.next_update is not None
    assert status.next_update > datetime.now(UTC)
    assert report.revocation_chain == (status,)

    ca.revoke(leaf, "keyCompromise")
    ca.crl(crl)
    # The same prober keeps the CRL until its nextUpdate (at most 12 hours): still good.
    again = await probe(prober, serve, tls_context, *served(leaf), ca.root_file)
    assert again.revocation is not None
    assert again.revocation.state is RevocationState.GOOD
    assert nginx.requests(crl) == 1

    fresh = await Prober.create()
    revoked = await probe(fresh, serve, tls_context, *served(leaf), ca.root_file)
    status = revoked.revocation
    assert status is not None
    assert status.state is RevocationState.REVOKED, status.detail
    assert status.reason is RevocationReason.KEY_COMPROMISE
    assert status.reason.key_at_risk
    assert status.revoked_at is not None
    assert abs(status.revoked_at - datetime.now(UTC)) < timedelta(minutes=5)
    assert status.serial == format(leaf.cert.serial_number, "x")
    # The chain itself is still valid: revocation is reported beside the verdict.
    assert revoked.verdict is Verdict.OK
    data = revoked.as_dict()["revocation"]
    assert data["state"] == "revoked"
    assert data["reason"] == "key_compromise"


@needs_nginx
async def test_one_crl_download_for_every_endpoint_of_the_issuer(
    authority, prober, serve, tls_context
) -> None:
    ca, nginx, www = authority
    leaves = [ca.issue(HOST, crl_url=nginx.url("shared.crl")) for _ in range(3)]
    ca.revoke(leaves[1], "superseded")
    crl = ca.crl(www / "shared.crl")
    reports = await asyncio.gather(
        *(probe(prober, serve, tls_context, *served(leaf), ca.root_file) for leaf in leaves)
    )
    states = [report.revocation.state for report in reports if report.revocation]
    assert states == [RevocationState.GOOD, RevocationState.REVOKED, RevocationState.GOOD]
    assert reports[1].revocation is not None
    assert reports[1].revocation.reason is RevocationReason.SUPERSEDED
    assert nginx.requests(crl) == 1


@needs_nginx
async def test_switched_off_asks_nobody(authority, prober, serve, tls_context) -> None:
    ca, nginx, www = authority
    leaf = ca.issue(HOST, crl_url=nginx.url("off.crl"))
    crl = ca.crl(www / "off.crl")
    report = await probe(
        prober, serve, tls_context, *served(leaf), ca.root_file, check_revocation=False
    )
    assert report.revocation is None
    assert report.revocation_chain == ()
    assert report.as_dict()["revocation"] is None
    assert nginx.requests(crl) == 0


@needs_nginx
@pytest.mark.parametrize(
    ("hostile", "reason"),
    [
        ("huge", UnknownReason.TOO_LARGE),
        ("forged", UnknownReason.UNVERIFIABLE),
        ("stale", UnknownReason.STALE),
        ("garbage", UnknownReason.MALFORMED),
        ("missing", UnknownReason.UNKNOWN_TO_SOURCE),
    ],
)
async def test_hostile_crl_is_unknown(
    authority, prober, serve, tls_context, hostile: str, reason: UnknownReason
) -> None:
    """Each lists the certificate as revoked where it can: still never `revoked`."""
    ca, nginx, www = authority
    leaf = ca.issue(HOST, crl_url=nginx.url("hostile.crl"))
    ca.revoke(leaf)
    path = www / "hostile.crl"
    now = None
    if hostile == "huge":
        path.write_bytes(b"\x30" * (17 * 1024 * 1024))
    elif hostile == "forged":
        # The CA's name, another key: a CRL that lists the certificate, signed by an impostor.
        impostor = ec.generate_private_key(ec.SECP256R1())
        path.write_bytes(crl_of(ca.root.subject, impostor, [leaf.cert.serial_number]))
    elif hostile == "stale":
        ca.crl(path)  # nextUpdate in 2 days; checked 3 days on
        now = datetime.now(UTC) + 3 * DAY
    elif hostile == "garbage":
        path.write_bytes(b"-----BEGIN X509 CRL-----\nnot a crl\n-----END X509 CRL-----\n")
    started = time.monotonic()
    report = await probe(prober, serve, tls_context, *served(leaf), ca.root_file, now=now)
    assert time.monotonic() - started < 5
    status = report.revocation
    assert status is not None
    assert status.state is RevocationState.UNKNOWN, status.detail
    assert status.unknown_reason is reason, status.detail
    assert status.source is RevocationSource.CRL


async def test_endless_crl_is_bounded(pki: Pki, prober, serve, tls_context) -> None:
    """A distribution point that streams without end: cut off at the size bound."""

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"\x00" * 65536
        while True:
            writer.write(b"10000\r\n" + chunk + b"\r\n")
            await writer.drain()

    crl_server = await serve(endless)
    leaf = pki.leaf(HOST, extra=(_crl_points(f"http://127.0.0.1:{crl_server.port}/x.crl"),))
    report = await probe(
        prober,
        serve,
        tls_context,
        leaf.pem + pki.intermediate.pem,
        leaf.key_pem,
        pki.root_file,
    )
    assert report.revocation is not None
    assert report.revocation.state is RevocationState.UNKNOWN
    assert report.revocation.unknown_reason is UnknownReason.TOO_LARGE


@needs_nginx
async def test_multi_megabyte_crl_holds_no_loop(
    authority, prober, serve, tls_context, loop_stall_watch: CallbackWatch
) -> None:
    """A CRL of 100,000 entries (over 2 MB) from `openssl ca -gencrl`: parsed, verified and
    searched off the loop."""
    loop_stall_watch.limit = 0.05
    ca, nginx, www = authority
    leaf = ca.issue(HOST, crl_url=nginx.url("big.crl"))
    # The test's own preparation stays off the loop the watch times.
    await asyncio.to_thread(ca.revoke_many, 100_000)
    path = await asyncio.to_thread(ca.crl, www / "big.crl")
    assert path.stat().st_size > 2_000_000
    report = await probe(prober, serve, tls_context, *served(leaf), ca.root_file)
    assert report.revocation is not None
    assert report.revocation.state is RevocationState.GOOD, report.revocation.detail
    await asyncio.to_thread(ca.revoke, leaf)
    await asyncio.to_thread(ca.crl, www / "big.crl")
    report = await probe(await Prober.create(), serve, tls_context, *served(leaf), ca.root_file)
    assert report.revocation is not None
    assert report.revocation.state is RevocationState.REVOKED, report.revocation.detail


async def test_no_source_and_unvalidated_chains_are_unknown(
    pki: Pki, prober, serve, tls_context
) -> None:
    leaf = pki.leaf(HOST)
    report = await probe(
        prober, serve, tls_context, leaf.pem + pki.intermediate.pem, leaf.key_pem, pki.root_file
    )
    assert report.revocation is not None
    assert report.revocation.unknown_reason is UnknownReason.NO_SOURCE
    # Not trusted: no source can be trusted either, even one the certificate names.
    other = Pki(pki.directory, label="Other")
    untrusted = other.leaf(HOST, extra=(_crl_points("http://127.0.0.1:9/x.crl"),))
    report = await probe(
        prober,
        serve,
        tls_context,
        untrusted.pem + other.intermediate.pem,
        untrusted.key_pem,
        pki.root_file,
    )
    assert report.verdict is not Verdict.OK
    assert report.revocation is not None
    assert report.revocation.unknown_reason is UnknownReason.NOT_VERIFIED


# -- OCSP: a real `openssl ocsp` responder, and lying ones ------------------------------------------


@pytest.fixture
def ocsp_authority() -> Iterator[tuple[OpenSslCa, int]]:
    with service_directory() as directory:
        yield OpenSslCa(directory / "ca"), free_ports(1)[0]


async def test_ocsp_good_and_revoked(ocsp_authority, prober, serve, tls_context) -> None:
    ca, port = ocsp_authority
    good = ca.issue(HOST, ocsp_url=f"http://127.0.0.1:{port}/")
    revoked = ca.issue(HOST, ocsp_url=f"http://127.0.0.1:{port}/")
    ca.revoke(revoked, "cessationOfOperation")
    responder = ca.issue("TLS Health OCSP Responder", extensions="ocsp_ext")
    with running(OcspResponder(ca, responder.cert_file, responder.key_file, port)):
        report = await probe(prober, serve, tls_context, *served(good), ca.root_file)
        status = report.revocation
        if status is not None and status.unknown_reason is UnknownReason.UNREACHABLE:
            # `openssl ocsp` sometimes drops its first connection on a loaded machine.
            report = await probe(prober, serve, tls_context, *served(good), ca.root_file)
            status = report.revocation
        assert status is not None
        assert status.state is RevocationState.GOOD, status.detail
        assert status.source is RevocationSource.OCSP
        assert status.next_update is not None

        report = await probe(prober, serve, tls_context, *served(revoked), ca.root_file)
    status = report.revocation
    assert status is not None
    assert status.state is RevocationState.REVOKED, status.detail
    assert status.source is RevocationSource.OCSP
    assert status.reason is RevocationReason.CESSATION_OF_OPERATION
    assert not status.reason.key_at_risk


async def test_ocsp_responder_the_issuer_never_authorised(
    ocsp_authority, pki: Pki, prober, serve, tls_context
) -> None:
    """A real responder signing with a certificate of another CA: its `revoked` proves nothing."""
    ca, port = ocsp_authority
    leaf = ca.issue(HOST, ocsp_url=f"http://127.0.0.1:{port}/")
    ca.revoke(leaf)
    stranger = pki.leaf("TLS Health OCSP Responder")
    signer = pki.directory / "stranger.pem"
    signer.write_bytes(stranger.pem)
    key = pki.directory / "stranger.key"
    key.write_bytes(stranger.key_pem)
    with running(OcspResponder(ca, signer, key, port)):
        report = await probe(prober, serve, tls_context, *served(leaf), ca.root_file)
    status = report.revocation
    assert status is not None
    assert status.state is RevocationState.UNKNOWN
    assert status.unknown_reason is UnknownReason.UNVERIFIABLE


@pytest.mark.parametrize(
    ("lie", "expected"),
    [
        ("honest", RevocationState.REVOKED),  # the control: the same responder, telling the truth
        ("other_serial", RevocationState.UNKNOWN),
        ("stale", RevocationState.UNKNOWN),
        ("future", RevocationState.UNKNOWN),
        ("wrong_key", RevocationState.UNKNOWN),
        ("not_ocsp", RevocationState.UNKNOWN),
        ("error_status", RevocationState.UNKNOWN),
    ],
)
async def test_lying_ocsp_responder(
    pki: Pki, prober, serve, tls_context, lie: str, expected: RevocationState
) -> None:
    issuer = pki.intermediate
    state: dict[str, x509.Certificate] = {}

    server = await serve(ocsp_responder(lambda: _ocsp_answer(lie, state["leaf"], issuer)))
    leaf = pki.leaf(HOST, extra=(_ocsp_access(f"http://127.0.0.1:{server.port}/"),))
    state["leaf"] = leaf.cert
    report = await probe(
        prober, serve, tls_context, leaf.pem + issuer.pem, leaf.key_pem, pki.root_file
    )
    assert report.revocation is not None
    assert report.revocation.state is expected, report.revocation.detail


# -- ACME Renewal Information ---------------------------------------------------------------------


@pytest.fixture
async def ari(pki: Pki, serve) -> AriHandler:
    handler = AriHandler()
    server_cert = pki.leaf("127.0.0.1")
    server = await serve(handler, context=pki.server_context(server_cert, pki.intermediate))
    handler.base = f"https://127.0.0.1:{server.port}"
    return handler


async def ari_probe(
    prober: Prober, pki: Pki, serve, tls_context, leaf: Issued, handler: AriHandler, **options
) -> ProbeReport:
    options.setdefault("acme_directory", handler.directory())
    options.setdefault("check_revocation", False)
    return await probe(
        prober,
        serve,
        tls_context,
        leaf.pem + pki.intermediate.pem,
        leaf.key_pem,
        pki.root_file,
        **options,
    )


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_renewal_window_ahead_then_asked_again_only_after_retry_after(
    pki: Pki, ari: AriHandler, prober, serve, tls_context
) -> None:
    leaf = pki.leaf(HOST)
    start, end = NOW + 20 * DAY, NOW + 22 * DAY
    ari.window(leaf.cert, _iso(start), _iso(end))
    report = await ari_probe(prober, pki, serve, tls_context, leaf, ari)
    info = report.renewal_info
    assert info is not None
    assert info.known, info.detail
    assert (info.window_start, info.window_end) == (start, end)
    assert info.phase(report.checked_at) is RenewalPhase.BEFORE
    assert info.ca is None  # configured, not recognised
    assert info.url == f"{ari.base}/renewal-info/{certificate_id(leaf.cert)}"
    assert info.next_ask is not None
    assert info.next_ask - report.checked_at == timedelta(hours=6)
    asked = len(ari.requests)
    again = await ari_probe(prober, pki, serve, tls_context, leaf, ari)
    assert again.renewal_info == info
    assert len(ari.requests) == asked  # Retry-After (6 h) not reached: nobody asked


async def test_renewal_window_in_the_past_asks_for_renewal_now(
    pki: Pki, ari: AriHandler, prober, serve, tls_context
) -> None:
    leaf = pki.leaf(HOST)
    ari.window(
        leaf.cert,
        _iso(NOW - 2 * DAY),
        _iso(NOW - DAY),
        explanationURL="https://ca.example/incident-42",
    )
    ari.retry_after = "60"  # held to 6 hours at least
    report = await ari_probe(prober, pki, serve, tls_context, leaf, ari)
    info = report.renewal_info
    assert info is not None
    assert info.phase(report.checked_at) is RenewalPhase.PASSED
    assert info.explanation_url == "https://ca.example/incident-42"
    assert info.next_ask is not None
    assert info.next_ask - report.checked_at == timedelta(hours=6)
    data = report.as_dict()["renewal_info"]
    assert data["window_end"] == (NOW - DAY).isoformat()
    assert data["explanation_url"] == "https://ca.example/incident-42"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            b'{"suggestedWindow": {"start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z"}}',
            UnknownReason.MALFORMED,
        ),
        (
            b'{"suggestedWindow": {"start": "yesterday", "end": "tomorrow"}}',
            UnknownReason.MALFORMED,
        ),
        (
            b'{"suggestedWindow": {"start": "1970-01-01T00:00:00Z", "end": "1970-01-02T00:00:00Z"}}',
            UnknownReason.MALFORMED,
        ),
        (b'{"suggestedWindow": [1, 2]}', UnknownReason.MALFORMED),
        (b"[" * 100_000, UnknownReason.TOO_LARGE),
        (b"[" * 50_000, UnknownReason.MALFORMED),
        (b"not json", UnknownReason.MALFORMED),
        (None, UnknownReason.UNKNOWN_TO_SOURCE),
    ],
)
async def test_garbage_renewal_information_is_unknown(
    pki: Pki, ari: AriHandler, prober, serve, tls_context, body, reason
) -> None:
    leaf = pki.leaf(HOST)
    if body is not None:
        ari.windows[certificate_id(leaf.cert)] = body
    report = await ari_probe(prober, pki, serve, tls_context, leaf, ari)
    info = report.renewal_info
    assert info is not None
    assert not info.known
    assert info.phase(report.checked_at) is None
    assert info.unknown_reason is reason, info.detail


async def test_directory_without_renewal_information(
    pki: Pki, ari: AriHandler, prober, serve, tls_context
) -> None:
    leaf = pki.leaf(HOST)
    ari.directory_body = lambda: b'{"newNonce": "https://127.0.0.1/nonce"}'
    report = await ari_probe(prober, pki, serve, tls_context, leaf, ari)
    assert report.renewal_info is not None
    assert report.renewal_info.unknown_reason is UnknownReason.NOT_SUPPORTED


async def test_untrusted_ari_server_is_not_believed(
    pki: Pki, ari: AriHandler, prober, serve, tls_context
) -> None:
    """The directory's TLS certificate must be trusted (here: the endpoint's CA file is not
    the ARI server's)."""
    other = Pki(pki.directory, label="Elsewhere")
    leaf = other.leaf(HOST)
    ari.window(leaf.cert, _iso(NOW - 2 * DAY), _iso(NOW - DAY))
    report = await probe(
        prober,
        serve,
        tls_context,
        leaf.pem + other.intermediate.pem,
        leaf.key_pem,
        other.root_file,
        acme_directory=ari.directory(),
        check_revocation=False,
    )
    assert report.renewal_info is not None
    assert report.renewal_info.unknown_reason is UnknownReason.UNVERIFIABLE
    assert ari.requests == []


async def test_no_directory_known_asks_nobody(
    pki: Pki, ari: AriHandler, prober, serve, tls_context
) -> None:
    leaf = pki.leaf(HOST)
    report = await ari_probe(prober, pki, serve, tls_context, leaf, ari, acme_directory=None)
    assert report.renewal_info is None
    off = await ari_probe(prober, pki, serve, tls_context, leaf, ari, check_renewal_info=False)
    assert off.renewal_info is None
    assert ari.requests == []


def test_certificate_id_of_rfc_9773() -> None:
    """The example of RFC 9773, section 4.1."""
    key_id = bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
    cert = issue(
        HOST,
        key_identifier=False,
        extra=(
            (
                x509.AuthorityKeyIdentifier(
                    key_identifier=key_id,
                    authority_cert_issuer=None,
                    authority_cert_serial_number=None,
                ),
                False,
            ),
        ),
    ).cert
    cert = _with_serial(cert, 0x0087654321)
    assert certificate_id(cert) == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"


@pytest.mark.parametrize(
    ("organization", "ca", "directory"),
    [
        ("Let's Encrypt", "Let's Encrypt", "https://acme-v02.api.letsencrypt.org/directory"),
        ("ZeroSSL", "ZeroSSL", "https://acme.zerossl.com/v2/DV90"),
        (
            "Google Trust Services",
            "Google Trust Services",
            "https://dv.acme-v02.api.pki.goog/directory",
        ),
        ("Buypass AS-983163327", "Buypass", "https://api.buypass.com/acme/directory"),
        ("SSL Corporation", "SSL.com", "https://acme.ssl.com/sslcom-dv-ecc"),
    ],
)
def test_well_known_acme_cas(organization: str, ca: str, directory: str) -> None:
    name = x509.Name(
        [
            x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(x509.NameOID.COMMON_NAME, "Issuing CA"),
        ]
    )
    issuer = issue(None, ca=True, subject=name)
    leaf = issue(HOST, issuer=issuer, names=(HOST,))  # an EC key
    assert recognise(leaf.cert) == (ca, directory)
    assert recognise(issue(HOST, names=(HOST,)).cert) is None


# -- helpers ------------------------------------------------------------------------------------------


def _crl_points(url: str) -> tuple[x509.ExtensionType, bool]:
    return (
        x509.CRLDistributionPoints(
            [x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)]
        ),
        False,
    )


def _ocsp_access(url: str) -> tuple[x509.ExtensionType, bool]:
    return (
        x509.AuthorityInformationAccess(
            [
                x509.AccessDescription(
                    AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(url)
                )
            ]
        ),
        False,
    )


def _ocsp_answer(lie: str, leaf: x509.Certificate, issuer: Issued) -> bytes:
    if lie == "not_ocsp":
        return b"\x30\x03\x0a\x01\x00garbage"
    if lie == "error_status":
        return ocsp.OCSPResponseBuilder.build_unsuccessful(
            ocsp.OCSPResponseStatus.TRY_LATER
        ).public_bytes(serialization.Encoding.DER)
    now = datetime.now(UTC)
    about = leaf
    this_update, next_update = now - timedelta(minutes=1), now + DAY
    signer_key = issuer.key
    if lie == "other_serial":
        about = issue(HOST, issuer=issuer, names=(HOST,)).cert
    elif lie == "stale":
        this_update, next_update = now - 10 * DAY, now - 3 * DAY
    elif lie == "future":
        this_update, next_update = now + 2 * DAY, now + 3 * DAY
    elif lie == "wrong_key":
        signer_key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=about,
            issuer=issuer.cert,
            algorithm=hashes.SHA1(),  # noqa: S303 - the CertID hash responders use
            cert_status=ocsp.OCSPCertStatus.REVOKED,
            this_update=this_update,
            next_update=next_update,
            revocation_time=now - DAY,
            revocation_reason=x509.ReasonFlags.key_compromise,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, issuer.cert)
    )
    return builder.sign(signer_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)  # type: ignore[arg-type]


def _with_serial(cert: x509.Certificate, serial: int) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(cert.issuer)
        .public_key(cert.public_key())  # type: ignore[arg-type]
        .serial_number(serial)
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
    )
    for extension in cert.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    return builder.sign(key, hashes.SHA256())
