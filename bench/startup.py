"""Home Assistant start-up time with N TLS Health endpoints, against a hass without the integration.

    .venv/bin/python bench/startup.py 50 [--runs 5]

Set up first, not timed: one loopback TLS server with a *.bench.test wildcard certificate; a config
dir where N endpoints (e<i>.bench.test pinned to 127.0.0.1, trusting the test root) are added
through the config flow API; a config dir without the integration (no custom integration, no
entry, no `tls_health:`). Both are onboarded, given a long-lived token and stopped.

Timed: starts of both dirs in turn (a new `hass` process each, after one untimed start of each),
from spawn until /api/config says RUNNING. Set-up seconds per domain are hass's own
(`integration/setup_info`). First checks run once hass has started, after RUNNING; the time until
every endpoint's first check is done comes from the coordinators' "Finished fetching" lines in
home-assistant.log, against the spawn time.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from datetime import datetime
import logging
from pathlib import Path
import re
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from endpoints import add_endpoints, start_wildcard_server

from tests.e2e.hass_process import HassProcess, run_hass, start_again

POLL_INTERVAL = 0.05
START_WITHIN = 300
FIRST_CHECK = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) DEBUG \(\w+\) \[custom_components\.tls_health\S*\] "
    r"Finished fetching tls_health .* data in ([\d.]+) seconds \(success: True\)$",
    re.MULTILINE,
)
ENTRIES = "/api/config/config_entries/entry?domain=tls_health"


@dataclass(frozen=True, slots=True)
class Start:
    """One timed start."""

    running: float  # seconds from spawn until RUNNING
    setup: dict[str, float]  # hass's set-up seconds per domain
    first_checks_done: float | None = None  # seconds from spawn until the last first check ended
    check_seconds: float | None = None  # median duration of one first check


async def wait_loaded(hass: HassProcess, count: int, within: float = START_WITHIN) -> None:
    """Until `count` TLS Health entries are loaded."""
    async with asyncio.timeout(within):
        while True:
            states = [entry["state"] for entry in await hass.rest("GET", ENTRIES)]
            if len(states) == count and set(states) <= {"loaded"}:
                return
            await asyncio.sleep(POLL_INTERVAL)


async def prepare(config_dir: Path, count: int, server_port: int, root: Path) -> str:
    """Onboard the config dir, add `count` endpoints; a long-lived token of its owner."""
    async with run_hass(config_dir, start_within=START_WITHIN) as hass:
        token = await hass.ws(
            {"type": "auth/long_lived_access_token", "client_name": "bench", "lifespan": 1}
        )
        await add_endpoints(hass, count, server_port, root)
        await wait_loaded(hass, count)
    return str(token)


async def timed_start(config_dir: Path, token: str, count: int) -> Start:
    """Start hass on config_dir once; `count` is the number of TLS Health entries it holds."""
    spawned_at = time.time()
    spawned = time.perf_counter()
    async with start_again(
        config_dir, token, start_within=START_WITHIN, poll_interval=POLL_INTERVAL
    ) as hass:
        await hass.wait_running(START_WITHIN, POLL_INTERVAL)
        running = time.perf_counter() - spawned
        setup_info = await hass.ws({"type": "integration/setup_info"})
        states = [entry["state"] for entry in await hass.rest("GET", ENTRIES)]
        # First checks run once hass has started, so after RUNNING.
        checks = await first_checks(config_dir / "home-assistant.log", count)
    if states != ["loaded"] * count:
        raise RuntimeError(f"TLS Health entries not all loaded: {states}")
    setup = {item["domain"]: float(item["seconds"]) for item in setup_info}
    if not count:
        return Start(running, setup)
    last_done = max(
        datetime.strptime(at, "%Y-%m-%d %H:%M:%S.%f").astimezone().timestamp() for at, _ in checks
    )
    return Start(
        running,
        setup,
        first_checks_done=last_done - spawned_at,
        check_seconds=statistics.median(float(seconds) for _, seconds in checks),
    )


async def first_checks(log: Path, count: int, within: float = 60) -> list[tuple[str, str]]:
    """(time, seconds) of the first `count` checks hass logged, once all are there."""
    async with asyncio.timeout(within):
        while True:
            checks = FIRST_CHECK.findall(await asyncio.to_thread(log.read_text))[:count]
            if len(checks) == count:
                return checks
            await asyncio.sleep(POLL_INTERVAL)


def _median(values: list[float | None]) -> float:
    return statistics.median(value for value in values if value is not None)


def report(count: int, runs: int, with_endpoints: list[Start], without: list[Start]) -> None:
    running_with = _median([start.running for start in with_endpoints])
    running_without = _median([start.running for start in without])
    print(f"hass start-up, {runs} starts of each in turn (a new process each, file cache warm):")
    for name, starts in ((f"{count} endpoints", with_endpoints), ("no TLS Health", without)):
        median = _median([start.running for start in starts])
        domains = round(statistics.median(len(start.setup) for start in starts))
        print(f"  {name:14s} spawn -> RUNNING median {median:6.2f} s  ({domains} domains set up)")
        print(f"  {'':14s} each start: {', '.join(f'{start.running:.2f}' for start in starts)}")
    difference = running_with - running_without
    print(f"  difference {difference:+.2f} s, ratio {running_with / running_without:.2f}x")
    extra_domains = sorted(
        set().union(*(start.setup for start in with_endpoints))
        - set().union(*(start.setup for start in without))
    )
    print("  set-up seconds by hass (integration/setup_info) of the domains only loaded with it:")
    for domain in extra_domains:
        seconds = _median([start.setup.get(domain) for start in with_endpoints])
        print(f"    {domain:14s} median {seconds:6.2f} s")
    done = _median([start.first_checks_done for start in with_endpoints])
    check = _median([start.check_seconds for start in with_endpoints])
    print(f"  spawn -> first checks of all {count} endpoints done  median {done:6.2f} s")
    print(f"  one first check (as the coordinator times it)   median {check:6.3f} s")
    print(f"Reproduce: .venv/bin/python bench/startup.py {count} --runs {runs}")


async def main(count: int, runs: int) -> None:
    logging.getLogger("asyncio").setLevel(logging.ERROR)  # this process's own TLS test server
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pki, server = await start_wildcard_server(folder)
        try:
            with_dir, without_dir = folder / "with", folder / "without"
            (without_dir / "custom_components").mkdir(parents=True)  # no integration linked in
            with_token = await prepare(with_dir, count, server.port, pki.root_file)
            without_token = await prepare(without_dir, 0, server.port, pki.root_file)
            await timed_start(with_dir, with_token, count)  # untimed warm-up of each
            await timed_start(without_dir, without_token, 0)
            with_endpoints: list[Start] = []
            without: list[Start] = []
            for run in range(runs):
                # Alternate which goes first, so drift hits both alike.
                pair = [
                    (with_dir, with_token, count, with_endpoints),
                    (without_dir, without_token, 0, without),
                ]
                for config_dir, token, entries, starts in pair[:: 1 if run % 2 == 0 else -1]:
                    starts.append(await timed_start(config_dir, token, entries))
                    done = starts[-1].first_checks_done
                    print(
                        f"  run {run + 1}: {config_dir.name:7s} RUNNING after "
                        f"{starts[-1].running:5.2f} s"
                        + (f", first checks done after {done:5.2f} s" if done else "")
                    )
        finally:
            await server.stop()
    report(count, runs, with_endpoints, without)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int, nargs="?", default=50, help="endpoints (default 50)")
    parser.add_argument("--runs", type=int, default=5, help="timed starts of each (default 5)")
    arguments = parser.parse_args()
    if arguments.count < 1 or arguments.runs < 1:
        parser.error("count and runs must be at least 1")
    asyncio.run(main(arguments.count, arguments.runs))
