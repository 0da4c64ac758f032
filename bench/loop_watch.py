"""Benchmark-only integration: measures event-loop lag and GC pauses inside a real hass.

Every callback the loop runs is timed (asyncio's Handle._run wrapped: the slow-callback measurement
of asyncio debug mode, without the rest of debug mode's cost), and GC pauses are timed through
gc.callbacks, so a slow callback can be told apart from a collection that happened inside it. A
ticker sleeping TICK seconds over and over shows how late ready work gets to run when the loop is
busy. `loop_watch.reset` starts a measurement, `loop_watch.report` returns it, `loop_watch.collect`
times a full collection, `loop_watch.objects` counts what it walks. Never shipped: the
benchmarks link it into their config dir.
"""

from __future__ import annotations

import asyncio
from collections import Counter
import gc
import heapq
import time
from typing import Any

from homeassistant.core import HomeAssistant, ServiceCall, SupportsResponse
from homeassistant.helpers.typing import ConfigType

DOMAIN = "loop_watch"
TICK = 0.002
KEPT = 20
SLOW = 0.02


class _Watch:
    def __init__(self) -> None:
        self.lags: list[float] = []
        self.gc_pauses: list[tuple[float, int, int]] = []
        self.ticks = 0
        self.callbacks = 0
        self.slow = 0
        self.longest: list[tuple[float, float, float, str]] = []  # a min-heap of the KEPT longest
        self._gc_started = 0.0
        self._gc_seconds = 0.0

    def reset(self) -> None:
        self.lags.clear()
        self.gc_pauses.clear()
        self.longest.clear()
        self.slow = 0
        self.ticks = 0
        self.callbacks = 0

    def time_callbacks(self) -> None:
        run = asyncio.Handle._run  # noqa: SLF001
        watch = self

        def timed_run(handle: asyncio.Handle) -> None:
            gc_before = watch._gc_seconds
            started, cpu_started = time.perf_counter(), time.thread_time()
            run(handle)
            took = time.perf_counter() - started
            watch.callbacks += 1
            if took > SLOW:
                watch.slow += 1
            if len(watch.longest) < KEPT or took > watch.longest[0][0]:
                cpu = time.thread_time() - cpu_started
                entry = (took, cpu, watch._gc_seconds - gc_before, _describe(handle))
                if len(watch.longest) < KEPT:
                    heapq.heappush(watch.longest, entry)
                else:
                    heapq.heapreplace(watch.longest, entry)

        asyncio.Handle._run = timed_run  # type: ignore[method-assign]  # noqa: SLF001

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            pause = time.perf_counter() - self._gc_started
            self._gc_seconds += pause
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
        longest = sorted(self.longest, reverse=True)
        return {
            "callbacks": self.callbacks,
            "slow_callbacks": self.slow,
            "longest_callbacks": [
                {
                    "ms": round(took * 1000, 1),
                    "cpu_ms": round(cpu * 1000, 1),
                    "gc_ms": round(in_gc * 1000, 1),
                    "callback": what,
                }
                for took, cpu, in_gc, what in longest
            ],
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


def _describe(handle: asyncio.Handle) -> str:
    """The task a step belongs to (its coroutine and where it now waits), or the handle."""
    owner = getattr(handle._callback, "__self__", None)  # noqa: SLF001
    if isinstance(owner, asyncio.Task):
        coro = owner.get_coro()
        frame = getattr(coro, "cr_frame", None)
        where = f" at {frame.f_code.co_filename}:{frame.f_lineno}" if frame else ""
        return f"task {owner.get_name()} {getattr(coro, '__qualname__', coro)}{where}"
    return repr(handle)[:300]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:  # noqa: ARG001
    """Time callbacks and GC, start the ticker; register reset and report."""
    watch = _Watch()
    gc.callbacks.append(watch.on_gc)
    watch.time_callbacks()
    hass.async_create_background_task(watch.tick(), "loop_watch ticker")

    async def reset(_: ServiceCall) -> None:
        watch.reset()

    async def report(_: ServiceCall) -> dict[str, Any]:
        return watch.report()

    async def collect(_: ServiceCall) -> dict[str, Any]:
        # What a full collection of this process's heap costs: the longest pause GC can cause.
        started = time.perf_counter()
        gc.collect()
        return {"full_collection_ms": round((time.perf_counter() - started) * 1000, 1)}

    async def objects(_: ServiceCall) -> dict[str, Any]:
        # Objects the cycle collector tracks, by type: what a full collection has to walk.
        tracked = Counter(type(item).__qualname__ for item in gc.get_objects())
        return {"tracked": sum(tracked.values()), "by_type": dict(tracked)}

    hass.services.async_register(
        DOMAIN, "objects", objects, supports_response=SupportsResponse.ONLY
    )
    hass.services.async_register(DOMAIN, "reset", reset)
    hass.services.async_register(
        DOMAIN, "collect", collect, supports_response=SupportsResponse.ONLY
    )
    hass.services.async_register(DOMAIN, "report", report, supports_response=SupportsResponse.ONLY)
    return True
