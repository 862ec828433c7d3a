"""Runs one task in a child process of its own (`python -m edgebench.worker TASK.json`): thread
pools sized before any framework loads, progress events relayed, the outcome read back and
validated, and the child never left behind when the parent is interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

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
        rc = self.returncode
        how = f"killed by signal {-rc}" if rc < 0 else f"exited with code {rc}"
        last = self.stderr_tail.strip().splitlines()[-1:] or [""]
        return f"{what} process {how} without a result; last log line: {last[0][:300]}"

    def died(self) -> "ChildResult":
        """The same result without the outcome: for what the child had not finished when it died."""
        return replace(self, outcome=None)


def child_env(threads: int) -> dict:
    env = dict(os.environ)
    n = str(threads)
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


def run_child(task: Task, work_dir: Path, log_path: Path, threads: int,
              on_event: Callable[[dict], None], gate: Gate | None = None) -> ChildResult:
    """gate: the run's timing gate, when children may overlap (pipeline/gate.py); the child then
    asks it before each timed section, and is paused while another child times."""
    task_path = work_dir / f"{task.name}.task.json"
    result_path = work_dir / f"{task.name}.result.json"
    task = replace(task, result_path=str(result_path))
    task_path.write_text(task_to_json(task))
    result_path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    env = child_env(threads)
    if gate is not None:
        env[GATE_ENV] = "1"
    with open(log_path, "w") as log:
        def start():
            return subprocess.Popen([sys.executable, "-m", "edgebench.worker", str(task_path)],
                                    stdout=subprocess.PIPE, stderr=log,
                                    stdin=subprocess.PIPE if gate else subprocess.DEVNULL, text=True, env=env)

        proc = gate.spawn(start) if gate else start()
        sections: list[dict] = []
        try:
            for line in proc.stdout:
                if line.startswith(EVENT_PREFIX):
                    event = json.loads(line[len(EVENT_PREFIX):])
                    if event.get("event") == "gate" and gate is not None:
                        rec = _gate_event(gate, proc, event)
                        if rec is not None:
                            sections.append(rec)
                    else:
                        on_event(event)
                else:
                    log.write(line)
            proc.wait()
        finally:
            if gate is not None:
                gate.forget(proc)
            if proc.poll() is None:  # interrupted: never leave a child behind
                proc.terminate()
                try:
                    os.kill(proc.pid, signal.SIGCONT)  # a paused child gets the SIGTERM only when resumed
                except ProcessLookupError:
                    pass
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    if gate is not None and proc.stdin:
        proc.stdin.close()
    tail = deque(log_path.read_text(errors="replace").splitlines(), maxlen=15)
    outcome = outcome_from_json(result_path.read_text()) if result_path.exists() else None
    return ChildResult(proc.returncode, outcome, "\n".join(tail), time.perf_counter() - t0, tuple(sections))


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
