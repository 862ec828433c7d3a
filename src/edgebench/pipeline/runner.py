"""Runs tasks in child processes: one task in a child of its own (`run_child`: `python -m
edgebench.worker TASK.json`), or in a long-lived worker that takes one task after another
(`WorkerPool`: `python -m edgebench.worker --serve`). Either way: thread pools sized before any
framework loads, progress events relayed, the outcome read back and validated, and no child left
behind when the parent is interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from edgebench.pipeline.affinity import SLOT_ENV, Slots
from edgebench.pipeline.gate import GATE_ENV, Gate
from edgebench.pipeline.jobs import EVENT_PREFIX, Outcome, Task, outcome_from_json, task_to_json


@dataclass(frozen=True)
class ChildResult:
    returncode: int
    outcome: Outcome | None  # None: the child died before reporting
    stderr_tail: str
    wall_s: float
    sections: tuple = ()  # the load record of each timed section, in order (measure/load.py)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.outcome is not None and self.outcome.status == "ok"

    def failure(self, what: str) -> str:
        """Why it failed, in one line: the child's own error, else how it died and its last log line."""
        if self.outcome is not None and self.outcome.error:
            return self.outcome.error
        last = self.stderr_tail.strip().splitlines()[-1:] or [""]
        return f"{what} process {_how(self.returncode)} without a result; last log line: {last[0][:300]}"

    def died(self) -> "ChildResult":
        """The same result without the outcome: for what the child had not finished when it died."""
        return replace(self, outcome=None)


SLOTS = Slots()  # the cores each running task gets outside its timed sections (affinity.py)


def child_env(threads: int, slot: int = 0) -> dict:
    env = dict(os.environ)
    n = str(threads)
    env[SLOT_ENV] = str(slot)
    env.update({
        # Thread pools are sized at import time: set every knob before the framework loads.
        "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n,
        "TF_NUM_INTRAOP_THREADS": n, "TF_NUM_INTEROP_THREADS": n,
        "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow", "PYTHONUNBUFFERED": "1",
        "JAX_PLATFORMS": "cpu", "EDGEBENCH_THREADS": n,
    })
    if threads == 1:  # XLA has no N-thread knob; for N > 1 the worker pins the process to N cores
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                            " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
    return env


def _worker_command(serve: bool, task_path: Path | None = None) -> list[str]:
    return [sys.executable, "-m", "edgebench.worker", "--serve" if serve else str(task_path)]


def _start(command: list[str], threads: int, slot: int, gate: Gate | None, log, stdin) -> subprocess.Popen:
    """A child with the thread settings of `threads` threads, pinned to `slot`'s cores, stderr to
    log; with a gate, started only while no section is timed (and told to ask it before timing)."""
    env = child_env(threads, slot)
    if gate is not None:
        env[GATE_ENV] = "1"

    def start():
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, stdin=stdin, text=True, env=env)

    return gate.spawn(start) if gate else start()


def _prepare(task: Task, work_dir: Path) -> tuple[Task, Path, Path]:
    task_path = work_dir / f"{task.name}.task.json"
    result_path = work_dir / f"{task.name}.result.json"
    task = replace(task, result_path=str(result_path))
    task_path.write_text(task_to_json(task))
    result_path.unlink(missing_ok=True)
    return task, task_path, result_path


def _relay(proc: subprocess.Popen, log, on_event: Callable[[dict], None], gate: Gate | None,
           sections: list[dict]) -> int | None:
    """The child's stdout until its task is done: events to on_event (the gate's to the gate), other
    lines to the log. A served task's "task-done" event gives its exit code; None: the stream ended
    (the child exited, or died)."""
    for line in proc.stdout:
        if not line.startswith(EVENT_PREFIX):
            log.write(line)
            continue
        event = json.loads(line[len(EVENT_PREFIX):])
        kind = event.get("event")
        if kind == "task-done":
            return int(event.get("code", 0))
        if kind == "gate" and gate is not None:
            rec = _gate_event(gate, proc, event)
            if rec is not None:
                sections.append(rec)
        else:
            on_event(event)
    return None


