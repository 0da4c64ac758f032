"""The CPU time of the longest event-loop callback: what a hostile input makes the loop spend.

CPU time of the loop's thread, not wall time: on a loaded machine a 35 ms judgement took 82 ms of
wall time, preempted, and a 1 ms callback 17 ms. Blocking I/O is not measured here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import contextlib
from dataclasses import dataclass
import time


@dataclass(slots=True)
class LongestCallback:
    """The event-loop callback that used the most CPU time, and how much (seconds)."""

    cpu: float = 0.0
    handle: str = ""


@contextlib.contextmanager
def longest_loop_callback() -> Iterator[LongestCallback]:
    """Measure the CPU time of each event-loop callback run inside the block."""
    longest = LongestCallback()
    run = asyncio.events.Handle._run

    def timed_run(handle: asyncio.Handle) -> None:
        started = time.thread_time()
        try:
            run(handle)
        finally:
            if (spent := time.thread_time() - started) > longest.cpu:
                longest.cpu, longest.handle = spent, repr(handle)

    asyncio.events.Handle._run = timed_run  # type: ignore[method-assign]
    try:
        yield longest
    finally:
        asyncio.events.Handle._run = run  # type: ignore[method-assign]
