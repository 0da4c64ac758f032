"""Cost of the revocation check: a probe with it (cold and warm CRL cache) against one without.

Run from the repository root:  .venv/bin/python bench/revocation.py [N] [ENTRIES]

A real `openssl ca` issues the served certificate and writes a CRL of ENTRIES revoked serials
(default 1,000, a Let's Encrypt shard is of that order); nginx serves it on 127.0.0.1 and
`openssl s_server` serves the certificate. Rounds interleave the three kinds:
- off:  check_revocation=False;
- cold: a new Prober each round (created beforehand, not timed): the CRL is downloaded, parsed,
  its signature verified and the serial looked up;
- warm: one Prober whose cache holds the CRL: only the lookup (in the executor).
The goal: a warm check costs at most 10 % more than one without.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
import random
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from custom_components.tls_health.probe import (
    ProbeOptions,
    Prober,
    RevocationState,
    Target,
    Verdict,
)
from tests.authority import served_authority
from tests.daemons import free_ports

HOST = "hass.example.test"
OFF = ProbeOptions(
    timeout=10,
    scan_legacy=False,
    check_http=False,
    check_revocation=False,
    check_renewal_info=False,
)
ON = ProbeOptions(timeout=10, scan_legacy=False, check_http=False, check_renewal_info=False)


def _expect(condition: bool, message: str) -> None:  # noqa: FBT001
    if not condition:
        raise SystemExit(message)


async def _measure(rounds: int, port: int, root: Path) -> dict[str, list[float]]:
    target = Target(host=HOST, port=port, address="127.0.0.1", ca_file=str(root))
    warm = await Prober.create()
    off = await Prober.create()
    colds = [await Prober.create() for _ in range(rounds)]
    for prober, options in ((warm, ON), (off, OFF)):  # warm-up: CA file, contexts, the CRL
        report = await prober.probe(target, options)
        _expect(report.verdict is Verdict.OK, report.detail)
    results: dict[str, list[float]] = {"off": [], "cold": [], "warm": []}
    order = random.Random(1)
    for index in range(rounds):
        kinds = [("off", off, OFF), ("cold", colds[index], ON), ("warm", warm, ON)]
        order.shuffle(kinds)  # no kind always follows another
        for kind, prober, options in kinds:
            started = time.perf_counter()
            report = await prober.probe(target, options)
            results[kind].append((time.perf_counter() - started) * 1000)
            _expect(report.verdict is Verdict.OK, report.detail)
            if options is ON:
                status = report.revocation
                _expect(status is not None and status.state is RevocationState.GOOD, str(status))
    return results


def main(rounds: int, entries: int) -> None:
    openssl = shutil.which("openssl")
    _expect(openssl is not None, "openssl is not installed")
    assert openssl is not None  # noqa: S101 - for the type checker
    with served_authority() as (ca, nginx, www):
        leaf = ca.issue(HOST, crl_url=nginx.url("ca.crl"))
        ca.revoke_many(entries)
        crl = ca.crl(www / "ca.crl")
        port = free_ports(1)[0]
        server = subprocess.Popen(  # noqa: S603 - fixed argv
            [
                openssl,
                *("s_server", "-quiet", "-accept", str(port), "-naccept", str(rounds * 4)),
                *("-cert", str(leaf.cert_file), "-key", str(leaf.key_file)),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.5)
            results = asyncio.run(_measure(rounds, port, ca.root_file))
        finally:
            server.terminate()
            server.wait(5)
        size = crl.stat().st_size
    print(f"{rounds} rounds, CRL of {entries} entries ({size / 1024:.0f} KiB), interleaved")
    print(f"{'kind':<6} {'min ms':>7} {'median ms':>10} {'mean ms':>9} {'p90 ms':>8}")
    for kind, values in results.items():
        values.sort()
        p90 = values[int(len(values) * 0.9) - 1]
        print(
            f"{kind:<6} {values[0]:>7.2f} {statistics.median(values):>10.2f} "
            f"{statistics.fmean(values):>9.2f} "
            f"{p90:>8.2f}"
        )
    off, warm = statistics.median(results["off"]), statistics.median(results["warm"])
    print(f"warm / off = {warm / off:.3f} (goal: at most 1.10)")


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 100,
        int(sys.argv[2]) if len(sys.argv) > 2 else 1000,
    )