def _end(proc: subprocess.Popen) -> None:
    """Interrupted: never leave a child behind."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        os.kill(proc.pid, signal.SIGCONT)  # a paused child gets the SIGTERM only when resumed
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _tail(log_path: Path) -> str:
    return "\n".join(deque(log_path.read_text(errors="replace").splitlines(), maxlen=15))


def _outcome(result_path: Path) -> Outcome | None:
    return outcome_from_json(result_path.read_text()) if result_path.exists() else None


def run_child(task: Task, work_dir: Path, log_path: Path, threads: int,
              on_event: Callable[[dict], None], gate: Gate | None = None) -> ChildResult:
    """One task in a child process of its own. gate: the run's timing gate (pipeline/gate.py); the
    child then asks it before each timed section, and is paused while another child times."""
    task, task_path, result_path = _prepare(task, work_dir)
    t0 = time.perf_counter()
    slot = SLOTS.take(threads)
    with open(log_path, "w") as log:
        proc = _start(_worker_command(False, task_path), threads, slot, gate, log,
                      subprocess.PIPE if gate else subprocess.DEVNULL)
        sections: list[dict] = []
        try:
            _relay(proc, log, on_event, gate, sections)
            proc.wait()
        finally:
            SLOTS.give(threads, slot)
            if gate is not None:
                gate.forget(proc)
            _end(proc)
    if gate is not None and proc.stdin:
        proc.stdin.close()
    return ChildResult(proc.returncode, _outcome(result_path), _tail(log_path), time.perf_counter() - t0,
                       tuple(sections))


class Worker:
    """A long-lived child (`python -m edgebench.worker --serve`) that runs one task at a time."""

    def __init__(self, key: str, threads: int, gate: Gate | None, first_log: Path) -> None:
        self.key, self.gate, self.tasks, self.threads = key, gate, [], threads
        with open(first_log, "a") as log:  # what it says before its first task reads its command
            self.proc = _start(_worker_command(True), threads, 0, gate, log, subprocess.PIPE)
        self.pid = self.proc.pid
        self.died: str | None = None  # how it ended, when it ended during a task

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(self, task: Task, work_dir: Path, log_path: Path, on_event: Callable[[dict], None]) -> ChildResult:
        task, task_path, result_path = _prepare(task, work_dir)
        t0 = time.perf_counter()
        self.tasks.append(task.name)
        log_path.write_text("")
        sections: list[dict] = []
        code = None
        slot = SLOTS.take(self.threads)
        with open(log_path, "a") as log:
            try:
                self.proc.stdin.write(json.dumps({"task": str(task_path), "log": str(log_path), "slot": slot})
                                      + "\n")
                self.proc.stdin.flush()
                code = _relay(self.proc, log, on_event, self.gate, sections)
            except (BrokenPipeError, OSError):  # it had died before it read the command
                code = None
            except BaseException:
                self.close(kill=True)
                raise
            finally:
                SLOTS.give(self.threads, slot)
        if code is None:  # it died during the task: the task is lost, the worker is gone
            self.proc.wait()
            code = self.proc.returncode
            self.died = _how(code)
            self._forget()
        return ChildResult(code, _outcome(result_path), _tail(log_path), time.perf_counter() - t0,
                           tuple(sections))

    def close(self, kill: bool = False, wait: bool = True) -> None:
        """No more tasks: stdin closed (it exits at once), or ended as an interrupted child is.
        wait=False: its exit (a framework's shutdown can take a second) is waited for in the
        background, so the run goes on meanwhile."""
        if kill:
            try:
                _end(self.proc)
            finally:
                self._forget()
            return
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        if wait:
            self._reap()
        else:
            threading.Thread(target=self._reap, daemon=True, name=f"edgebench-close-{self.key}").start()

    def _reap(self) -> None:
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _end(self.proc)
        finally:
            self._forget()

    def _forget(self) -> None:
        if self.gate is not None:
            self.gate.forget(self.proc)


def _how(code: int) -> str:
    return f"killed by signal {-code}" if code < 0 else f"exited with code {code}"


class WorkerPool:
    """Long-lived workers by key (a framework and mode, a runtime), started when first needed and
    kept for the key's next tasks; a worker that dies during a task is replaced by a fresh one for
    the next. A key has as many workers as it has tasks at once: the executor runs one training of
    a framework and mode at a time (its one worker: the warm-ups warm it), and up to --parallel
    artifacts of one runtime (a worker each, every one reused). record: what each worker ran and
    how it ended, for results.json."""

    def __init__(self, gate_of: Callable[[], Gate | None]) -> None:
        self._gate_of = gate_of
        self._lock = threading.Lock()
        self._idle: dict[str, list[Worker]] = {}
        self._all: dict[str, list[Worker]] = {}
        self.record: list[dict] = []
        self.restarted: set[str] = set()  # keys whose worker died: the next task starts a fresh one

    def replacing(self, key: str) -> bool:
        """The next task of key starts a fresh worker because the last one died."""
        with self._lock:
            return key in self.restarted and not self._all.get(key)

    def _take(self, key: str) -> Worker | None:
        """An idle worker of key, still alive (one that died while idle is recorded and dropped)."""
        with self._lock:
            idle = self._idle.get(key, [])
            while idle:
                worker = idle.pop()
                if worker.alive:
                    return worker
                self._drop(worker, f"{_how(worker.proc.returncode)} while idle")
            return None

    def _drop(self, worker: Worker, how: str) -> None:
        self._ended(worker, how)
        if worker in self._all.get(worker.key, []):
            self._all[worker.key].remove(worker)

    def run(self, key: str, task: Task, work_dir: Path, log_path: Path, threads: int,
            on_event: Callable[[dict], None]) -> ChildResult:
        worker = self._take(key)
        if worker is None:
            worker = Worker(key, threads, self._gate_of(), log_path)
            with self._lock:
                self._all.setdefault(key, []).append(worker)
                self.record.append({"key": key, "pid": worker.pid, "tasks": worker.tasks, "ended": None,
                                    "replaces_a_dead_worker": key in self.restarted})
        try:
            res = worker.run(task, work_dir, log_path, on_event)
        except BaseException:
            with self._lock:
                self._drop(worker, "interrupted")
            raise
        with self._lock:
            if worker.died is not None:
                self._drop(worker, f"{worker.died} during {task.name}")
                self.restarted.add(key)
            else:
                self._idle.setdefault(key, []).append(worker)
        return res

    def _ended(self, worker: Worker, how: str) -> None:
        for rec in self.record:
            if rec["pid"] == worker.pid and rec["ended"] is None:
                rec["ended"] = how

    def close(self, key: str | None = None) -> None:
        """The workers of key (every worker: None) end: the key has no task left."""
        with self._lock:
            keys = [k for k in self._all if key is None or k == key]
            workers = [w for k in keys for w in self._all.pop(k)]
            for k in keys:
                self._idle.pop(k, None)
            for w in workers:
                self._ended(w, "closed: no task left")
        for w in workers:
            w.close(wait=key is None)  # the last ones are waited for; one mid-run ends in the background


def _gate_event(gate: Gate, proc: subprocess.Popen, event: dict) -> dict | None:
    """Opens or closes the child's timed section; closing it gives the section's load record."""
    if event.get("state") == "enter":
        gate.enter(proc, event.get("what"))
        try:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError):  # the child died meanwhile: its section is over
            gate.leave(proc)
        return None
    return gate.leave(proc)


PERSISTENT_NOTE = (
    "one long-lived worker process per framework and mode runs all of its trainings (warm-ups first, then the "
    "counted repeats, in the plan's interleaved order), and one per runtime all of its artifacts; each imports its "
    "framework or runtime and reads the data once. Repeats in one process share its allocator, caches and compiled "
    "kernels, so they are not independent samples of a cold start: --fresh-process-per-repeat runs each in a process "
    "of its own. A worker that dies loses the task it was on; the next task starts a fresh worker (and, for "
    "trainings, warms it first)")
FRESH_NOTE = ("--fresh-process-per-repeat: every training and every artifact's check ran in a child process of its "
              "own, paying its imports and cold start")


def workers_record(pool: WorkerPool | None, persistent: bool, previous: dict | None) -> dict:
    """results.json's `workers` (added to what a resumed run's earlier part recorded)."""
    w = dict(previous or {})
    w.update(persistent=persistent, note=PERSISTENT_NOTE if persistent else FRESH_NOTE)
    if persistent and pool is not None and pool.record:
        w["processes"] = [*w.get("processes", []),
                          *({**rec, "tasks": len(rec["tasks"]), "task_names": list(rec["tasks"])}
                            for rec in pool.record)]
        w["restarts"] = [p for p in w["processes"] if p.get("replaces_a_dead_worker")]
        w["deaths"] = [p for p in w["processes"] if p.get("ended") and not p["ended"].startswith("closed")]
    return w
