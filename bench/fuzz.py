"""The probe engine against a hostile server: many fuzzed conversations, and what they cost.

Run from the repository root:  .venv/bin/python bench/fuzz.py [N] [--seed S] [--family F ...]

Runs N conversations in all, split evenly over the families (GET / over HTTPS, the plain-HTTP
redirect port, SMTP, IMAP, POP3 each upgraded, refused and over direct TLS with their goodbyes,
LDAP StartTLS accepted and refused, the PostgreSQL SSLRequest byte): each family's thorough
systematic cases first (every hostile value in every answer, a cut at every byte of every
answer), then random ones from the seed; the same checks as the test suite's fuzzer
(tests/probe/test_fuzz.py), which runs a fixed share of them. Prints conversations per second,
the slowest conversation and step, the longest event-loop callback and the largest memory peak,
and every failure. The name resolves to 127.0.0.1 and 127.0.0.2 (Linux routes all of 127/8 to
loopback).
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
import logging
from pathlib import Path
import statistics
import sys
import tempfile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from custom_components.tls_health.probe import Prober
from tests import hostile


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/fuzz.py")
    parser.add_argument("count", nargs="?", type=int, default=5000, help="conversations in all")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--family", action="append", choices=hostile.FAMILIES)
    return parser.parse_args()


async def _run(count: int, seed: int, families: tuple[str, ...]) -> hostile.Summary:
    prober = await Prober.create()
    summary = hostile.Summary()
    with tempfile.TemporaryDirectory() as directory:
        fuzzer = hostile.Fuzzer(prober, Path(directory))
        async with fuzzer.running():
            for index, family in enumerate(families):
                share = count // len(families) + (index < count % len(families))
                cases = hostile.conversations(family, seed, thorough=True)
                part = await fuzzer.run(cases, share)
                summary.outcomes += part.outcomes
                summary.seconds += part.seconds
                print(
                    f"  {family:9s} {share:6d} conversations in {part.seconds:7.1f} s"
                    f"  ({share / part.seconds:6.1f}/s), {len(part.failures)} failed",
                    flush=True,
                )
    return summary


def main() -> None:
    args = _arguments()
    families = tuple(args.family or hostile.FAMILIES)
    # asyncio's own warnings about the hostile side's streams are not the probe's
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    print(f"{args.count} conversations, seed {args.seed}, families {', '.join(families)}")
    summary = asyncio.run(_run(args.count, args.seed, families))
    outcomes = summary.outcomes
    seconds = [outcome.seconds for outcome in outcomes]
    slowest = max(outcomes, key=lambda outcome: outcome.seconds)
    step, step_ms, step_case = summary.slowest_step()
    callback = max(outcomes, key=lambda outcome: outcome.callback_cpu)
    memory = max(outcomes, key=lambda outcome: outcome.memory)
    rate = len(outcomes) / summary.seconds
    print(f"{len(outcomes)} conversations in {summary.seconds:.1f} s: {rate:.1f}/s")
    print(
        f"  per conversation: median {statistics.median(seconds) * 1000:.1f} ms,"
        f" p90 {statistics.quantiles(seconds, n=10)[-1] * 1000:.1f} ms"
    )
    print(f"  slowest conversation {slowest.seconds * 1000:.0f} ms: {slowest.case}")
    print(f"  slowest step {step} {step_ms:.0f} ms: {step_case}")
    print(
        f"  longest loop callback {callback.callback_cpu * 1000:.1f} ms CPU"
        f" ({callback.callback_wall * 1000:.1f} ms wall): {callback.case}"
    )
    wall = max(outcome.callback_wall for outcome in outcomes)
    print(
        f"  longest loop callback by wall time {wall * 1000:.1f} ms (a loaded machine adds to it)"
    )
    print(f"  largest memory peak {memory.memory / 1024:.0f} KiB: {memory.case}")
    verdicts = Counter(outcome.verdict for outcome in outcomes)
    print("  verdicts: " + ", ".join(f"{verdict} {n}" for verdict, n in verdicts.most_common()))
    print(summary.describe(limit=50) if summary.failures else "no failures")


if __name__ == "__main__":
    main()
