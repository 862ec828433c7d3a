"""Timed sections run alone, while untimed work overlaps.

A run may keep up to `parallel` children alive at once (imports, data loading, exports,
conversions, full test-set passes: untimed work). Before a child times anything (a training loop,
a latency or throughput window) it asks the parent for the gate (an event on stdout) and waits
for "go" on stdin; the parent first pauses every other child of the run (SIGSTOP to the process
and its descendants, then waits until each of their threads is stopped), and resumes them
(SIGCONT) when the child says its section is over. A timed section therefore shares the machine
with no other process of the run, exactly as when children ran one after another; only untimed
work runs side by side. New children are not started while a section is timed.

The gate is also where the parent watches the machine (measure/load.py): it reads what other
processes used around every section, and with `--require-quiet S` waits up to S seconds, before
letting a section start, for them to use less than BUSY_CORES (else MachineBusy).

The child side is `timed_section(what)` in the worker: a no-op unless the parent set EDGEBENCH_GATE=1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from edgebench.errors import MachineBusy
from edgebench.measure import load

GATE_ENV = "EDGEBENCH_GATE"


def _descendants(pid: int) -> list[int]:
    try:
        import psutil

        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except Exception:  # gone already, or psutil missing: the child itself is what matters
        return []


def _threads_stopped(pid: int) -> bool:
    """Every thread of pid stopped (or the process gone)."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return True  # exited, or not Linux (then SIGSTOP's delivery is trusted)
    for t in tasks:
        try:
            state = (t / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("T", "t", "Z", "X"):
            return False
    return True


def _resume_pids(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


class Gate:
    """The parent's side: which children are alive, and which one (if any) is timing."""

    def __init__(self, require_quiet_s: float = 0.0) -> None:
        self.require_quiet_s = require_quiet_s
        self._cv = threading.Condition()
        self._procs: dict[int, subprocess.Popen] = {}
        self._holder: int | None = None
        self._stopped: list[int] = []
        self.paused_s = 0.0  # time children spent paused (all children together)
        self.sections = 0
        self.closed = False  # interrupted: no child starts or times any more

    def _check_open(self) -> None:
        if self.closed:
            raise KeyboardInterrupt  # the run is being interrupted

    def spawn(self, start) -> subprocess.Popen:
        """start(): the Popen, called only while no section is being timed."""
        with self._cv:
            self._cv.wait_for(lambda: self._holder is None or self.closed)
            self._check_open()
            proc = start()
            self._procs[proc.pid] = proc
            return proc

    def enter(self, proc: subprocess.Popen, what: str | None = None) -> None:
        """Blocks until proc may time alone: every other child paused (and, with require_quiet_s,
        the machine quiet)."""
        with self._cv:
            self._cv.wait_for(lambda: self._holder is None or self.closed)
            self._check_open()
            self._holder = proc.pid
            pids = [p for pid in self._procs if pid != proc.pid for p in (pid, *_descendants(pid))]
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGSTOP)
                    self._stopped.append(pid)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 2.0
            while not all(_threads_stopped(p) for p in self._stopped) and time.monotonic() < deadline:
                time.sleep(0.001)
            self._since = time.perf_counter()
            self.sections += 1
            self._what, self._waited = what, 0.0
            try:
                if self.require_quiet_s > 0:
                    self._waited = self._wait_quiet()
                self._reading = load.read()
            except BaseException:
                self._resume()
                raise

    def _wait_quiet(self) -> float:
        """Seconds waited until other processes used under BUSY_CORES over one probe; MachineBusy
        when they did not within require_quiet_s. Each probe waits on the condition, so a child
        that ends or an interruption is handled meanwhile."""
        t0 = time.perf_counter()
        while True:
            a = load.read()
            end = time.perf_counter() + load.QUIET_PROBE_S
            while (left := end - time.perf_counter()) > 0 and not self.closed:
                self._cv.wait(left)
            self._check_open()
            cores = load.between(a, load.read())["outside_cores"]
            waited = time.perf_counter() - t0
            if cores <= load.BUSY_CORES:
                return waited
            if waited >= self.require_quiet_s:
                raise MachineBusy(
                    f"--require-quiet {self.require_quiet_s:g}: other processes still used {cores:.2f} cores "
                    f"(above {load.BUSY_CORES:.2f}) after {waited:.0f} s of waiting to time "
                    f"{self._what or 'a section'}")

    def leave(self, proc: subprocess.Popen) -> dict | None:
        """The section is over: its load record (measure/load.py), the other children resumed."""
        with self._cv:
            if self._holder != proc.pid:
                return None
            rec = {"what": self._what, **load.between(self._reading, load.read())}
            if self.require_quiet_s > 0:
                rec["waited_for_quiet_s"] = self._waited
            self._resume()
            return rec

    def _resume(self) -> None:
        if self._stopped:
            self.paused_s += (time.perf_counter() - self._since) * len({p for p in self._stopped if p in self._procs})
        _resume_pids(self._stopped)
        self._stopped = []
        self._holder = None
        self._cv.notify_all()

    def forget(self, proc: subprocess.Popen) -> None:
        """proc has ended: it no longer takes part (and a section it held is over)."""
        with self._cv:
            self._procs.pop(proc.pid, None)
            if self._holder == proc.pid:
                self._resume()

    def terminate_all(self) -> None:
        """Interrupted: every child ends, nothing new starts or times. Every paused process (a
        child, or one of its own, such as TFLite Micro's probe server) is resumed, so that the
        SIGTERM reaches it and nothing is left stopped."""
        with self._cv:
            self.closed = True
            for proc in list(self._procs.values()):
                if proc.poll() is None:
                    proc.terminate()
            _resume_pids([*self._stopped, *self._procs])
            self._stopped = []
            self._holder = None
            self._cv.notify_all()


def _say(state: str, what: str | None = None) -> None:
    from edgebench.pipeline.jobs import EVENT_PREFIX

    sys.stdout.write(EVENT_PREFIX + json.dumps({"event": "gate", "state": state, "what": what}) + "\n")
    sys.stdout.flush()


@contextmanager
def timed_section(what: str | None = None):
    """The child's side: ask for the gate, wait for "go", time, give it back. A no-op outside a
    gated run (EDGEBENCH_GATE unset), so the worker's functions also run standalone."""
    from edgebench.pipeline.affinity import timed_cores

    if os.environ.get(GATE_ENV) != "1":
        with timed_cores():
            yield
        return
    _say("enter", what)
    if sys.stdin.readline().strip() != "go":
        raise RuntimeError("the parent closed the timing gate")
    try:
        with timed_cores():  # moved while every other child is paused, before the clock starts
            yield
    finally:
        _say("leave")
