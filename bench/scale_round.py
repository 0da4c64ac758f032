"""N endpoints in a real hass, checked in one round: wall time, memory, and event-loop stalls.

    .venv/bin/python bench/scale_round.py 500 [--asyncio-debug]

Every endpoint is a name under *.bench.test on one loopback TLS server (a wildcard certificate),
pinned to 127.0.0.1. The round is `tls_health.check_now` (all endpoints at once, at most 32 probes
running). The ideal it is compared with: the same number of bare TLS handshakes, 32 at a time, from
this process to the same server.

Stalls: bench/loop_watch.py, loaded into the hass under test, times how late a 2 ms ticker wakes up
and how long each GC collection takes. With --asyncio-debug, asyncio also logs every callback
that holds the loop over 50 ms, naming it (debug mode itself slows everything down).
Peak memory: the kernel's high-water mark of hass's RSS (VmHWM), reset just before the round.
"""

from __future__ import annotations

import asyncio
from collections import Counter
import contextlib
from dataclasses import dataclass
import json
import logging
from pathlib import Path
import re
import ssl
import sys
import tempfile
import time
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from endpoints import add_endpoints, start_wildcard_server

from tests.e2e.hass_process import ROOT, HassProcess, run_hass

CONCURRENCY = 32
STALL = re.compile(r"Executing .* took (\d+\.\d+) seconds")
LOOP_WATCH = Path(__file__).resolve().parent / "loop_watch.py"
# Written at run time: a manifest.json in the repository would be validated as an integration.
LOOP_WATCH_MANIFEST = {
    "domain": "loop_watch",
    "name": "Loop watch (benchmarks only)",
    "codeowners": [],
    "documentation": "https://example.invalid/loop_watch",
    "iot_class": "local_polling",
    "requirements": [],
    "version": "0.0.0",
}


def link_integrations(config_dir: Path) -> None:
    """TLS Health and the benchmark-only loop watch, side by side in the config dir."""
    components = config_dir / "custom_components"
    components.mkdir(parents=True)
    (components / "tls_health").symlink_to(ROOT / "custom_components" / "tls_health")
    loop_watch = components / "loop_watch"
    loop_watch.mkdir()
    (loop_watch / "__init__.py").symlink_to(LOOP_WATCH)
    (loop_watch / "manifest.json").write_text(json.dumps(LOOP_WATCH_MANIFEST), encoding="utf-8")


