"""Where a run's jobs run: here, one after another or up to `parallel` children at once, every
child timing through the gate (pipeline/gate.py). The run gives each job to `do(job)` (its handler
and the save after it); the executor only decides when."""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable

from edgebench.pipeline.gate import Gate
from edgebench.pipeline.jobs import MICROCONTROLLER, TRAIN, VERIFY, Job, worker_key

# Jobs whose children time only inside the gate: these may overlap. The others (the GEMM peak,
# deploy's source pass, the derived summaries) run with nothing beside them.
OVERLAPPING = frozenset({TRAIN, VERIFY, MICROCONTROLLER})


@dataclass
class LocalExecutor:
    parallel: int = 1
    require_quiet_s: float = 0.0
    gate: Gate | None = None
    interrupting: bool = False
    overlap: dict = field(default_factory=dict)  # timed sections and pause time, when children overlapped

    def run(self, jobs: list[Job], do: Callable[[Job], None]) -> None:
        # Every child times through the gate: it is where the machine's load is read, and, when
        # children overlap, what keeps a timed section alone.
        self.gate = Gate(self.require_quiet_s)
        try:
            if self.parallel > 1 and sum(j.kind in OVERLAPPING for j in jobs) > 1:
                self._overlapped(jobs, do)
            else:
                try:
                    for job in jobs:
                        do(job)
                except BaseException:  # idle workers may be paused by the gate: resumed and ended
                    self.interrupting = True
                    self.gate.terminate_all()
                    raise
        finally:
            self.gate = None

    def _overlapped(self, jobs: list[Job], do: Callable[[Job], None]) -> None:
        """The jobs in plan order, up to `parallel` children at once: a job starts when the jobs it
        needs have finished and a place is free; a job outside OVERLAPPING waits until nothing else
        runs, and nothing starts beside it; a training whose framework's worker (jobs.worker_key) is
        running another training waits for it, and the next ready job in plan order goes first.
        Timed sections stay alone through the gate."""
        planned = {j.id for j in jobs}
        finished: set[str] = set()
        pending = list(jobs)
        running: dict[Future, Job] = {}
        pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="edgebench-job")

        def ready(j: Job) -> bool:
            return all(n not in planned or n in finished for n in j.needs)

        def alone(j: Job) -> None:
            pending.remove(j)
            do(j)
            finished.add(j.id)

        try:
            while pending or running:
                for j in [j for j in pending if ready(j)]:
                    if j.kind not in OVERLAPPING:
                        if not running:
                            alone(j)
                        break  # it waits for the others to end; nothing starts in front of it
                    if len(running) >= self.parallel:
                        break
                    if j.kind == TRAIN and any(worker_key(r) == worker_key(j) for r in running.values()):
                        continue  # one training of a framework and mode at a time: its one warm worker
                    pending.remove(j)
                    running[pool.submit(do, j)] = j
                else:
                    if not running and pending:  # needs that can never finish: run in plan order
                        alone(pending[0])
                        continue
                if running:
                    done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for f in done:
                        finished.add(running.pop(f).id)
                        f.result()  # a handler's own error stops the run, as it does one job at a time
        except BaseException:
            self._stop(running)
            raise
        finally:
            pool.shutdown(wait=True)
            self.overlap = {"parallel": self.parallel, "timed_sections": self.gate.sections,
                            "children_paused_s": self.gate.paused_s}

    def _stop(self, running: dict[Future, Job]) -> None:
        """Interrupted (or a bug): every child ends, the handlers give up without recording. A second
        Ctrl-C meanwhile does not cut this short (children would be left running)."""
        self.interrupting = True
        while True:
            try:
                self.gate.terminate_all()
                wait(list(running))
                return
            except KeyboardInterrupt:
                continue
