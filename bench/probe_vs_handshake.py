"""Cost of a probe compared with a bare TLS handshake, against one local TLS server.

Run from the repository root:  .venv/bin/python bench/probe_vs_handshake.py [N]

Also timed, on the same server in the same rounds: how Home Assistant core's `cert_expiry` gets a
certificate (written here after its helper.py, not imported), both as it does today (HA 2024.2 on:
an asyncio verifying handshake on HA's default client context, then the leaf's notAfter) and as it
did up to HA 2024.1 (a blocking verifying handshake in the default executor). Every step connects
to 127.0.0.1 with the test name as SNI: name resolution is not timed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
from datetime import UTC, datetime, timedelta
import multiprocessing
from pathlib import Path
import socket
import ssl
import statistics
import sys
import tempfile
import time

import certifi
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from custom_components.tls_health.probe import ProbeOptions, Prober, Target, Verdict

HOST = "bench.example.test"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
CERT_EXPIRY_TIMEOUT = 10.0  # cert_expiry's TIMEOUT
SETTLE = 0.002
WHAT_EACH_CHECKS = {
    "bare handshake": "connect, verifying handshake (trusted root, name), close and wait for it",
    "cert_expiry": "the same handshake (close not awaited), the leaf's notAfter: leaf expiry",
    "cert_expiry executor": "the same, blocking, in the default executor (cert_expiry to 2024.1)",
    "basic probe": "handshake capturing the served chain, judged with `cryptography`: trust path,"
    "\n" + " " * 23 + "every certificate's validity, name, chain order and completeness: a verdict",
    "full probe": "basic + TLS 1.0/1.1 scan in parallel + `GET /` (status, HSTS)",
}


def _cert(
    name: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey]
) -> x509.Certificate:
    now = datetime.now(UTC)
    ca = issuer[0] == x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer[0])
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()),
            critical=False,
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False),  # noqa: FBT003
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(issuer[1], hashes.SHA256())


def _pki(directory: Path) -> tuple[Path, Path, Path]:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench Root")])
    root = _cert("Bench Root", root_key, (root_name, root_key))
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _cert(HOST, leaf_key, (root_name, root_key))
    pem = serialization.Encoding.PEM
    (directory / "root.pem").write_bytes(root.public_bytes(pem))
    (directory / "chain.pem").write_bytes(leaf.public_bytes(pem))
    (directory / "key.pem").write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return directory / "root.pem", directory / "chain.pem", directory / "key.pem"


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.write(RESPONSE)
        await writer.drain()
    except OSError, TimeoutError, asyncio.IncompleteReadError:
        pass
    finally:
        writer.close()


async def _timed(
    rounds: int, steps: dict[str, Callable[[], Awaitable[object]]]
) -> dict[str, list[float]]:
    """Run the steps in turn, round after round, so drift (CPU clock, caches) hits all alike.

    Between steps, untimed, the loop gets a moment: what a step left behind (a close it did not
    wait for) is not charged to the next one.
    """
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            started = time.perf_counter()
            await step()
            samples[name].append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(SETTLE)
    return samples


def _serve(
    chain_file: Path,
    key_file: Path,
    ports: multiprocessing.Queue[int],
    addresses: tuple[str, ...] = ("127.0.0.1",),
) -> None:
    """The TLS server, in a process of its own: its work is never timed as the client's.

    It listens on one port of every address given.
    """

    async def serve() -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain_file, key_file)
        context.set_alpn_protocols(["http/1.1"])
        first = await asyncio.start_server(_handle, addresses[0], 0, ssl=context)
        port = first.sockets[0].getsockname()[1]
        for address in addresses[1:]:
            await asyncio.start_server(_handle, address, port, ssl=context)
        ports.put(port)
        await first.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


type Measure = Callable[[int, int, Path], Awaitable[dict[str, list[float]]]]


def measured_against_server(
    rounds: int, measure: Measure, addresses: tuple[str, ...] = ("127.0.0.1",)
) -> dict[str, list[float]]:
    """Run `measure(rounds, port, root_file)` against the server in its own process."""
    with tempfile.TemporaryDirectory() as tmp:
        root_file, chain_file, key_file = _pki(Path(tmp))
        ports: multiprocessing.Queue[int] = multiprocessing.Queue()
        server = multiprocessing.Process(
            target=_serve, args=(chain_file, key_file, ports, addresses)
        )
        server.start()
        try:
            return asyncio.run(measure(rounds, ports.get(timeout=30), root_file))
        finally:
            server.terminate()
            server.join()


def _cert_expiry_steps(port: int, root_file: Path) -> dict[str, Callable[[], Awaitable[object]]]:
    """cert_expiry's way to the expiry date, today and up to HA 2024.1, trusting root_file."""
    loop = asyncio.get_running_loop()
    # HA's get_default_context(): certifi's roots, ALPN http/1.1; built once and shared.
    ha_default = ssl.create_default_context(cafile=certifi.where())
    ha_default.set_alpn_protocols(["http/1.1"])
    ha_default.load_verify_locations(root_file)

    async def cert_expiry() -> None:
        async with asyncio.timeout(CERT_EXPIRY_TIMEOUT):
            transport, _ = await loop.create_connection(
                asyncio.Protocol,
                "127.0.0.1",
                port,
                ssl=ha_default,
                happy_eyeballs_delay=0.25,
                server_hostname=HOST,
            )
        try:
            peercert = transport.get_extra_info("peercert")
        finally:
            transport.close()  # not awaited, as cert_expiry does
        ssl.cert_time_to_seconds(peercert["notAfter"])

    # Up to HA 2024.1: Python's default context (the system's roots), cached.
    python_default = ssl.create_default_context()
    python_default.load_verify_locations(root_file)

    def blocking_get_cert() -> dict[str, object]:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=CERT_EXPIRY_TIMEOUT) as sock,
            python_default.wrap_socket(sock, server_hostname=HOST) as tls,
        ):
            return tls.getpeercert()  # type: ignore[return-value]

    async def cert_expiry_executor() -> None:
        peercert = await loop.run_in_executor(None, blocking_get_cert)
        ssl.cert_time_to_seconds(str(peercert["notAfter"]))

    return {"cert_expiry": cert_expiry, "cert_expiry executor": cert_expiry_executor}


