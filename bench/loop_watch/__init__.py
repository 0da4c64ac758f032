"""Benchmark-only integration: measures event-loop lag and GC pauses inside a real hass.

A ticker sleeps TICK seconds over and over; how late it wakes up is how long something else held
the loop. GC pauses are timed through gc.callbacks. `loop_watch.reset` starts a measurement,
`loop_watch.report` returns it. Never shipped: the benchmarks copy it into their config dir.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

from homeassistant.core import HomeAssistant, ServiceCall, SupportsResponse
from homeassistant.helpers.typing import ConfigType

DOMAIN = "loop_watch"
TICK = 0.002
KEPT = 20


class _Watch:
    def __init__(self) -> None:
        self.lags: list[float] = []
        self.gc_pauses: list[tuple[float, int, int]] = []
        self.ticks = 0
        self._gc_started = 0.0

    def reset(self) -> None:
        self.lags.clear()
        self.gc_pauses.clear()
        self.ticks = 0

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            pause = time.perf_counter() - self._gc_started
            self.gc_pauses.append((pause, info["generation"], info["collected"]))

    async def tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(TICK)
            self.lags.append(loop.time() - before - TICK)
            self.ticks += 1

    def report(self) -> dict[str, Any]:
        lags = sorted(self.lags, reverse=True)
        pauses = sorted(self.gc_pauses, reverse=True)
        return {
            "ticks": self.ticks,
            "longest_lags_ms": [round(lag * 1000, 1) for lag in lags[:KEPT]],
            "lags_over_50_ms": sum(lag > 0.05 for lag in lags),
            "gc_collections": len(pauses),
            "gc_total_ms": round(sum(pause for pause, _, _ in pauses) * 1000, 1),
            "longest_gc_ms": [
                {"ms": round(pause * 1000, 1), "generation": generation, "collected": collected}
                for pause, generation, collected in pauses[:KEPT]
            ],
        }


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:  # noqa: ARG001
    """Start the ticker and the GC timer; register reset and report."""
    watch = _Watch()
    gc.callbacks.append(watch.on_gc)
    hass.async_create_background_task(watch.tick(), "loop_watch ticker")

    async def reset(_: ServiceCall) -> None:
        watch.reset()

    async def report(_: ServiceCall) -> dict[str, Any]:
        return watch.report()

    hass.services.async_register(DOMAIN, "reset", reset)
    hass.services.async_register(DOMAIN, "report", report, supports_response=SupportsResponse.ONLY)
    return True
