"""The probe against a hostile server: every exchange fuzzed, with a fixed seed.

Each family's systematic cases (each hostile value in each part of each answer, each truncation)
come first, then random ones; every conversation must end in a report with nothing raised, no
descriptor left open, memory and loop time bounded, and no step saved by its last-resort handler.
`bench/fuzz.py N` runs many more.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from custom_components.tls_health.probe import Prober
from tests import hostile

SEED = 19
RANDOM = 20  # random conversations per family, after the systematic ones

pytestmark = pytest.mark.usefixtures("loopback_range")


@pytest.mark.parametrize("family", hostile.FAMILIES)
async def test_nothing_a_server_sends_raises(family: str, prober: Prober, tmp_path: Path) -> None:
    fuzzer = hostile.Fuzzer(prober, tmp_path)
    count = hostile.systematic_count(family) + RANDOM
    async with fuzzer.running():
        summary = await fuzzer.run(hostile.conversations(family, SEED), count)
    assert len(summary.outcomes) == count
    assert not summary.failures, summary.describe()
