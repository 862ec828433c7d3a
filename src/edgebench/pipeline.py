"""Orchestration only: it imports no framework. Every framework and runtime runs in a child."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Callable

import numpy as np

from edgebench import __version__, data, results
from edgebench.config import RunConfig, validate
from edgebench.errors import UserError
from edgebench.frameworks import REGISTRY as FRAMEWORKS
from edgebench.measure.boards import BOARDS, parse_board
from edgebench.model import INIT_SCHEME, initial_weights, macs, save_weights
from edgebench.runtimes import REGISTRY as RUNTIMES
from edgebench.worker import EVENT_PREFIX

# Events go to the UI: (label, event dict). The CLI draws progress bars from them.
EventSink = Callable[[str, dict], None]

ADAM_EPSILON_NOTE = (
    "Keras and PyTorch place Adam's epsilon differently. Keras: "
    "w -= lr*sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps), i.e. eps is added before the bias "
    "correction ('epsilon hat' in Kingma & Ba, sec. 2); PyTorch: "
    "w -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps). With the same eps, Keras' effective "
    "epsilon is eps/sqrt(1-b2^t) in PyTorch's terms: 31.6x eps at step 1, 1.26x at step 1000. "
    "It matters where sqrt(v_hat) is small (rare pixels, dead units)."
)
PLACEMENT_NOTE = {
    "aligned": "Placement aligned: every framework follows Keras' rule; PyTorch's stock Adam gets "
               "eps_t = eps/sqrt(1-b2^t) before step t, which makes its update algebraically equal.",
    "native": "Placement native: each framework runs its stock rule, so the updates differ as above.",
}


def default_run_dir() -> Path:
    return Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")


def prepare_run_dir(out: Path) -> Path:
    if out.exists():
        if not out.is_dir():
            raise UserError(f"--out {out}: exists and is a file; choose another folder")
        if (out / results.RESULTS_FILE).exists():
            raise UserError(f"--out {out}: already holds an edgebench run; choose a new folder")
        if any(out.iterdir()):
            raise UserError(f"--out {out}: exists, is not empty and is not an edgebench run; "
                            "choose a new folder (nothing was written)")
    out.mkdir(parents=True, exist_ok=True)
    return out


@dataclass
class ChildOutcome:
    returncode: int
    result: dict | None
    stderr_tail: str
    wall_s: float


def _child_env(threads: int) -> dict:
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


def run_child(task: dict, work_dir: Path, log_path: Path, threads: int,
              on_event: Callable[[dict], None]) -> ChildOutcome:
    name = task["name"]
    task_path = work_dir / f"{name}.task.json"
    result_path = work_dir / f"{name}.result.json"
    task = {**task, "result_path": str(result_path)}
    task_path.write_text(json.dumps(task, indent=1))
    result_path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "edgebench.worker", str(task_path)],
                                stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
                                text=True, env=_child_env(threads))
        try:
            for line in proc.stdout:
                if line.startswith(EVENT_PREFIX):
                    on_event(json.loads(line[len(EVENT_PREFIX):]))
                else:
                    log.write(line)
            proc.wait()
        finally:
            if proc.poll() is None:  # interrupted: never leave a child behind
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    tail = deque(log_path.read_text(errors="replace").splitlines(), maxlen=15)
    res = json.loads(result_path.read_text()) if result_path.exists() else None
    return ChildOutcome(proc.returncode, res, "\n".join(tail), time.perf_counter() - t0)


def _failure(outcome: ChildOutcome, what: str) -> str:
    if outcome.result and outcome.result.get("error"):
        return outcome.result["error"]
    rc = outcome.returncode
    how = f"killed by signal {-rc}" if rc < 0 else f"exited with code {rc}"
    last = outcome.stderr_tail.strip().splitlines()[-1:] or [""]
    return f"{what} process {how} without a result; last log line: {last[0][:300]}"


def _repeat_record(r: int, res: dict) -> dict:
    epochs = res["epochs"]
    steady = [e["time_s"] for e in epochs[1:]]
    return {"repeat": r, "status": "ok", "train_time_s": res["train_time_s"],
            "first_epoch_s": epochs[0]["time_s"], "steady_epoch_s": float(np.mean(steady)) if steady else None,
            "test_accuracy": res["test_accuracy"], "test_loss": res["test_loss"],
            "peak_rss_bytes": res["peak_rss_bytes"], "import_time_s": res.get("import_time_s")}


class Run:
    """One benchmark run: owns the run folder and results.json."""

    def __init__(self, cfg: RunConfig, on_event: EventSink | None = None, resume: dict | None = None):
        """resume: the results.json of an unfinished run in cfg.out, to continue it."""
        validate(cfg)
        self.cfg = cfg
        self.on_event = on_event or (lambda label, ev: None)
        self.t0 = time.perf_counter()
        # Read and check the data before anything is written, so bad input leaves no debris.
        self.dataset = data.load(cfg.dataset, limit_train=cfg.limit_train, limit_test=cfg.limit_test)
        if self.dataset.input_size != cfg.model.input_size or self.dataset.num_classes != cfg.model.num_classes:
            self.cfg = cfg = replace(cfg, model=replace(cfg.model, input_size=self.dataset.input_size,
                                                        num_classes=self.dataset.num_classes))
        self.dir = Path(cfg.out) if resume else prepare_run_dir(cfg.out or default_run_dir())
        self.work = self.dir / ".work"
        self.logs = self.dir / "logs"
        self.raw_dir = self.dir / "latency"
        for d in (self.work, self.logs, self.raw_dir, self.dir / "logits"):
            d.mkdir(exist_ok=bool(resume))
        self.results: dict = resume or {}
        self.resuming = resume is not None
        self.boards = list(BOARDS) + [parse_board(b) for b in cfg.boards]

    # -- stages ---------------------------------------------------------------------------
    def execute(self) -> dict:
        """All stages; results.json is rewritten after each. Interrupted (Ctrl-C, SIGTERM), the run
        keeps what finished, marks what was cut short, and is saved as partial."""
        try:
            return self._stages()
        except KeyboardInterrupt:
            for entry in self.results.get("trainings", []):
                if entry["status"] == "running":
                    entry.update(status="interrupted", error="interrupted before this training finished")
            for art in self.results.get("artifacts", []):
                if art["status"] == "ok" and "top1_agreement" not in art:
                    art.update(status="interrupted", error="interrupted before this artifact was verified")
            wall = self.results.get("wall_time_before_resume_s", 0.0) + time.perf_counter() - self.t0
            self.results.update(status="partial", interrupted=True, finished_at=results.now_iso(),
                                wall_time_s=wall, wall_time_before_resume_s=wall)
            if self.results.get("schema_version"):
                self.save()
            raise

    def _stages(self) -> dict:
        self.data_cache: Path | None = self.work / "data"
        try:
            data.save_arrays(self.dataset, self.data_cache)
        except OSError:  # no room for the scratch copy: each child reads the IDX files itself
            self.data_cache = None
        try:
            return self._run_stages()
        finally:
            # 220 MB of decoded arrays for MNIST: scratch, not a result.
            shutil.rmtree(self.work / "data", ignore_errors=True)

    def _run_stages(self) -> dict:
        if self.resuming:
            self._reopen()
        else:
            self._write_inputs()
            self.save()
        if "speed_limit" not in self.results:
            with self._stage("speed limit (GEMM benchmarks)"):
                self._speed_limit()
            self.save()
        # Repeats interleaved (A B C, B C A, C A B, ...) so a slow spell of the machine does not
        # land on one framework. Repeat 1 also exports; later repeats only train and evaluate.
        fws = list(self.cfg.frameworks)
        for r in range(1, self.cfg.repeats + 1):
            k = (r - 1) % len(fws)
            for fw in fws[k:] + fws[:k]:
                for mode in self.cfg.modes:
                    if self._done(fw, mode, r):
                        continue
                    if r == 1:
                        with self._stage("training, first repeat, with exports"):
                            self._train(fw, mode)
                    else:
                        with self._stage("training, later repeats"):
                            self._repeat(fw, mode, r)
                    self.save()
        self._summarize_timing()
        self.save()
        if self.cfg.twin and (self.results.get("twin") or {}).get("status") != "ok":
            self._twin()
            self.save()
        for art in self.results["artifacts"]:
            if art["status"] == "ok" and "top1_agreement" not in art:
                with self._stage("verification on runtimes"):
                    self._verify(art)
                self.save()
            if (art["status"] == "ok" and art["format"] == "tflite" and self.cfg.microcontroller
                    and "status" not in (art.get("microcontroller") or {})):
                with self._stage("TFLite Micro"):
                    self._mcu(art)
                self.save()
        statuses = [t["status"] for t in self.results["trainings"]]
        statuses += [a["status"] for a in self.results["artifacts"]]
        if statuses and all(s == "ok" for s in statuses):
            self.results["status"] = "complete"
        elif any(s == "ok" for s in statuses):
            self.results["status"] = "partial"
        else:
            self.results["status"] = "failed"
        self.results["finished_at"] = results.now_iso()
        self.results["wall_time_s"] = self.results.get("wall_time_before_resume_s", 0.0) + time.perf_counter() - self.t0
        self.save(final=True)
        # The final reports (plots) took time too: results.json gets the figure that includes them.
        self.results["wall_time_s"] = self.results.get("wall_time_before_resume_s", 0.0) + time.perf_counter() - self.t0
        results.write_json_atomic(self.dir / results.RESULTS_FILE, self.results)
        return self.results

    def save(self, final: bool = False) -> None:
        # results.json first: it is the source of truth, and must not wait on a report.
        results.write_json_atomic(self.dir / results.RESULTS_FILE, self.results)
        with self._stage("results and reports"):
            from edgebench.report import write_reports

            write_reports(self.results, self.dir, figures=final)

    @contextmanager
    def _stage(self, key: str):
        """Adds the wall time of the block to results' wall_time_breakdown_s[key]."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            if self.results:
                spent = self.results.setdefault("wall_time_breakdown_s", {})
                spent[key] = spent.get(key, 0.0) + time.perf_counter() - t0

    def _done(self, fw: str, mode: str, r: int) -> bool:
        """Finished before (ok, failed or skipped): a resumed run does not redo it."""
        entry = next((t for t in self.results["trainings"] if t["framework"] == fw and t["mode"] == mode), None)
        if entry is None:
            return False
        if r == 1:
            return entry["status"] in ("ok", "failed", "skipped")
        return entry["status"] != "ok" or any(x["repeat"] == r for x in entry.get("repeats", []))

    def _reopen(self) -> None:
        """Continue an unfinished run: check its inputs, forget what was cut short."""
        inputs = self.dir / "inputs"
        fair = self.results["fairness"]
        for key, name in (("initial_weights", "initial_weights.npz"), ("batch_order", "batch_order.npy")):
            path = inputs / name
            if not path.exists() or data.sha256_file(path) != fair[key]["sha256"]:
                raise UserError(f"--resume {self.dir}: {path} is missing or changed since the run started; "
                                "start a new run")
        self.weights_path = inputs / "initial_weights.npz"
        self.order_path = inputs / "batch_order.npy"
        self.calibration_path = inputs / "calibration_indices.npy"
        cut = {(t["framework"], t["mode"]) for t in self.results["trainings"] if t["status"] in ("running", "interrupted")}
        self.results["trainings"] = [t for t in self.results["trainings"] if (t["framework"], t["mode"]) not in cut]
        first = self.cfg.modes[0]
        self.results["artifacts"] = [a for a in self.results["artifacts"] if (a["framework"], first) not in cut]
        for t in self.results["trainings"]:
            t["repeats"] = [x for x in t.get("repeats", []) if x.get("status") in ("ok", "failed")]
        for a in self.results["artifacts"]:
            if a["status"] == "interrupted":
                a.update(status="ok", error=None)
            m = a.get("microcontroller")
            if m is not None and "status" not in m:
                del a["microcontroller"]
        self.results.pop("interrupted", None)
        self.results["status"] = "running"
        self.results.setdefault("resumed_at", []).append(results.now_iso())
        self.save()

    def _write_inputs(self) -> None:
        cfg, ds = self.cfg, self.dataset
        inputs = self.dir / "inputs"
        inputs.mkdir()
        w_path = inputs / "initial_weights.npz"
        save_weights(initial_weights(cfg.model, cfg.seed), w_path)
        o_path = inputs / "batch_order.npy"
        order = data.batch_order(len(ds.y_train), cfg.epochs, cfg.seed)
        np.save(o_path, order)
        c_path = inputs / "calibration_indices.npy"
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 2]))
        n_cal = min(cfg.calibration_samples, len(ds.y_train))
        np.save(c_path, np.sort(rng.choice(len(ds.y_train), size=n_cal, replace=False)).astype(np.int64))
        self.weights_path, self.order_path, self.calibration_path = w_path, o_path, c_path
        config = cfg.to_dict()
        config["out"] = str(self.dir)
        config["dataset_sha256"] = ds.checksums
        self.results = {
            "schema_version": results.SCHEMA_VERSION,
            "edgebench_version": __version__,
            "created_at": results.now_iso(),
            "status": "running",
            "config": config,
            "dataset": ds.describe(),
            "model": {
                "layers": [{"in": i, "out": o, "activation": "relu" if k < len(cfg.model.hidden) else "none"}
                           for k, (i, o) in enumerate(cfg.model.layer_sizes)],
                "parameter_count": cfg.model.parameter_count,
                "macs_per_sample": macs(cfg.model),
            },
            "fairness": {
                "initial_weights": {"file": "inputs/initial_weights.npz", "sha256": data.sha256_file(w_path),
                                    "scheme": INIT_SCHEME, "seed": cfg.seed},
                "batch_order": {"file": "inputs/batch_order.npy", "sha256": data.sha256_file(o_path),
                                "shape": list(order.shape), "seed": cfg.seed,
                                "note": "one permutation per epoch, shared by every framework; "
                                        "the last batch of an epoch may be short"},
                "optimizer": {**config["optimizer"], "epsilon_note": ADAM_EPSILON_NOTE + " "
                              + PLACEMENT_NOTE[cfg.optimizer.epsilon_placement]},
                "calibration": {"file": "inputs/calibration_indices.npy", "samples": n_cal,
                                "note": "training images drawn without replacement from the seed; the "
                                        "same images calibrate every static int8 export"},
                "inference": {"threads": cfg.bench_threads,
                              "latency": f"batch 1, session loaded once, 20 warm-up calls, then at least "
                                         f"{cfg.latency_min_iters} calls and {cfg.latency_min_time_s:g} s timed "
                                         "one by one with perf_counter_ns; raw samples in latency/",
                              "throughput": f"batch {cfg.throughput_batch} where the artifact takes a "
                                            "dynamic batch: images / median batch time"},
                "loss": "softmax cross-entropy from logits, mean over the batch",
                "dtype": "float32",
                "threads": {"count": cfg.threads,
                            "how": "each child pinned to N cores (sched_setaffinity) when N is below the "
                                   "core count; TensorFlow intra/inter-op = N; PyTorch set_num_threads(N) and "
                                   "set_num_interop_threads(N); JAX/XLA: the affinity, plus single-threaded "
                                   "Eigen when N = 1; OMP/MKL/OpenBLAS env = N"},
                "isolation": "one child process per framework and per artifact verification",
                "modes": {"eager": "what a typical user writes: Keras fit (jit_compile=False), a PyTorch "
                                   "eager loop, a jax.jit step per batch",
                          "compiled": "each framework's fast path: Keras jit_compile=True with "
                                      "steps_per_execution=100, torch.compile (Inductor) on the model with "
                                      "an eager optimizer, a whole JAX epoch in one jitted lax.scan"},
                "train_time": "sum of per-epoch wall times (time.perf_counter); each epoch covers its "
                              "batches, gathered by the shared permutation from the framework's own copy "
                              "of the training set (TensorFlow: tf.gather per epoch, then fit; PyTorch: "
                              "index per batch; JAX: jnp.take per batch inside the jitted step), and all "
                              "its training steps; excludes reading data, the one-time copy of the "
                              "training set into the framework (data_load_s), building the model, "
                              "evaluation and export",
                "evaluation": "test loss and accuracy from the framework's logits on all test images, "
                              "loss computed by edgebench in float64 from those logits",
            },
            "boards": [b.to_dict() for b in self.boards],
            "boards_note": "fit counts the model bytes in flash and the TFLM tensor arena (inputs and "
                           "outputs live inside it) in RAM; it leaves out the TFLM runtime's code, the "
                           "application's code, stack and buffers, and RAM reserved by an RTOS or radio stack",
            "environment": results.environment(),
            "trainings": [],
            "artifacts": [],
        }

    def _speed_limit(self) -> None:
        from edgebench.measure.speed import gemm_peak, step_gemm_time, train_flops_per_sample

        flops = train_flops_per_sample(self.cfg.model)
        n = len(self.dataset.y_train)
        steps = -(-n // self.cfg.batch_size)
        step = step_gemm_time(self.cfg.model, self.cfg.batch_size, self.cfg.threads)
        self.results["speed_limit"] = {
            "gemm_peak": gemm_peak(self.cfg.threads),
            "train_flops_per_sample": flops,
            "train_flops_per_epoch": flops["total"] * n,
            "steps_per_epoch": steps,
            "step_gemm": step,
            # The same work at the rate the step's own small GEMMs reach (full batches).
            "step_gemm_bound_epoch_s": step["step_s"] * n / self.cfg.batch_size,
        }

    def _where(self, fw: str, mode: str) -> tuple[Path, str, str]:
        """Folder, child name and progress label of one (framework, mode) training. The first
        mode's model is the one exported, in the framework's own folder."""
        if mode == self.cfg.modes[0]:
            return self.dir / fw, f"train-{fw}", fw
        return self.dir / fw / mode, f"train-{fw}-{mode}", f"{fw} [{mode}]"

    def _entry(self, fw: str, mode: str) -> dict:
        return next(t for t in self.results["trainings"] if t["framework"] == fw and t["mode"] == mode)

    def _train_task(self, fw: str, fw_dir: Path, name: str, exports: bool, mode: str) -> dict:
        m = self.cfg.model
        return {
            "kind": "train", "name": name, "framework": fw, "fw_dir": str(fw_dir),
            "dataset": self.cfg.dataset, "limit_train": self.cfg.limit_train,
            "limit_test": self.cfg.limit_test, "data_cache": self.data_cache and str(self.data_cache),
            "threads": self.cfg.threads,
            "model": {"input_size": m.input_size, "hidden": list(m.hidden), "num_classes": m.num_classes},
            "optimizer": self.cfg.to_dict()["optimizer"], "batch_size": self.cfg.batch_size,
            "weights_path": str(self.weights_path), "order_path": str(self.order_path),
            "formats": (list(self.cfg.formats) if self.cfg.formats is not None else None) if exports else [],
            "calibration_path": str(self.calibration_path),
            "snapshot_steps": list(self.cfg.twin_steps) if self.cfg.twin and exports and mode == "eager" else [],
            "mode": mode,
        }

    def _repeat(self, fw: str, mode: str, r: int) -> None:
        entry = self._entry(fw, mode)
        if entry["status"] != "ok":
            return
        base, base_name, base_label = self._where(fw, mode)
        rep_dir = base / "repeats" / f"r{r}"
        rep_dir.mkdir(parents=True, exist_ok=True)
        name = f"{base_name}-r{r}"
        label = f"{base_label} (repeat {r})"
        self.on_event(label, {"event": "start", "kind": "train", "epochs": self.cfg.epochs})
        outcome = run_child(self._train_task(fw, rep_dir, name, exports=False, mode=mode), self.work,
                            self.logs / f"{name}.log", self.cfg.threads, lambda ev: self.on_event(label, ev))
        res = outcome.result
        if outcome.returncode != 0 or not res or res.get("status") != "ok":
            entry["repeats"].append({"repeat": r, "status": "failed", "error": _failure(outcome, label)})
            self.on_event(label, {"event": "failed", "error": entry["repeats"][-1]["error"]})
            return
        entry["repeats"].append(_repeat_record(r, res))
        self.on_event(label, {"event": "done", "kind": "train"})

    def _summarize_timing(self) -> None:
        from edgebench.measure.speed import efficiency
        from edgebench.measure.stats import diff_ci, mean_ci

        sl = self.results["speed_limit"]
        ok = [t for t in self.results["trainings"] if t["status"] == "ok"]
        for t in ok:
            runs = [x for x in t["repeats"] if x["status"] == "ok"]
            timing = {key: mean_ci([x[key] for x in runs if x.get(key) is not None])
                      for key in ("train_time_s", "first_epoch_s", "steady_epoch_s")}
            accs = [x["test_accuracy"] for x in runs]
            timing["test_accuracy"] = {"mean": float(np.mean(accs)), "min": min(accs), "max": max(accs),
                                       "values": accs, "identical": len(set(accs)) == 1}
            timing["peak_rss_bytes"] = max(x["peak_rss_bytes"] for x in runs)
            steady = timing["steady_epoch_s"]["mean"] or timing["train_time_s"]["mean"] / self.cfg.epochs
            timing["efficiency"] = efficiency(sl["train_flops_per_epoch"], sl["steps_per_epoch"], steady,
                                              sl["gemm_peak"]["gflops"])
            timing["flop_bound_train_s"] = sl["train_flops_per_epoch"] * self.cfg.epochs / (sl["gemm_peak"]["gflops"] * 1e9)
            timing["epoch_s_for_efficiency"] = steady  # steady mean; with one epoch, the only one
            if sl.get("step_gemm_bound_epoch_s"):
                timing["steady_vs_flop_bound"] = steady / timing["efficiency"]["flop_bound_epoch_s"]
                timing["steady_vs_step_gemm_bound"] = steady / sl["step_gemm_bound_epoch_s"]
            # What the first epoch costs beyond a steady one: tracing, compilation, warm-up.
            firsts = [x["first_epoch_s"] - x["steady_epoch_s"] for x in runs if x.get("steady_epoch_s") is not None]
            timing["first_epoch_excess_s"] = mean_ci(firsts) if firsts else None
            t["timing"] = timing
            t["determinism"] = self._determinism(t)
            # The headline figure is the statistic over all repeats; repeat 1 keeps its own.
            t["train_time_s_repeat1"] = t["repeats"][0]["train_time_s"]
            t["train_time_s"] = timing["train_time_s"]["mean"]
        comparisons = []
        for i, a in enumerate(ok):
            for b in ok[i + 1:]:
                # Frameworks within one mode, and each framework's modes against each other.
                if a["mode"] != b["mode"] and a["framework"] != b["framework"]:
                    continue
                ta = [x["train_time_s"] for x in a["repeats"] if x["status"] == "ok"]
                tb = [x["train_time_s"] for x in b["repeats"] if x["status"] == "ok"]
                comparisons.append({"a": a["framework"], "b": b["framework"], "a_mode": a["mode"],
                                    "b_mode": b["mode"], "metric": "train_time_s", **diff_ci(ta, tb)})
        self.results["timing_comparisons"] = comparisons

    def _determinism(self, t: dict) -> dict:
        """Are the repeats' final weights bit-identical? (Same seed, data, threads, machine.)"""
        base = self._where(t["framework"], t["mode"])[0]
        files = [base / "final_weights.npz"] + [base / "repeats" / f"r{x['repeat']}" / "final_weights.npz"
                                                 for x in t["repeats"][1:] if x["status"] == "ok"]
        files = [f for f in files if f.exists()]
        digests = {data.sha256_file(f) for f in files}
        return {"repeats_compared": len(files), "bit_identical_weights": len(digests) == 1 if files else None}

    def _train(self, fw: str, mode: str) -> None:
        info = FRAMEWORKS[fw]
        entry = {"framework": fw, "mode": mode, "status": "running", "error": None, "train_time_s": None,
                 "epochs": [], "test_accuracy": None, "test_loss": None, "peak_rss_bytes": None}
        self.results["trainings"].append(entry)
        missing = info.missing_module()
        if missing:
            entry["status"] = "skipped"
            entry["error"] = f"{fw} is not installed (module '{missing}' not found; {info.install_hint})"
            if mode == self.cfg.modes[0]:
                self.on_event(fw, {"event": "skipped", "reason": entry["error"]})
            return
        fw_dir, name, label = self._where(fw, mode)
        fw_dir.mkdir(parents=True, exist_ok=True)
        exports = mode == self.cfg.modes[0]
        task = self._train_task(fw, fw_dir, name, exports=exports, mode=mode)
        self.on_event(label, {"event": "start", "kind": "train", "epochs": self.cfg.epochs})
        outcome = run_child(task, self.work, self.logs / f"{name}.log", self.cfg.threads,
                            lambda ev: self.on_event(label, ev))
        entry["log"] = f"logs/{name}.log"
        entry["process_wall_s"] = outcome.wall_s
        res = outcome.result
        if not res or res.get("status") != "ok":
            entry.update(status="failed", error=_failure(outcome, f"{label} training"),
                         exit_code=outcome.returncode)
            self.on_event(label, {"event": "failed", "error": entry["error"]})
            return
        arts = res.pop("artifacts")
        if outcome.returncode != 0:
            # Training finished and was saved; a converter then brought the process down.
            for art in arts:
                if art["status"] == "running":
                    art.update(status="failed", size_bytes=None, exit_code=outcome.returncode,
                               error=_failure(replace(outcome, result=None), "export"))
        entry.update(res)
        entry["repeats"] = [_repeat_record(1, res)]
        self.results["artifacts"].extend(arts)
        self.on_event(label, {"event": "done", "kind": "train"})

    def _twin(self) -> None:
        from edgebench.measure.drift import twin_drift

        ok = [t["framework"] for t in self.results["trainings"] if t["status"] == "ok" and t["mode"] == "eager"]
        if len(ok) < 2:
            self.results["twin"] = {"status": "skipped", "reason": "needs two frameworks that trained"}
            return
        n = len(self.dataset.y_train)
        steps_per_epoch = -(-n // self.cfg.batch_size)
        try:
            drift = twin_drift(self.dir, ok, list(self.cfg.twin_steps), steps_per_epoch * self.cfg.epochs,
                               self.dataset.x_test)
            self.results["twin"] = {"status": "ok", **drift}
        except (OSError, KeyError, ValueError) as e:
            self.results["twin"] = {"status": "failed", "reason": f"{type(e).__name__}: {e}"}

    def _logits_path(self, art: dict) -> Path:
        return self.dir / "logits" / f"{art['framework']}-{art['format']}-{art['precision']}.npy"

    def _mcu(self, art: dict) -> None:
        label = f"{art['framework']}/{art['format']}-{art['precision']} on TFLM"
        entry: dict = {"runtime": "tflm"}
        art["microcontroller"] = entry
        missing = RUNTIMES["tflm"].missing_module()
        if missing:
            entry.update(status="skipped", reason=f"TFLite Micro is not installed (module '{missing}'; "
                                                  "pip install 'edgebench[tflm]')")
            return
        name = f"mcu-{art['framework']}-{art['format']}-{art['precision']}"
        stem = Path(art["file"]).stem
        task = {
            "kind": "mcu", "name": name, "file": str(self.dir / art["file"]), "run_dir": str(self.dir),
            "dataset": self.cfg.dataset, "limit_test": self.cfg.limit_test,
            "data_cache": self.data_cache and str(self.data_cache),
            "litert_logits": str(self._logits_path(art)),
            "c_dir": str(self.dir / art["framework"] / "mcu" / stem),
            "boards": [b.to_dict() for b in self.boards],
            "bench": {"min_iters": self.cfg.latency_min_iters, "min_time_s": self.cfg.latency_min_time_s},
        }
        self.on_event(label, {"event": "start", "kind": "verify", "total": len(self.dataset.y_test)})
        outcome = run_child(task, self.work, self.logs / f"{name}.log", 1, lambda ev: self.on_event(label, ev))
        res = outcome.result
        if not res or outcome.returncode != 0 or res.get("status") not in ("ok", "unsupported"):
            entry.update(status="failed", reason=_failure(outcome, "TFLite Micro"), exit_code=outcome.returncode)
            self.on_event(label, {"event": "failed", "error": entry["reason"]})
            return
        entry.update(res)
        entry["log"] = f"logs/{name}.log"
        self.on_event(label, {"event": "done", "kind": "verify"})

    def _verify(self, art: dict) -> None:
        label = f"{art['framework']}/{art['format']}-{art['precision']}"
        info = RUNTIMES[art["runtime"]]
        missing = info.missing_module()
        if missing:
            art.update(status="skipped", error=f"runtime {info.name} is not installed "
                                               f"(module '{missing}'; {info.install_hint})")
            return
        name = f"verify-{art['framework']}-{art['format']}-{art['precision']}"
        task = {
            "kind": "verify", "name": name, "file": str(self.dir / art["file"]), "runtime": art["runtime"],
            "precision": art["precision"], "dataset": self.cfg.dataset, "limit_test": self.cfg.limit_test,
            "data_cache": self.data_cache and str(self.data_cache),
            "threads": self.cfg.bench_threads, "raw_dir": str(self.raw_dir),
            "bench": {"min_iters": self.cfg.latency_min_iters, "min_time_s": self.cfg.latency_min_time_s,
                      "throughput_batch": self.cfg.throughput_batch},
            "source_logits": str(self.dir / art["framework"] / "test_logits.npy"),
            "logits_path": str(self._logits_path(art)),
        }
        self.on_event(label, {"event": "start", "kind": "verify", "total": len(self.dataset.y_test)})
        outcome = run_child(task, self.work, self.logs / f"{name}.log", self.cfg.bench_threads,
                            lambda ev: self.on_event(label, ev))
        res = outcome.result
        if outcome.returncode != 0 or not res or res.get("status") != "ok":
            art.update(status="failed", error=_failure(outcome, f"{label} verification"),
                       exit_code=outcome.returncode)
            self.on_event(label, {"event": "failed", "error": art["error"]})
            return
        art.update(res)
        art["verify_log"] = f"logs/{name}.log"
        self.on_event(label, {"event": "done", "kind": "verify"})
