"""Seeded fuzzing of the parsers of what CAs send: CRLs, OCSP responses, ACME renewal information,
and the HTTP framing around them.

Each mutated input must give a result (or the parser's own error), never another exception, never
a `revoked` that is not proven, within bounded memory, leaving no descriptor open (the package's
conftest checks) and no event-loop callback over 50 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
import json
import random
import ssl
import time
import tracemalloc

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
import pytest

from custom_components.tls_health.probe import (
    ProbeOptions,
    Prober,
    RevocationState,
    RevocationStatus,
    Target,
)
from custom_components.tls_health.probe.renewal import (
    RenewalInfoError,
    parse_window,
    renewal_info_base,
)
from custom_components.tls_health.probe.revocation import (
    RevocationError,
    crl_status,
    load_crl,
    ocsp_status,
)
from tests.certs import DAY, Pki

from .conftest import CallbackWatch

SEED = 20261202
ROUNDS = 400
URL = "http://127.0.0.1:9/ca.crl"
MAX_PEAK = 64 * 1024 * 1024


def mutate(rng: random.Random, data: bytes) -> bytes:
    """Flip, drop, repeat or cut bytes, or splice in length-like values."""
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not buffer:
            break
        where = rng.randrange(len(buffer))
        match rng.randrange(6):
            case 0:
                buffer[where] ^= 1 << rng.randrange(8)
            case 1:
                del buffer[where : where + rng.randint(1, 16)]
            case 2:
                buffer[where:where] = buffer[where : where + rng.randint(1, 64)] * rng.randint(1, 8)
            case 3:
                del buffer[where:]
            case 4:
                buffer[where] = rng.choice(
                    (0x00, 0x7F, 0x80, 0x81, 0x82, 0x84, 0xB2, 0xFF)
                )  # 0xB2: a digit int() refuses
            case _:
                buffer[where:where] = rng.randbytes(rng.randint(1, 8))
    return bytes(buffer)


@pytest.fixture
def revoked_crl(pki: Pki):
    leaf = pki.leaf("hass.example.test")
    now = datetime.now(UTC)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(pki.intermediate.cert.subject)
        .last_update(now - timedelta(hours=1))
        .next_update(now + DAY)
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(leaf.cert.serial_number)
            .revocation_date(now - timedelta(hours=2))
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
            .build()
        )
        .add_extension(x509.CRLNumber(7), critical=False)
        .sign(pki.intermediate.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return leaf, crl.public_bytes(serialization.Encoding.DER)


def test_crl_parser(pki: Pki, revoked_crl) -> None:
    leaf, original = revoked_crl
    now = datetime.now(UTC)
    found = crl_status(load_crl(original, pki.intermediate.cert, URL), leaf.cert, URL, now)
    assert found.state is RevocationState.REVOKED  # the control: the unmutated CRL proves it
    rng = random.Random(SEED)
    tracemalloc.start()
    try:
        for _ in range(ROUNDS):
            data = mutate(rng, original)
            started = time.perf_counter()
            try:
                crl = load_crl(data, pki.intermediate.cert, URL)
                status = crl_status(crl, leaf.cert, URL, now)
            except RevocationError:
                continue
            finally:
                assert time.perf_counter() - started < 0.5
            assert isinstance(status, RevocationStatus)
            if status.state is RevocationState.REVOKED:
                # Only a CRL whose signed part is the original's may say so.
                assert crl.tbs_certlist_bytes == x509.load_der_x509_crl(original).tbs_certlist_bytes
        assert tracemalloc.get_traced_memory()[1] < MAX_PEAK
    finally:
        tracemalloc.stop()


def _ocsp(pki: Pki, leaf: x509.Certificate) -> bytes:
    now = datetime.now(UTC)
    return (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=leaf,
            issuer=pki.intermediate.cert,
            algorithm=hashes.SHA1(),  # noqa: S303 - the CertID hash responders use
            cert_status=ocsp.OCSPCertStatus.REVOKED,
            this_update=now - timedelta(minutes=5),
            next_update=now + DAY,
            revocation_time=now - DAY,
            revocation_reason=x509.ReasonFlags.superseded,
        )
        .responder_id(ocsp.OCSPResponderEncoding.NAME, pki.intermediate.cert)
        .sign(pki.intermediate.key, hashes.SHA256())  # type: ignore[arg-type]
        .public_bytes(serialization.Encoding.DER)
    )


def test_ocsp_parser(pki: Pki) -> None:
    leaf = pki.leaf("hass.example.test").cert
    original = _ocsp(pki, leaf)
    now = datetime.now(UTC)
    issuer = pki.intermediate.cert

    def judge(data: bytes) -> RevocationStatus:
        return ocsp_status(data, leaf, issuer, url=URL, now=now, nonce=None)

    assert judge(original).state is RevocationState.REVOKED
    rng = random.Random(SEED + 1)
    tracemalloc.start()
    try:
        for _ in range(ROUNDS):
            data = mutate(rng, original)
            started = time.perf_counter()
            status = judge(data)
            assert time.perf_counter() - started < 0.5
            if status.state is RevocationState.REVOKED:
                signed = ocsp.load_der_ocsp_response(original).tbs_response_bytes
                assert ocsp.load_der_ocsp_response(data).tbs_response_bytes == signed
        assert tracemalloc.get_traced_memory()[1] < MAX_PEAK
    finally:
        tracemalloc.stop()


def test_renewal_information_parsers(pki: Pki) -> None:
    leaf = pki.leaf("hass.example.test").cert
    now = datetime.now(UTC)
    window = {
        "suggestedWindow": {
            "start": (now + 10 * DAY).strftime("%Y-%m-%dT%H:%M:%S.123456789Z"),
            "end": (now + 12 * DAY).isoformat(),
        },
        "explanationURL": "https://ca.example/why",
    }
    directory = {"renewalInfo": "https://ca.example/ari/", "meta": {"website": "x"}}
    originals = [json.dumps(window).encode(), json.dumps(directory).encode()]
    start, end, explanation = parse_window(originals[0], leaf, URL)
    assert end - start == timedelta(days=2, microseconds=-123456) or end > start
    assert explanation == "https://ca.example/why"
    rng = random.Random(SEED + 2)
    for _ in range(ROUNDS):
        data = mutate(rng, rng.choice(originals))
        started = time.perf_counter()
        try:
            start, end, _ = parse_window(data, leaf, URL)
            assert start <= end
            assert start.tzinfo is not None
        except RenewalInfoError:
            pass
        with contextlib.suppress(RenewalInfoError):
            assert renewal_info_base(data, URL).startswith("https://")
        assert time.perf_counter() - started < 0.5


async def test_framing_and_bodies_through_the_prober(
    pki: Pki, revoked_crl, serve, tls_context, loop_stall_watch: CallbackWatch
) -> None:
    """Mutated CRLs in mutated HTTP framing (length, chunks, until close), probe after probe."""
    loop_stall_watch.limit = 0.05
    leaf, original = revoked_crl
    rng = random.Random(SEED + 3)
    bodies: dict[str, bytes] = {}

    async def distribution_point(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        body = bodies.get(request.split()[1].decode(), b"")
        framing = rng.randrange(4)
        if framing == 0:
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            writer.write(mutate(rng, head) if rng.random() < 0.3 else head)
            writer.write(body)
        elif framing == 1:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for index in range(0, len(body), 97):
                piece = body[index : index + 97]
                writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            writer.write(mutate(rng, b"0\r\n\r\n") if rng.random() < 0.3 else b"0\r\n\r\n")
        elif framing == 2:
            writer.write(b"HTTP/1.0 200 OK\r\n\r\n" + body)
        else:
            writer.write(mutate(rng, b"HTTP/1.1 301 Moved\r\nLocation: /again\r\n\r\n"))
        await writer.drain()

    point = await serve(distribution_point)
    prober = await Prober.create()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    chain, key = pki.server_files("fuzz", leaf, pki.intermediate)
    server_context.load_cert_chain(chain, key)
    endpoint = await serve(context=server_context)
    tracemalloc.start()
    try:
        for index in range(40):
            # A fresh URL each round: the prober caches what it proved.
            url = f"http://127.0.0.1:{point.port}/{index}.crl"
            bodies[f"/{index}.crl"] = mutate(rng, original) if index else original
            certificate = pki.leaf(
                "hass.example.test",
                extra=(
                    (
                        x509.CRLDistributionPoints(
                            [
                                x509.DistributionPoint(
                                    [x509.UniformResourceIdentifier(url)], None, None, None
                                )
                            ]
                        ),
                        False,
                    ),
                ),
            )
            chain, key = pki.server_files("fuzz", certificate, pki.intermediate)
            server_context.load_cert_chain(chain, key)
            report = await prober.probe(
                Target(
                    host="hass.example.test",
                    port=endpoint.port,
                    address="127.0.0.1",
                    ca_file=str(pki.root_file),
                ),
                ProbeOptions(timeout=3, scan_legacy=False, check_http=False),
            )
            assert report.revocation is not None
            # The served certificate is never in the CRL (new serial): never `revoked`.
            assert report.revocation.state is not RevocationState.REVOKED, report.revocation
        assert tracemalloc.get_traced_memory()[1] < MAX_PEAK
    finally:
        tracemalloc.stop()
