"""Worst-case chain judgement: hostile served chains, judged alone and by a real probe.

Run from the repository root:  .venv/bin/python bench/chain_judgement.py [ROUNDS]

For each chain: the time `judge()` takes (median and worst of ROUNDS calls, any thread), then
one probe of a loopback TLS server (in a process of its own) presenting it, with the longest
CPU time a single event-loop callback used during that probe: what the loop cannot avoid.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
import multiprocessing
from pathlib import Path
import socket
import ssl
import statistics
import sys
import tempfile
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from custom_components.tls_health.probe import ProbeOptions, Prober, Target
from custom_components.tls_health.probe.trust import TrustStore
from custom_components.tls_health.probe.verify import judge

HOST = "bench.example.test"
NOW = datetime.now(UTC)
type Key = ec.EllipticCurvePrivateKey
type Chain = tuple[list[x509.Certificate], Key, list[x509.Certificate]]  # served, key, trusted


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _cert(  # noqa: PLR0913
    subject: x509.Name,
    key: Key,
    issuer: x509.Name,
    signer: Key,
    *,
    ca: bool,
    names: list[x509.GeneralName] | None = None,
    constraints: x509.NameConstraints | None = None,
    serial: int = 1,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
            critical=False,
        )
    )
    if ca:
        usage = x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=True,
            crl_sign=True,
            encipher_only=False,
            decipher_only=False,
        )
        builder = builder.add_extension(usage, critical=True)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if constraints:
        builder = builder.add_extension(constraints, critical=True)
    digest = hashes.SHA512() if key.curve.key_size > 384 else hashes.SHA384()
    return builder.sign(signer, digest)


def one_key_chain(curve: ec.EllipticCurve, count: int = 200) -> Chain:
    """A leaf and `count` CAs with one subject and one key: every CA signs every other."""
    key = ec.generate_private_key(curve)
    shared = _name("Loop CA")
    leaf = _cert(_name(HOST), key, shared, key, ca=False, names=[x509.DNSName(HOST)])
    cas = [_cert(shared, key, shared, key, ca=True, serial=n) for n in range(2, count + 2)]
    return (
        [leaf, *cas],
        key,
        [_cert(_name("Unrelated Root"), key, _name("Unrelated Root"), key, ca=True)],
    )


def deep_chain() -> Chain:
    """A trusted root, 99 intermediates, a leaf: far past any path length."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _cert(_name("Deep Root"), root_key, _name("Deep Root"), root_key, ca=True)
    issuer, signer, served = root.subject, root_key, []
    for depth in range(99):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(_name(f"Deep {depth}"), key, issuer, signer, ca=True)
        served.insert(0, cert)
        issuer, signer = cert.subject, key
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _cert(_name(HOST), leaf_key, issuer, signer, ca=False, names=[x509.DNSName(HOST)])
    return [leaf, *served], leaf_key, [root]


def name_constraint_chain() -> Chain:
    """1024 names under a trusted root of 1025 permitted subtrees: a million checks."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    trees: list[x509.GeneralName] = [x509.DNSName(f"x{n}.example") for n in range(1024)]
    trees.append(x509.DNSName("example.test"))
    constraints = x509.NameConstraints(trees, None)
    root = _cert(
        _name("NC Root"), root_key, _name("NC Root"), root_key, ca=True, constraints=constraints
    )
    names: list[x509.GeneralName] = [x509.DNSName(HOST)]
    names += [x509.DNSName(f"h{n}.example.test") for n in range(1023)]
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _cert(_name(HOST), leaf_key, root.subject, root_key, ca=False, names=names)
    return [leaf], leaf_key, [root]


CHAINS: dict[str, Callable[[], Chain]] = {
    "201 certs, one subject, one P-384 key": lambda: one_key_chain(ec.SECP384R1()),
    # 151: OpenSSL clients take at most 100 KiB of certificates.
    "151 certs, one subject, one P-521 key": lambda: one_key_chain(ec.SECP521R1(), 150),
    "100-deep chain to a trusted root": deep_chain,
    "1024 names x 1025 name constraints": name_constraint_chain,
}


def _serve(directory: str, ready: object) -> None:
    chain, key_file = Path(directory, "chain.pem"), Path(directory, "key.pem")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, key_file)
    listener = socket.create_server(("127.0.0.1", 0))
    ready.put(listener.getsockname()[1])  # type: ignore[attr-defined]
    while True:
        sock, _ = listener.accept()
        try:
            with context.wrap_socket(sock, server_side=True) as tls:
                tls.recv(1)
        except OSError:
            continue


def longest_callback(run: Callable[[], object]) -> tuple[float, object]:
    """Run a coroutine factory on a fresh loop; the longest CPU time of one callback."""
    longest = 0.0
    original = asyncio.events.Handle._run  # noqa: SLF001

    def timed(handle: asyncio.Handle) -> None:
        nonlocal longest
        started = time.thread_time()
        try:
            original(handle)
        finally:
            longest = max(longest, time.thread_time() - started)

    asyncio.events.Handle._run = timed  # type: ignore[method-assign]  # noqa: SLF001
    try:
        result = asyncio.run(run())  # type: ignore[arg-type]
    finally:
        asyncio.events.Handle._run = original  # type: ignore[method-assign]  # noqa: SLF001
    return longest, result


async def probe(target: Target) -> tuple[str, float]:
    prober = await Prober.create()
    started = time.perf_counter()
    report = await prober.probe(
        target, ProbeOptions(timeout=10, scan_legacy=False, check_http=False)
    )
    return report.verdict, time.perf_counter() - started


def main(rounds: int) -> None:
    print(f"{'chain':42} {'judge median':>13} {'judge worst':>12} {'probe':>8} {'loop max':>9}")
    for label, make in CHAINS.items():
        served, key, trusted = make()
        trust = TrustStore.build(trusted)
        target = Target(host=HOST)
        times = []
        verdict = None
        for _ in range(rounds):
            started = time.perf_counter()
            verdict = judge(served, trust, target, NOW).verdict
            times.append(time.perf_counter() - started)
        with tempfile.TemporaryDirectory() as directory:
            ca_file = Path(directory, "ca.pem")
            ca_file.write_bytes(
                b"".join(c.public_bytes(serialization.Encoding.PEM) for c in trusted)
            )
            Path(directory, "chain.pem").write_bytes(
                b"".join(c.public_bytes(serialization.Encoding.PEM) for c in served)
            )
            Path(directory, "key.pem").write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            ready: multiprocessing.Queue[int] = multiprocessing.Queue()
            server = multiprocessing.Process(target=_serve, args=(directory, ready), daemon=True)
            server.start()
            port = ready.get(timeout=30)
            probe_target = Target(host=HOST, port=port, address="127.0.0.1", ca_file=str(ca_file))
            loop_max, (probe_verdict, probe_time) = longest_callback(  # type: ignore[misc]
                lambda target=probe_target: probe(target)
            )
            server.terminate()
            server.join()
        print(
            f"{label:42} {statistics.median(times) * 1000:10.1f} ms {max(times) * 1000:9.1f} ms "
            f"{probe_time * 1000:5.0f} ms {loop_max * 1000:6.1f} ms  {verdict} / {probe_verdict}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