def main(rounds: int) -> None:
    _print_report(rounds, measured_against_server(rounds, _measure))


async def _measure(rounds: int, port: int, root_file: Path) -> dict[str, list[float]]:
    client = ssl.create_default_context(cafile=str(root_file))  # built once

    async def bare() -> None:
        _reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client, server_hostname=HOST
        )
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    prober = await Prober.create()
    target = Target(host=HOST, port=port, address="127.0.0.1", ca_file=str(root_file))

    async def basic() -> None:
        report = await prober.probe(target, ProbeOptions(scan_legacy=False, check_http=False))
        assert report.verdict is Verdict.OK, report.detail  # noqa: S101

    async def full() -> None:
        report = await prober.probe(target)
        assert report.verdict is Verdict.OK, report.detail  # noqa: S101

    steps = {
        "bare handshake": bare,
        **_cert_expiry_steps(port, root_file),
        "basic probe": basic,
        "full probe": full,
    }
    await _timed(10, steps)  # warm up
    return await _timed(rounds, steps)


def _print_report(rounds: int, results: dict[str, list[float]]) -> None:
    medians = {name: statistics.median(samples) for name, samples in results.items()}
    print(f"N = {rounds} rounds of {'/'.join(results)} in turn,")
    print("  127.0.0.1, EC P-256 leaf + private root")
    for name, samples in results.items():
        p90 = statistics.quantiles(samples, n=10)[-1]
        print(f"  {name:20s} median {medians[name]:7.3f} ms   p90 {p90:7.3f} ms")
    bare_median = medians["bare handshake"]
    print(f"  basic / bare    {medians['basic probe'] / bare_median:5.2f}x")
    print(f"  full  / bare    {medians['full probe'] / bare_median:5.2f}x")
    for variant in ("cert_expiry", "cert_expiry executor"):
        print(
            f"  {variant + ' / bare':27s} {medians[variant] / bare_median:5.2f}x"
            f"   basic / it {medians['basic probe'] / medians[variant]:5.2f}x"
            f"   full / it {medians['full probe'] / medians[variant]:5.2f}x"
        )
    print("What each one checks:")
    for name, checks in WHAT_EACH_CHECKS.items():
        print(f"  {name:20s} {checks}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
