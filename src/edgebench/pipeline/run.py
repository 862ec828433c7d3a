"""One benchmark run: plan the jobs, hand each to its handler, save after each. Orchestration
only: it imports no framework. Every framework and runtime runs in a child process."""

from __future__ import annotations

import shutil
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Callable

from edgebench import data, results
from edgebench.config import RunConfig, validate
from edgebench.errors import MachineBusy
from edgebench.measure.boards import boards_for
from edgebench.pipeline.executor import LocalExecutor
from edgebench.pipeline.handlers import HANDLERS, drop_layer_outputs
from edgebench.pipeline.inputs import write_inputs
from edgebench.pipeline.jobs import DataRef, Job, Task, worker_key
from edgebench.pipeline.plan import plan
from edgebench.pipeline.runner import ChildResult, WorkerPool, run_child, workers_record
from edgebench.pipeline.store import RunStore, default_run_dir, forget_unfinished
from edgebench.results.schema import Load, Progress, RunResults

# Reports written after a job at most this often (results.json after every job): they are read at
# the end, and rendering both after each of a run's ~45 jobs cost about 2 s of the parent's time.
REPORT_EVERY_S = 5.0

# Events go to the UI: (label, event dict). The CLI draws progress bars from them.
EventSink = Callable[[str, dict], None]
# What is written beside results.json after each save (report.md/html: edgebench.report.write_reports);
# given by the caller, so the pipeline does not depend on the report layer.
Writer = Callable[[RunResults, Path, bool], None]


