"""Cost of checking every address of a name: a name with 4 addresses against one with 1.

Run from the repository root:  .venv/bin/python bench/addresses.py [N]

One TLS server process listens on 127.0.0.1 to 127.0.0.4 (the same port); the name resolves to
127.0.0.1 only, or to all four (the probe engine's `lookup` answers, so no DNS is timed). With four,
the probe connects to the first and handshakes with the three others in parallel. A bare verifying
handshake is timed alongside: the goal is at most one extra handshake time per extra address.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
from pathlib import Path
import socket
import ssl
import statistics
import sys
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.probe_vs_handshake import HOST, _timed, measured_against_server
from custom_components.tls_health.probe import ProbeOptions, Prober, Target, Verdict, engine

ADDRESSES = ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")


def _resolving_to(count: int) -> Callable[[str, int], Awaitable[list[tuple[Any, ...]]]]:
    async def lookup(host: str, port: int) -> list[tuple[Any, ...]]:  # noqa: ARG001
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
            for address in ADDRESSES[:count]
        ]

    return lookup


async def _measure(rounds: int, port: int, root_file: Path) -> dict[str, list[float]]:
    client = ssl.create_default_context(cafile=str(root_file))

    async def bare() -> None:
        _reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client, server_hostname=HOST
        )
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    prober = await Prober.create()
    target = Target(host=HOST, port=port, ca_file=str(root_file))

    def probe(count: int, options: ProbeOptions) -> Callable[[], Awaitable[None]]:
        lookup = _resolving_to(count)

        async def step() -> None:
            engine.lookup = lookup  # type: ignore[assignment]
            report = await prober.probe(target, options)
            assert report.verdict is Verdict.OK, report.detail  # noqa: S101
            assert len(report.addresses) == (count if count > 1 else 0)  # noqa: S101

        return step

    basic = ProbeOptions(scan_legacy=False, check_http=False)
    full = ProbeOptions()
    steps = {
        "bare handshake": bare,
        "basic, 1 address": probe(1, basic),
        "basic, 4 addresses": probe(4, basic),
        "full, 1 address": probe(1, full),
        "full, 4 addresses": probe(4, full),
    }
    await _timed(10, steps)  # warm up
    return await _timed(rounds, steps)


def main(rounds: int) -> None:
    results = measured_against_server(rounds, _measure, ADDRESSES)
    medians = {name: statistics.median(samples) for name, samples in results.items()}
    print(f"N = {rounds} rounds of {'/'.join(results)} in turn")
    for name, samples in results.items():
        p90 = statistics.quantiles(samples, n=10)[-1]
        print(f"  {name:20s} median {medians[name]:7.3f} ms   p90 {p90:7.3f} ms")
    handshake = medians["bare handshake"]
    for kind in ("basic", "full"):
        one, four = medians[f"{kind}, 1 address"], medians[f"{kind}, 4 addresses"]
        print(
            f"  {kind}: 4 addresses / 1 = {four / one:4.2f}x; extra {four - one:6.3f} ms"
            f" = {(four - one) / handshake / 3:4.2f} handshakes per extra address"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