def high_water_mark(pid: int) -> int:
    """Peak RSS in bytes since the last reset_high_water_mark."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def reset_high_water_mark(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


async def bare_handshakes(port: int, root: Path, count: int) -> float:
    """Seconds for `count` verifying handshakes, CONCURRENCY at a time."""
    context = ssl.create_default_context(cafile=str(root))
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(index: int) -> None:
        async with slots:
            _, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=context, server_hostname=f"e{index}.bench.test"
            )
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    started = time.perf_counter()
    await asyncio.gather(*(one(index) for index in range(count)))
    return time.perf_counter() - started


async def main(count: int, *, asyncio_debug: bool) -> None:
    logging.getLogger("asyncio").setLevel(logging.ERROR)  # this process's own TLS test server
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pki, server = await start_wildcard_server(folder)
        link_integrations(folder / "config")
        # Any non-empty value turns asyncio's debug mode on; unset it to turn it off.
        with _environ({"PYTHONASYNCIODEBUG": "1" if asyncio_debug else None}):
            async with run_hass(folder / "config", yaml="loop_watch:\n") as hass:
                pid = hass.process.pid if hass.process else 0
                kept_log = Path(tempfile.gettempdir()) / "tls_health_scale_round.log"
                before = psutil.Process(pid).memory_info().rss
                full_gc_before = await full_collection_ms(hass)
                objects_before = await tracked_objects(hass)
                started = time.perf_counter()
                await add_endpoints(hass, count, server.port, pki.root_file)
                added = time.perf_counter() - started
                after_add = psutil.Process(pid).memory_info().rss
                # The first round also builds what every later one reuses (sessions, caches).
                first_started = time.perf_counter()
                await hass.rest("POST", "/api/services/tls_health/check_now", {})
                first_round = time.perf_counter() - first_started
                log_mark = hass.log.stat().st_size
                await hass.rest("POST", "/api/services/loop_watch/reset", {})
                reset_high_water_mark(pid)
                started = time.perf_counter()
                await hass.rest("POST", "/api/services/tls_health/check_now", {})
                round_seconds = time.perf_counter() - started
                peak = high_water_mark(pid)
                watched = await hass.rest(
                    "POST", "/api/services/loop_watch/report?return_response", {}
                )
                full_gc_after = await full_collection_ms(hass)
                objects_after = await tracked_objects(hass)
                with hass.log.open() as log:
                    log.seek(log_mark)
                    round_log = log.read()
                kept_log.write_text(round_log)
                stalls = [float(found) for found in STALL.findall(round_log)]
        ideal = await bare_handshakes(server.port, pki.root_file, count)
        await server.stop()
    print_figures(
        count,
        Figures(added, first_round, round_seconds, ideal, before, after_add, peak),
        watched["service_response"],
        stalls if asyncio_debug else None,
    )
    print(
        f"  a full GC collection of hass's heap: {full_gc_before} ms without the endpoints, ",
        end="",
    )
    print(f"{full_gc_after} ms with them")
    added = objects_after - objects_before
    print(
        f"  objects the collector tracks: {objects_before.total()} without the endpoints, ", end=""
    )
    print(
        f"{objects_after.total()} with them ({added.total() / count:.0f} per endpoint); most added:"
    )
    print("   ", ", ".join(f"{name} {number}" for name, number in added.most_common(12)))
    print(f"  (hass's log of the round: {kept_log})")


async def tracked_objects(hass: HassProcess) -> Counter[str]:
    answer = await hass.rest("POST", "/api/services/loop_watch/objects?return_response", {})
    return Counter(answer["service_response"]["by_type"])


async def full_collection_ms(hass: HassProcess) -> float:
    answer = await hass.rest("POST", "/api/services/loop_watch/collect?return_response", {})
    return float(answer["service_response"]["full_collection_ms"])


@dataclass(frozen=True)
class Figures:
    added: float
    first_round: float
    round_seconds: float
    ideal: float
    rss_before: int
    rss_after_adding: int
    peak_rss: int


def print_figures(
    count: int, figures: Figures, watch: dict[str, Any], stalls: list[float] | None
) -> None:
    mib = 2**20
    debug = "off" if stalls is None else "on"
    print(f"{count} endpoints in one hass (asyncio debug {debug}), check_now rounds:")
    print(f"  adding them through the config flow API  {figures.added:7.1f} s")
    print(f"  first round (check_now)                    {figures.first_round:7.2f} s")
    print(f"  second round (check_now)                   {figures.round_seconds:7.2f} s")
    print(f"  ideal: {count} bare handshakes, {CONCURRENCY} at a time {figures.ideal:7.2f} s")
    ratio = figures.round_seconds / figures.ideal
    print(f"  round / ideal                              {ratio:7.1f}x")
    print(f"  RSS before adding {figures.rss_before / mib:.0f} MiB, after adding ", end="")
    print(f"{figures.rss_after_adding / mib:.0f} MiB, peak during the round ", end="")
    per_endpoint = (figures.peak_rss - figures.rss_before) / count / 1024
    print(f"{figures.peak_rss / mib:.0f} MiB: {per_endpoint:.0f} kB per endpoint")
    print(f"  ready work waits (2 ms ticker, {watch['ticks']} ticks): ", end="")
    print(f"{watch['lags_over_50_ms']} over 50 ms, longest {watch['longest_lags_ms'][:8]} ms")
    print(f"  callbacks: {watch['callbacks']}, over 20 ms: {watch['slow_callbacks']}; longest:")
    for slow in watch["longest_callbacks"][:5]:
        print(f"    {slow['ms']} ms (CPU {slow['cpu_ms']} ms, GC {slow['gc_ms']} ms): ", end="")
        print(slow["callback"].replace(str(ROOT), ".")[:160])
    longest_gc = [(pause["ms"], pause["generation"]) for pause in watch["longest_gc_ms"][:5]]
    print(
        f"  GC: {watch['gc_collections']} collections, {watch['gc_total_ms']} ms in all, ", end=""
    )
    print(f"longest (ms, generation) {longest_gc}")
    if stalls is not None:
        longest = max(stalls, default=0.0) * 1000
        print(f"  asyncio debug: callbacks over 50 ms: {len(stalls)}, longest {longest:.0f} ms")


@contextlib.contextmanager
def _environ(values: dict[str, str | None]):  # noqa: ANN202
    import os  # noqa: PLC0415

    saved = {key: os.environ.get(key) for key in values}
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


if __name__ == "__main__":
    arguments = [argument for argument in sys.argv[1:] if not argument.startswith("--")]
    asyncio.run(
        main(
            int(arguments[0]) if arguments else 500,
            asyncio_debug="--asyncio-debug" in sys.argv,
        )
    )
