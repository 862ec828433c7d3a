"""Latency and throughput of a loaded runtime session: load once, warm up, then time."""

from __future__ import annotations

import time
from typing import Callable


def time_calls(call: Callable[[], object], *, min_iters: int, min_time_s: float, warmup: int,
               max_iters: int = 1_000_000, what: str = "latency") -> list[int]:
    """Per-call durations in ns: at least min_iters calls and at least min_time_s of timed work.
    In a run's child, warm-up and window run alone (no other child of the run is running)."""
    from edgebench.pipeline.gate import timed_section

    samples: list[int] = []
    with timed_section(what):
        for _ in range(warmup):
            call()
        clock = time.perf_counter_ns
        budget_ns = int(min_time_s * 1e9)
        total = 0
        while (len(samples) < min_iters or total < budget_ns) and len(samples) < max_iters:
            t0 = clock()
            call()
            dt = clock() - t0
            samples.append(dt)
            total += dt
    return samples
