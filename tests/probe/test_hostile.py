"""Hostile and broken peers: each ends in a classified verdict within its time budget."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import time

from custom_components.tls_health.probe import Target, Verdict
from tests.certs import issue

BUDGET = 1.0


def loopback(port: int, name: str = "hass.example.test") -> Target:
    return Target(host=name, port=port, address="127.0.0.1")


async def timed_probe(prober, target: Target, **kwargs):
    started = time.perf_counter()
    report = await prober.probe(target, timeout=BUDGET, **kwargs)
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
