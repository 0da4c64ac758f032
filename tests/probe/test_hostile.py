"""Hostile and broken peers: each ends in a classified verdict within its time budget."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
import socket
import ssl
import struct
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
import pytest

from custom_components.tls_health.probe import ProbeOptions, Target, Verdict
from tests.certs import DAY, NOW, Issued, issue
from tests.servers import tls12_certificate_message

from .conftest import CallbackWatch

BUDGET = 1.0

pytestmark = pytest.mark.usefixtures("loop_stall_watch")


def loopback(port: int, name: str = "hass.example.test") -> Target:
    return Target(host=name, port=port, address="127.0.0.1")


async def timed_probe(prober, target: Target, **kwargs):
    started = time.perf_counter()
    report = await prober.probe(target, ProbeOptions(timeout=BUDGET, **kwargs))
    return report, time.perf_counter() - started


async def test_garbage_bytes(prober, serve) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.write(os.urandom(4096))
        await writer.drain()
        await reader.read()

    server = await serve(garbage)
    report, elapsed = await timed_probe(prober, loopback(server.port))
    assert report.verdict is Verdict.HANDSHAKE_FAILED
    assert report.chain == ()
    assert elapsed < 3 * BUDGET


async def test_reset_mid_handshake(prober, serve) -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        sock = writer.get_extra_info("socket")
        # Linger 0: close() sends a TCP RST instead of a FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    server = await serve(reset)
    report, elapsed = await timed_probe(prober, loopback(server.port))
    assert report.verdict is Verdict.HANDSHAKE_FAILED
    assert "reset" in report.detail or "closed" in report.detail
    assert elapsed < 3 * BUDGET


async def test_handshake_bytes_dripped(prober, serve) -> None:
    """A TLS record header and then one byte every 0.2 s: never a complete ServerHello."""

    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.write(b"\x16\x03\x03\x40\x00")
        while True:
            writer.write(b"\x00")
            await writer.drain()
            await asyncio.sleep(0.2)

    server = await serve(drip)
    report, elapsed = await timed_probe(prober, loopback(server.port))
    assert report.verdict is Verdict.TIMEOUT
    assert elapsed < 3 * BUDGET


async def test_hundred_certificate_chain(pki, prober, serve, tls_context) -> None:
    intermediates = []
    issuer = pki.root
    for depth in range(99):
        issuer = issue(f"Deep Intermediate {depth}", issuer=issuer, ca=True)
        intermediates.append(issuer)
    leaf = pki.leaf(issuer=issuer)
    server = await serve(context=tls_context(leaf, *reversed(intermediates)))
    target = Target(
        host="hass.example.test", port=server.port, address="127.0.0.1", ca_file=str(pki.root_file)
    )
    report, elapsed = await timed_probe(prober, target, scan_legacy=False)
    assert len(report.chain) == 100
    # Far beyond any real path length: judged, not trusted, and quickly.
    assert report.verdict is Verdict.UNTRUSTED_ISSUER
    assert "more than 10 certificates" in report.detail
    assert elapsed < 3 * BUDGET


@pytest.fixture(scope="module")
def one_key_chain() -> tuple[Issued, ...]:
    """A leaf and 200 CAs sharing one subject and one P-384 key: each can sign every other.

    70 KiB, accepted by OpenSSL; every path through it checks out by names and signatures.
    """
    key = ec.generate_private_key(ec.SECP384R1())
    shared = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Loop CA")])

    def certificate(serial: int, subject: x509.Name, *, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(shared)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(NOW - DAY)
            .not_valid_after(NOW + 30 * DAY)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), False
            )
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName("hass.example.test")]), False
            )
        return builder.sign(key, hashes.SHA384())

    leaf = certificate(
        1, x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "hass")]), ca=False
    )
    return tuple(
        Issued(cert, key)
        for cert in (leaf, *(certificate(serial, shared, ca=True) for serial in range(2, 202)))
    )


async def test_one_key_chain_holds_the_loop_briefly(
    prober, serve, tls_context, one_key_chain, loop_stall_watch: CallbackWatch
) -> None:
    """The crafted chain of issue 12: judged off the loop, bounded, and not trusted."""
    loop_stall_watch.limit = 0.05
    server = await serve(context=tls_context(*one_key_chain))
    report, elapsed = await timed_probe(prober, loopback(server.port), scan_legacy=False)
    assert len(report.chain) == 201
    assert report.verdict is Verdict.UNTRUSTED_ISSUER, report.detail
    assert elapsed < 3 * BUDGET


def certificate_der(pki) -> bytes:
    return pki.leaf().cert.public_bytes(Encoding.DER)


UNPARSABLE_DER = (
    "TLS handshake failed: the server sent a certificate that cannot be parsed (ASN1 lib)"
)
MALFORMED_CERTIFICATES = {
    "text": lambda _: [b"not a certificate"],
    "random": lambda _: [os.urandom(600)],
    "truncated": lambda good: [good[: len(good) // 2]],
    "empty": lambda _: [b""],
    "not_a_certificate": lambda _: [b"\x30\x03\x02\x01\x01"],  # SEQUENCE { INTEGER 1 }
    "huge_length": lambda _: [b"\x30\x84\x7f\xff\xff\xff"],  # claims 2 GB
    "after_a_good_leaf": lambda good: [good, b"\x30\x00"],
}


@pytest.mark.parametrize("served", MALFORMED_CERTIFICATES.values(), ids=MALFORMED_CERTIFICATES)
async def test_malformed_certificate_der(pki, prober, serve, served) -> None:
    """A TLS 1.2 ServerHello, then a Certificate message whose DER OpenSSL cannot parse."""
    server = await serve(tls12_certificate_message(served(certificate_der(pki))))
    report, elapsed = await timed_probe(prober, loopback(server.port))
    assert report.verdict is Verdict.HANDSHAKE_FAILED
    assert report.detail == UNPARSABLE_DER
    assert report.details["reason"] == "ASN1 lib"
    assert report.chain == ()
    assert elapsed < 3 * BUDGET


async def test_certificate_longer_than_its_der(pki, prober, serve) -> None:
    server = await serve(tls12_certificate_message([certificate_der(pki) + b"\x00"]))
    report, elapsed = await timed_probe(prober, loopback(server.port))
    assert report.verdict is Verdict.HANDSHAKE_FAILED
    assert report.detail == (
        "TLS handshake failed: the server sent a malformed certificate message "
        "(cert length mismatch)"
    )
    assert elapsed < 3 * BUDGET


async def test_empty_certificate_list(prober, serve) -> None:
    server = await serve(tls12_certificate_message([]))
    report, elapsed = await timed_probe(prober, loopback(server.port))
    assert report.verdict is Verdict.HANDSHAKE_FAILED
    assert report.details["reason"] == "length mismatch"
    assert elapsed < 3 * BUDGET


async def test_certificate_only_openssl_parses(pki, prober, serve, tmp_path: Path) -> None:
    """DER that OpenSSL accepts (the handshake completes) but `cryptography` refuses: rejected.

    A BOOLEAN must be encoded 0xFF in DER; OpenSSL takes any non-zero byte, `cryptography` does
    not. The leaf's critical flag (basicConstraints) becomes 0x01; the signature no longer
    matches, which only a verifying client would notice.
    """
    leaf = pki.leaf()
    der = leaf.cert.public_bytes(Encoding.DER)
    critical_true = b"\x01\x01\xff"
    assert critical_true in der
    chain_file = tmp_path / "lenient-chain.pem"
    chain_file.write_text(
        ssl.DER_cert_to_PEM_cert(der.replace(critical_true, b"\x01\x01\x01", 1))
        + pki.intermediate.pem.decode()
    )
    key_file = tmp_path / "lenient-key.pem"
    key_file.write_bytes(leaf.key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain_file, key_file)
    server = await serve(context=context)
    report, elapsed = await timed_probe(prober, loopback(server.port))
    assert report.tls_version == "TLSv1.3"
    # The handshake worked: the certificate is at fault, not the handshake.
    assert report.verdict is Verdict.CERTIFICATE_REJECTED
    assert report.detail.startswith(
        "the server sent a certificate that cannot be parsed (the server's certificate: "
    )
    assert "Extension::critical" in report.details["reason"]
    assert report.chain == ()
    assert report.http is not None
    assert report.http.status == 200
    assert elapsed < 3 * BUDGET