class Run:
    """Owns one run folder (through its RunStore) and results.json."""

    # What __init__ sets; here too for subclasses with their own __init__ (Deploy).
    select: Callable[[Job], bool] | None = None
    writer: Writer | None = None
    cache_data: bool = True
    notices: tuple[str, ...] | list[str] = ()  # what the CLI says first, before the progress (deploy's choices)
    task: dict | None = None  # deploy: what the outputs are (pipeline/deploy.output_task); a run's are classes
    _reported = float("-inf")  # when the reports were last written

    def __init__(self, cfg: RunConfig, on_event: EventSink | None = None, resume: RunResults | None = None,
                 select: Callable[[Job], bool] | None = None, writer: Writer | None = None,
                 cache_data: bool = True):
        """resume: the results of an unfinished run in cfg.out, to continue it. select: run only the
        planned jobs it accepts (a cluster sweep's build phase, or one artifact's measurement);
        writer: writes the reports beside results.json after each save (none: results.json only, as
        a sweep's node-side scratch run); cache_data: decode the data once for all children (not
        worth it for one artifact's jobs)."""
        validate(cfg)
        self.select, self.writer, self.cache_data = select, writer, cache_data
        self._concurrency(on_event)
        self.t0 = time.perf_counter()
        # Read and check the data before anything is written, so bad input leaves no debris.
        self.dataset = data.load(cfg.dataset, limit_train=cfg.limit_train, limit_test=cfg.limit_test,
                                 num_classes=cfg.num_classes)
        if self.dataset.input_size != cfg.model.input_size or self.dataset.num_classes != cfg.model.num_classes:
            cfg = replace(cfg, model=replace(cfg.model, input_size=self.dataset.input_size,
                                             num_classes=self.dataset.num_classes))
        self.cfg = cfg
        # The network for this data set's images: a layer that does not fit stops here, one line.
        self.net = cfg.model.network(self.dataset.image_shape)
        self.store = RunStore.reopen(Path(cfg.out)) if resume else RunStore.create(cfg.out or default_run_dir())
        self.dir = self.store.dir
        self.results: RunResults | None = resume
        self.resuming = resume is not None
        self.done: set[str] = set()  # ids of the finished jobs (results' progress.done)
        self.boards = boards_for(cfg.boards)
        self.data_ref = DataRef(cfg.dataset, cfg.limit_train, cfg.limit_test, num_classes=self.dataset.num_classes)

    def _concurrency(self, on_event: EventSink | None) -> None:
        """Handlers run holding _state (results and the run folder are theirs alone) and let go of it
        only while their child runs; the executor's gate pauses the other children while one times; events reach
        the display one at a time."""
        sink = on_event or (lambda label, ev: None)
        events = threading.Lock()

        def on_event_locked(label: str, ev: dict) -> None:
            with events:
                sink(label, ev)

        self.on_event = on_event_locked
        self._state = threading.Lock()
        self.executor = LocalExecutor()
        self.workers: WorkerPool | None = None
        self._left: dict[str, int] = {}  # jobs still to run per worker key: a worker ends with its last

    persistent = property(lambda self: not getattr(self.cfg, "fresh_process_per_repeat", False),
                          doc="Long-lived workers (one per framework and mode, one per runtime), or a child per task.")

    # -- what handlers use --------------------------------------------------------------
    def child(self, task: Task, threads: int, label: str, key: str | None = None) -> ChildResult:
        """The task in the long-lived worker of key (runner.WorkerPool), or in a child of its own
        (no key, or --fresh-process-per-repeat)."""
        if self.executor.interrupting:  # nothing new starts once the run is being interrupted
            raise KeyboardInterrupt
        self._state.release()
        log = self.store.logs / f"{task.name}.log"
        relay = lambda ev: self.on_event(label, ev)  # noqa: E731
        try:
            if key is not None and self.persistent and self.workers is not None:
                res = self.workers.run(key, task, self.store.work, log, threads, relay)
            else:
                res = run_child(task, self.store.work, log, threads, relay, gate=self.executor.gate)
        finally:
            self._state.acquire()
        # Its child was stopped by an interruption (Ctrl-C reaches the children too): not a result.
        if self.executor.interrupting or res.returncode == -signal.SIGINT:
            raise KeyboardInterrupt
        return res

    # -- the run -----------------------------------------------------------------------
    def execute(self) -> RunResults:
        """All jobs; results.json is rewritten after each. Interrupted (Ctrl-C, SIGTERM), the run
        keeps what finished, marks what was cut short, and is saved as partial."""
        try:
            return self._with_data_copy()
        except KeyboardInterrupt:
            self._interrupted()
            raise
        except MachineBusy as e:  # --require-quiet ran out: kept as partial, --resume goes on from here
            self._interrupted(f"stopped before this finished: {e}")
            raise MachineBusy(f"{e}; what finished is kept in {self.dir} (status partial; --resume continues "
                              "it)") from None

    def _with_data_copy(self) -> RunResults:
        if not self.cache_data:
            return self._jobs()
        cache = self.store.work / "data"
        try:
            data.save_arrays(self.dataset, cache)
            self.data_ref = replace(self.data_ref, cache=str(cache))
        except OSError:  # no room for the scratch copy: each child reads the IDX files itself
            pass
        try:
            return self._jobs()
        finally:
            # 220 MB of decoded arrays for MNIST: scratch, not a result.
            shutil.rmtree(cache, ignore_errors=True)

    @property
    def data_cache(self) -> Path | None:
        return Path(self.data_ref.cache) if self.data_ref.cache else None

    def _jobs(self) -> RunResults:
        if self.resuming:
            self._reopen()
        else:
            self.results = write_inputs(self.cfg, self.dataset, self.store, self.boards, self.net)
            for w in self.results.warnings:
                self.on_event("run", {"event": "warning", "message": w["message"]})
            self.save()
        self.done = set(self.results.progress.done)
        self._schedule([job for job in plan(self.cfg, self.done) if self.select is None or self.select(job)])
        self._finish()
        drop_layer_outputs(self.store.dir)  # scratch of the per-layer comparison (a resume would still read it)
        return self.results

    def _schedule(self, jobs: list[Job]) -> None:
        from edgebench.measure import load

        quiet = float(getattr(self.cfg, "require_quiet_s", 0.0) or 0.0)
        self.results.load = (self.results.load or Load()).model_copy(
            update={"threshold_cores": load.BUSY_CORES, "require_quiet_s": quiet, "note": load.NOTE})
        self.executor = LocalExecutor(getattr(self.cfg, "parallel", 1), quiet)
        self.workers = WorkerPool(lambda: self.executor.gate)
        self._left = {}
        for job in jobs:
            if (key := worker_key(job)) is not None:
                self._left[key] = self._left.get(key, 0) + 1
        try:
            self.executor.run(jobs, self._run_job)
        finally:
            self.workers.close()
            self.results.workers = workers_record(self.workers, self.persistent, self.results.workers)
            if self.executor.overlap:
                self._count_overlap(self.executor.overlap)

    def _count_overlap(self, this: dict) -> None:
        g = self.results.overlap or {"parallel": this["parallel"], "timed_sections": 0, "children_paused_s": 0.0}
        g["timed_sections"] += this["timed_sections"]
        g["children_paused_s"] += this["children_paused_s"]
        g["note"] = ("timed sections that ran alone through the gate (every other child of the run paused), and "
                     "the time children spent paused; the stages of wall_time_breakdown_s overlap, so their "
                     "sum can exceed the wall time")
        self.results.overlap = g

    def _run_job(self, job: Job) -> None:
        with self._state:
            with self._stage(job.stage):
                finished = HANDLERS[job.kind](self, job)
            if finished and job.id not in self.done and job.kind != "timing":  # the timing summary is derived: redone
                self.done.add(job.id)
                self.results.progress.done.append(job.id)
            self._order_artifacts()
            self.save(throttle=True)
        key = worker_key(job)
        if key in self._left:
            self._left[key] -= 1
            if self._left[key] == 0 and self.workers is not None:  # its last job: the worker ends
                self.workers.close(key)

    def _order_artifacts(self) -> None:
        """Artifacts in framework order, each framework's in export order, however the trainings
        that made them overlapped (sorted() is stable)."""
        fws = {fw: i for i, fw in enumerate(getattr(self.cfg, "frameworks", ()))}
        if not fws:  # a deploy: one source, its artifacts already in export order
            return
        self.results.artifacts = sorted(self.results.artifacts, key=lambda a: fws.get(a.framework, len(fws)))

    def _reopen(self) -> None:
        """Continue an unfinished run: check its inputs, forget what was cut short."""
        self.store.check_inputs(self.results)
        done = set(self.results.progress.done)
        forget_unfinished(self.results, done, self.cfg.modes[0])
        self.results.progress = Progress(done=sorted(done), note="ids of the finished jobs (ok, failed or "
                                                                 "skipped): what --resume skips")
        self._reopened()

    def _reopened(self) -> None:
        self.results.interrupted = None
        self.results.status = "running"
        self.results.resumed_at.append(results.now_iso())
        self.save()

    def statuses(self) -> list[str]:
        """The status of everything the run set out to make: its trainings and artifacts."""
        return [t.status for t in self.results.trainings] + [a.status for a in self.results.artifacts]

    def _finish(self) -> None:
        self.results.status = overall_status(self.statuses())
        self.results.finished_at = results.now_iso()
        self.results.wall_time_s = self._wall()
        self.save(final=True)
        # The final reports (plots) took time too: results.json gets the figure that includes them.
        self.results.wall_time_s = self._wall()
        from edgebench.measure.cost import cost

        self.results.cost = cost(self.results, self.results.wall_time_s)
        self.store.save(self.results)

    def _interrupted(self, why: str | None = None) -> None:
        if self.results is None:  # stopped before its results.json existed: nothing to keep
            return
        for entry in self.results.trainings:
            if entry.status == "running":
                entry.status, entry.error = "interrupted", why or "interrupted before this training finished"
        verified = {tuple(j.split(":")[1:]) for j in self.results.progress.done if j.startswith("verify:")}
        for art in self.results.artifacts:
            if art.status == "ok" and art.key not in verified:
                art.status, art.error = "interrupted", why or "interrupted before this artifact was verified"
        wall = self._wall()
        self.results.status, self.results.interrupted, self.results.finished_at = "partial", True, results.now_iso()
        self.results.wall_time_s = self.results.wall_time_before_resume_s = wall
        self.save()

    def _wall(self) -> float:
        before = self.results.wall_time_before_resume_s if self.results is not None else None
        return (before or 0.0) + time.perf_counter() - self.t0

    def save(self, final: bool = False, throttle: bool = False) -> None:
        """results.json first: it is the source of truth, and must not wait on a report. throttle
        (after each job): the reports at most every REPORT_EVERY_S; the final ones always."""
        self.store.save(self.results)
        if self.writer is None or (throttle and time.perf_counter() - self._reported < REPORT_EVERY_S):
            return
        with self._stage("results and reports"):
            self.writer(self.results, self.dir, final)
        self._reported = time.perf_counter()

    @contextmanager
    def _stage(self, key: str):
        """Adds the wall time of the block to results' wall_time_breakdown_s[key]."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            if self.results is not None and key:
                spent = self.results.wall_time_breakdown_s
                spent[key] = spent.get(key, 0.0) + time.perf_counter() - t0



def overall_status(statuses: list[str]) -> str:
    """complete when everything the run set out to make is ok, partial when some of it is, else failed."""
    if statuses and all(s == "ok" for s in statuses):
        return "complete"
    return "partial" if any(s == "ok" for s in statuses) else "failed"
