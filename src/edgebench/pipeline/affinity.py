"""Which cores a child process runs on (Linux; elsewhere nothing is pinned).

A child that uses N threads, N below the cores this process may use, is pinned to N of them: a
hard cap every framework respects (XLA has no N-thread knob). Its timed sections run on the first
N cores, always the same ones, while every other child of the run is paused (pipeline/gate.py).
Outside them, each task runs on the N cores the parent chose for it (Slots: the group of N
cores the fewest running tasks use; EDGEBENCH_CORE_SLOT, or the task's command to a long-lived
worker), so that untimed work in single-threaded children (verification, TFLite Micro, the
compilers and emulators they start) spreads over the machine instead of sharing core 0.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from contextlib import contextmanager

SLOT_ENV = "EDGEBENCH_CORE_SLOT"

_untimed: list[int] | None = None  # this process's cores outside timed sections (None: not pinned)
_timed: list[int] | None = None  # its cores inside them


def choose(allowed: list[int], n: int, slot: int) -> tuple[list[int], list[int]] | None:
    """(untimed cores, timed cores) for a child of n threads numbered `slot`; None: no pinning
    (n covers every allowed core, or n is 0)."""
    cores = sorted(allowed)
    if not 0 < n < len(cores):
        return None
    start = (slot * n) % len(cores)
    return [cores[(start + i) % len(cores)] for i in range(n)], cores[:n]


def _allowed() -> list[int] | None:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None


_ALLOWED = _allowed()  # the cores this process may use, read before it pins itself


def pin(n: int | None = None) -> None:
    """Pin this process (default: EDGEBENCH_THREADS threads, EDGEBENCH_CORE_SLOT) before it starts
    any thread."""
    global _untimed, _timed
    if n is None:
        n = int(os.environ.get("EDGEBENCH_THREADS", "0") or 0)
    chosen = choose(_ALLOWED, n, int(os.environ.get(SLOT_ENV, "0") or 0)) if _ALLOWED else None
    if chosen is None:
        return
    _untimed, _timed = chosen
    os.sched_setaffinity(0, _untimed)


def move(slot: int) -> None:
    """A long-lived worker's next task: its untimed cores are slot's (every thread moved)."""
    global _untimed
    if _untimed is None:
        return
    chosen = choose(_ALLOWED, len(_untimed), slot)
    if chosen is not None and chosen[0] != _untimed:
        _untimed = chosen[0]
        _set(_untimed)


class Slots:
    """The parent's side: which group of cores each running task of n threads gets, the one the
    fewest running tasks use (ties: the lowest)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._use: Counter = Counter()

    def take(self, n: int) -> int:
        cores = len(_ALLOWED or ())
        groups = cores // n if 0 < n < cores else 1  # a child using every core is not pinned: one group
        with self._lock:
            slot = min(range(groups), key=lambda s: (self._use[(n, s)], s))
            self._use[(n, slot)] += 1
            return slot

    def give(self, n: int, slot: int) -> None:
        with self._lock:
            self._use[(n, slot)] -= 1


def _set(cores: list[int]) -> None:
    """Every thread of this process on `cores` (sched_setaffinity(0) moves only the calling one)."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cores)
        except (ProcessLookupError, PermissionError, OSError):
            pass  # a thread that has just ended


@contextmanager
def timed_cores():
    """Inside: the process on its timed cores (the first N), as every timed section has run."""
    if _untimed is None or _untimed == _timed:
        yield
        return
    _set(_timed)
    try:
        yield
    finally:
        _set(_untimed)
