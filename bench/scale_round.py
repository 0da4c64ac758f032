"""N endpoints in a real hass, checked in one round: wall time, memory, and event-loop stalls.

    .venv/bin/python bench/scale_round.py 500 [--no-asyncio-debug]

Every endpoint is a name under *.bench.test on one loopback TLS server (a wildcard certificate),
pinned to 127.0.0.1. The round is `tls_health.check_now` (all endpoints at once, at most 32 probes
running). The ideal it is compared with: the same number of bare TLS handshakes, 32 at a time, from
this process to the same server. Stalls: hass runs with asyncio debug on, which logs every callback
that holds the event loop longer than 50 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
import re
import ssl
import sys
import tempfile
import time

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.certs import Pki, issue
from tests.e2e.hass_process import run_hass
from tests.servers import HttpHandler, Server

CONCURRENCY = 32
STALL = re.compile(r"Executing .* took (\d+\.\d+) seconds")


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
        pki = Pki(folder)
        leaf = issue("bench.test", issuer=pki.intermediate, names=("*.bench.test",))
        context = pki.server_context(leaf, pki.intermediate)
        server = await Server(HttpHandler(), context=context).start()
        # Any non-empty value turns asyncio's debug mode on; unset it to turn it off.
        with _environ({"PYTHONASYNCIODEBUG": "1" if asyncio_debug else None}):
            async with run_hass(folder / "config") as hass:
                pid = hass.process.pid if hass.process else 0
                kept_log = Path(tempfile.gettempdir()) / "tls_health_scale_round.log"
                before = psutil.Process(pid).memory_info().rss
                started = time.perf_counter()
                for index in range(count):
                    created = await hass.add_endpoint(
                        f"https://e{index}.bench.test:{server.port}",
                        address="127.0.0.1",
                        ca_file=str(pki.root_file),
                    )
                    if created["type"] != "create_entry":
                        raise RuntimeError(created)
                added = time.perf_counter() - started
                after_add = psutil.Process(pid).memory_info().rss
                # The first round also builds what every later one reuses (sessions, caches).
                first_started = time.perf_counter()
                await hass.rest("POST", "/api/services/tls_health/check_now", {})
                first_round = time.perf_counter() - first_started
                log_mark = hass.log.stat().st_size
                started = time.perf_counter()
                await hass.rest("POST", "/api/services/tls_health/check_now", {})
                round_seconds = time.perf_counter() - started
                peak = psutil.Process(pid).memory_info().rss
                with hass.log.open() as log:
                    log.seek(log_mark)
                    round_log = log.read()
                kept_log.write_text(round_log)
                stalls = [float(found) for found in STALL.findall(round_log)]
        ideal = await bare_handshakes(server.port, pki.root_file, count)
        await server.stop()
    debug = "on" if asyncio_debug else "off"
    print(f"{count} endpoints in one hass (asyncio debug {debug}), check_now rounds:")
    print(f"  adding them through the config flow API  {added:7.1f} s")
    print(f"  first round (check_now)                    {first_round:7.2f} s")
    print(f"  second round (check_now)                   {round_seconds:7.2f} s")
    print(f"  ideal: {count} bare handshakes, {CONCURRENCY} at a time {ideal:7.2f} s")
    print(f"  round / ideal                              {round_seconds / ideal:7.1f}x")
    per_endpoint = (peak - before) / count / 1024
    print(f"  RSS before {before / 2**20:.0f} MiB, after adding {after_add / 2**20:.0f} MiB,")
    print(f"  after the round {peak / 2**20:.0f} MiB: {per_endpoint:.0f} kB per endpoint")
    longest = max(stalls, default=0.0) * 1000
    print(f"  callbacks over 50 ms in the second round: {len(stalls)}, longest {longest:.0f} ms")
    print(f"  (hass's log of the round: {kept_log})")


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
            asyncio_debug="--no-asyncio-debug" not in sys.argv,
        )
    )
