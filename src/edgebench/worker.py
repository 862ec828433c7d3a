"""Child-process entry point: `python -m edgebench.worker TASK.json` runs one task and exits;
`python -m edgebench.worker --serve` is a long-lived worker that runs one task per command line on
its stdin ({"task": TASK.json, "log": LOG}) until stdin closes.

Frameworks train, and artifacts are verified, in child processes, so thread pools, memory and
crashes stay apart from the parent's. A worker keeps its framework (or runtime) imported and the
data loaded between tasks: one worker per framework and mode runs all its trainings, one per
runtime all its artifacts (pipeline/runner.WorkerPool). The child talks to the parent through JSON
lines on stdout (prefixed, so library chatter is ignored) and writes its typed outcome to the
task's result_path; a served task ends with a "task-done" event.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import signal
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from edgebench.pipeline.gate import timed_section
from edgebench.pipeline.jobs import (DataRef, InspectTask, MicrocontrollerTask, Outcome, SourceTask, TrainTask,
                                     VerifyTask, outcome_to_json, task_from_json)
from edgebench.pipeline.jobs import EVENT_PREFIX


def emit(event: str, **fields) -> None:
    sys.stdout.write(EVENT_PREFIX + json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def inject_fault(name: str) -> None:
    """Testing hook: EDGEBENCH_INJECT_FAULT="NAME=crash|kill|raise[,...]" makes the named step fail,
    so tests can prove that one failure does not stop a run. A training's steps are its task name
    and, after each epoch, NAME@epochN (a death in the middle of the timed loop)."""
    for item in os.environ.get("EDGEBENCH_INJECT_FAULT", "").split(","):
        target, _, how = item.partition("=")
        if target == name:
            if how == "crash":
                os.abort()  # dies by SIGABRT, leaving no result file
            if how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer or a user would
            raise RuntimeError(f"fault injected into {name}")


def peak_rss_bytes() -> int:
    """The process's peak resident set since the current task began (reset_peak_rss): VmHWM, which
    a worker resets between tasks; ru_maxrss (the whole process's life) where it cannot be read."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux reports KiB


def reset_peak_rss() -> bool:
    """Start the peak-RSS count afresh (Linux >= 4.0: writing 5 to clear_refs resets VmHWM), so a
    worker's second task reports its own peak, not the first one's."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def images(x: np.ndarray, shape) -> np.ndarray:
    """Images as the network takes them, channels-last (N, *shape): a view, no copy."""
    return x.reshape(len(x), *shape)


# What a worker keeps between its tasks: the framework adapters (imported once), the decoded data
# sets and each framework's copy of its training set (loaded once), and how many trainings each
# adapter has run (0: the first in this process, which pays the cold start).
_KEPT: dict = {"adapters": {}, "data": {}, "framework_data": {}, "trainings": {}}


def _adapter(framework: str, threads: int):
    """The framework's adapter, imported on first use; (adapter, seconds this call spent importing)."""
    from edgebench import registry

    key = (framework, threads)
    if key in _KEPT["adapters"]:
        return _KEPT["adapters"][key], 0.0
    t0 = time.perf_counter()
    adapter = registry.framework(framework).load()(threads)
    _KEPT["adapters"][key] = adapter
    return adapter, time.perf_counter() - t0


def _framework_data(adapter, task: TrainTask, ds, shape) -> tuple:
    """The framework's own copy of the training set, made once per worker: the same tensors serve
    every training (the frameworks' training loops read them, never write them); (data, seconds
    this call spent making it)."""
    key = (task.framework, task.data, tuple(shape))
    t0 = time.perf_counter()
    if key not in _KEPT["framework_data"]:
        _KEPT["framework_data"][key] = adapter.load_data(images(ds.x_train, shape), ds.y_train)
    return _KEPT["framework_data"][key], time.perf_counter() - t0


def train(task: TrainTask) -> Outcome:
    from edgebench import registry
    from edgebench.config import OptimizerSpec
    from edgebench.measure.parity import softmax_cross_entropy
    from edgebench.models import weights as init
    from edgebench.models.network import from_description

    fw_dir = Path(task.fw_dir)
    net, opt = from_description(task.model), OptimizerSpec(**task.optimizer)
    adapter, import_time_s = _adapter(task.framework, task.threads)
    before = _KEPT["trainings"].get((task.framework, task.threads), 0)
    ds = _dataset(task.data)
    weights = init.load(Path(task.weights_path))
    order = np.load(task.order_path)
    if hasattr(adapter, "fresh_state"):  # the global state a fresh process starts with (RNG seeds, caches)
        adapter.fresh_state(compiled=task.mode == "compiled")
    model = adapter.build(net, weights)

    faults = bool(os.environ.get("EDGEBENCH_INJECT_FAULT"))  # read once: on_epoch runs inside the timed loop

    def on_epoch(rec):
        emit("epoch", **rec.to_dict(), epochs=len(order))
        if faults:
            inject_fault(f"{task.name}@epoch{rec.epoch}")

    snap_steps = set(task.snapshot_steps)
    on_step = None
    if snap_steps:
        (fw_dir / "snapshots").mkdir(exist_ok=True)

        def on_step(step, m):
            if step in snap_steps:
                init.save(adapter.get_weights(m), fw_dir / "snapshots" / f"step_{step}.npz")

    train_data, data_load_s = _framework_data(adapter, task, ds, net.input_shape)
    _KEPT["trainings"][(task.framework, task.threads)] = before + 1
    with timed_section("training"):  # the training loop runs alone: no other child of the run is running
        history = adapter.train(model, train_data, order, task.batch_size, opt, on_epoch,
                                on_step=on_step, compiled=task.mode == "compiled")
    logits = adapter.predict(model, images(ds.x_test, net.input_shape))
    np.save(fw_dir / "test_logits.npy", logits)
    init.save(adapter.get_weights(model), fw_dir / "final_weights.npz")
    # The model file (what `edgebench deploy` takes) of the training that is exported; later
    # repeats keep their final weights only.
    saved = _save_model(adapter, model, fw_dir) if task.exports else {}
    if task.layer_outputs:
        saved.update(_save_layer_outputs(adapter, model, net, ds, task))
    record = {
        **saved,
        "versions": adapter.versions(),
        "import_time_s": import_time_s,
        "data_load_s": data_load_s,
        # Trainings this process ran before this one: 0 in a fresh process (imports, thread pools,
        # allocator and kernel caches all cold), more in a long-lived worker.
        "process_trainings_before": before,
        # Sum of the per-epoch wall times: each covers that epoch's batches (gathered by the shared
        # permutation from the framework's copy of the training set) and all its training steps.
        "train_time_s": sum(r.time_s for r in history),
        "epochs": [r.to_dict() for r in history],
        "test_accuracy": float(np.mean(logits.argmax(axis=1) == ds.y_test)),
        "test_loss": softmax_cross_entropy(logits, ds.y_test),
        "test_samples": int(len(ds.y_test)),
        "confusion_matrix": confusion_matrix(ds.y_test, logits.argmax(axis=1), ds.num_classes),
        "peak_rss_bytes": peak_rss_bytes(),  # after training and evaluation, before exports
        "test_logits": str((fw_dir / "test_logits.npy").name),
    }
    # Save the training result before exporting: a converter that crashes the process must
    # not take the finished training down with it.
    save_result(task, Outcome("ok", record=record))
    from edgebench.exporters import ExportContext

    calibration = images(ds.x_train[np.load(task.calibration_path)], net.input_shape)
    ctx = ExportContext(network=net, calibration=calibration)
    by_name = {e.name: e for e in registry.exporters_for(task.framework)}
    arts = export_all(task, task.framework, model, [by_name[n] for n in task.exports], fw_dir, ctx, record)
    return Outcome("ok", record=record, artifacts=tuple(arts))


def _save_layer_outputs(adapter, model, net, ds, task: TrainTask) -> dict:
    """Each compared layer's output (measure/layer_table.source_layers) on the first layer_samples
    test images, as the framework itself computes it: what the artifacts' tensors are compared with.
    A failure is recorded, never fatal."""
    from edgebench.measure.layer_table import source_layers

    if not hasattr(adapter, "activations"):  # a framework that cannot say (the NumPy reference): no tables
        return {}
    t0 = time.perf_counter()
    try:
        x = images(ds.x_test[:task.layer_samples], net.input_shape)
        outs = adapter.activations(model, x, source_layers(net))
        np.savez(task.layer_outputs, **{f"layer:{k}": v for k, v in outs.items()}, input=x)
        return {"layer_outputs_time_s": time.perf_counter() - t0}
    except Exception as e:
        traceback.print_exc()
        return {"layer_outputs_error": f"{type(e).__name__}: {first_line(e)}"}


def _save_source_layers(src, x: np.ndarray, path: Path) -> dict:
    """A deploy's source model, layer by layer, on the per-layer sample (sources/layers.py); why not,
    where it cannot say. Never fatal."""
    from edgebench.sources import layers

    why = layers.supported(src.kind, src.facts)
    if why:
        return {"layer_outputs_error": why}
    try:
        return {"layer_outputs_time_s": layers.save(src, x, path)}
    except Exception as e:
        traceback.print_exc()
        return {"layer_outputs_error": f"{type(e).__name__}: {first_line(e)}"}


def _layer_error(session, net, task: VerifyTask, logits: np.ndarray) -> dict:
    """The per-layer table of this artifact against the source model's saved layer outputs
    (measure/layer_table); its final output is checked against the runtime's normal run of the same
    images. A failure is recorded, never fatal."""
    from edgebench.measure.layer_match import groups_of
    from edgebench.measure.layer_table import clean, layer_table
    from edgebench.sources import layers

    try:
        nodes, source, x = layers.load(Path(task.layer_source))
        table = layer_table(session, groups_of(nodes) if nodes is not None else net, source, x)
        final = table["final_output"]
        diff = float(np.max(np.abs(final.reshape(len(x), -1) - logits[:len(x)].reshape(len(x), -1))))
        out = clean(table)
        out["final_output_max_diff"] = diff  # against this runtime's ordinary run (delegates on)
        return out
    except Exception as e:
        traceback.print_exc()
        return {"error": f"{type(e).__name__}: {first_line(e)}"}


def _save_model(adapter, model, fw_dir: Path) -> dict:
    """The trained model in its framework's own file format, where it has one (model.keras,
    model.pt2): what `edgebench deploy` takes. A failure is recorded, never fatal."""
    if not hasattr(adapter, "save"):
        return {"saved_model": None}
    t0 = time.perf_counter()
    try:
        name = adapter.save(model, fw_dir)
        return {"saved_model": f"{fw_dir.name}/{name}", "save_time_s": time.perf_counter() - t0}
    except Exception as e:
        traceback.print_exc()
        return {"saved_model": None, "saved_model_error": f"{type(e).__name__}: {first_line(e)}"}


def export_all(task, framework: str, model, targets: list, fw_dir: Path, ctx, record: dict) -> list[dict]:
    """Every selected export of one model, in order; each one's failure is recorded and the others
    go on. The outcome is saved before each, so a converter that kills the process is named."""
    arts: list[dict] = []
    for target in targets:
        emit("export", format=target.format, precision=target.precision)
        path = fw_dir / target.filename
        art = {"framework": framework, "format": target.format, "precision": target.precision,
               "runtime": target.runtime, "file": f"{fw_dir.name}/{target.filename}", "status": "running"}
        if target.calibrated:
            art["calibration_samples"] = int(len(ctx.calibration))
        arts.append(art)
        save_result(task, Outcome("ok", record=record, artifacts=tuple(arts)))  # a crash names the converter
        t1 = time.perf_counter()
        try:
            if target.calibrated and len(ctx.calibration) == 0:
                art.update(status="skipped", size_bytes=None,
                           error="no calibration images for static int8 (add x_calib to the .npz data set)")
                continue
            inject_fault(f"export-{framework}-{target.format}-{target.precision}")
            # A loaded program gives each converter its own copy (sources/torch.py).
            target.load()(model.fresh() if hasattr(model, "fresh") else model, path, ctx)
            art.update(status="ok", error=None, size_bytes=path.stat().st_size)
            ctx.produced[(target.format, target.precision)] = path
        except ModuleNotFoundError as e:
            art.update(status="skipped", size_bytes=None,
                       error=f"converter not installed: module '{e.name}' not found (pip install 'edgebench[all]')")
        except Exception as e:  # a converter's failure is recorded; the other exports go on
            traceback.print_exc()
            art.update(status="failed", error=f"export failed: {type(e).__name__}: {first_line(e)}",
                       size_bytes=None)
        finally:
            art["export_time_s"] = time.perf_counter() - t1
    return arts


def inspect(task: InspectTask) -> Outcome:
    """Open a user's model file and describe it; a file that cannot be deployed is a failed outcome
    whose error is the one line the user sees."""
    from edgebench.sources import SourceError, open_source

    try:
        src = open_source(Path(task.file), task.source_kind)
    except SourceError as e:
        return Outcome("failed", error=str(e))
    return Outcome("ok", record=src.facts)


def source(task: SourceTask) -> Outcome:
    """Deploy's counterpart of train: the user's model on the test set, then its exports."""
    from edgebench.exporters import ExportContext
    from edgebench.measure.parity import softmax_cross_entropy
    from edgebench.models.network import model_of
    from edgebench.sources import SourceError, exporters_for, open_source

    fw_dir = Path(task.fw_dir)
    net = model_of(task.network)
    t0 = time.perf_counter()
    try:
        src = open_source(Path(task.file), task.source_kind)
    except SourceError as e:
        return Outcome("failed", error=str(e))
    load_time_s = time.perf_counter() - t0
    ds = _dataset(task.data)
    x_test = images(ds.x_test, net.input_shape)
    t0 = time.perf_counter()
    logits = src.predict(x_test)
    predict_s = time.perf_counter() - t0
    if logits.ndim != 2 or len(logits) != len(x_test):
        return Outcome("failed", error=f"{task.file}: the model's output for {len(x_test)} images has shape "
                                       f"{list(logits.shape)}, not [images, classes]")
    np.save(fw_dir / "test_logits.npy", logits)
    labelled = len(ds.y_test) == len(x_test)
    record = {
        "kind": src.kind, "framework": src.framework, "versions": src.facts.get("versions", {}),
        "load_time_s": load_time_s, "predict_time_s": predict_s, "test_samples": int(len(x_test)),
        "test_accuracy": float(np.mean(logits.argmax(axis=1) == ds.y_test)) if labelled else None,
        "test_loss": softmax_cross_entropy(logits, ds.y_test) if labelled else None,
        "confusion_matrix": confusion_matrix(ds.y_test, logits.argmax(axis=1), logits.shape[1]) if labelled else None,
        "test_logits": f"{fw_dir.name}/test_logits.npy", "peak_rss_bytes": peak_rss_bytes(),
    }
    if task.layer_outputs:
        record.update(_save_source_layers(src, x_test[:task.layer_samples], Path(task.layer_outputs)))
    save_result(task, Outcome("ok", record=record))
    calibration = images(ds.x_train[np.load(task.calibration_path)], net.input_shape) if len(ds.x_train) else \
        np.zeros((0, *net.input_shape), np.float32)
    shape = tuple(src.facts["input"]["shape"])
    ctx = ExportContext(network=net, calibration=calibration, fixed_batch=shape[0] if shape[0] > 0 else None,
                        model_input=shape)
    by_name = {e.name: e for e in exporters_for(src.kind, src.facts)}
    arts = export_all(task, src.framework, src.model, [by_name[n] for n in task.exports], fw_dir, ctx, record)
    return Outcome("ok", record=record, artifacts=tuple(arts))


def save_result(task, outcome: Outcome) -> None:
    tmp = Path(task.result_path + ".tmp")
    tmp.write_text(outcome_to_json(outcome))
    tmp.replace(task.result_path)


def verify(task: VerifyTask) -> Outcome:
    from edgebench import registry
    from edgebench.measure.latency import time_calls
    from edgebench.measure.parity import compare
    from edgebench.measure.stats import summarize_ns

    t0 = time.perf_counter()
    session = registry.runtimes()[task.runtime].load()(Path(task.file), threads=task.threads)
    load_time_s = time.perf_counter() - t0
    from edgebench.models.network import model_of

    net = model_of(task.network)
    ds = _dataset(task.data, splits=("test",))
    x_test = images(ds.x_test, net.input_shape)
    source = np.load(task.source_logits)
    logits = predict_all(session, x_test)
    np.save(task.logits_path, logits)  # kept: a microcontroller runtime is compared with this run
    result = {"runtime_version": session.version(), "load_time_s": load_time_s,
              "test_samples": int(len(x_test)), "io": session.io, "threads": task.threads,
              "accepts_batch": bool(session.accepts_batch)}
    out_io = session.io.get("output") or {}
    step = out_io.get("scale") if str(out_io.get("dtype", "")).startswith(("int", "uint")) else None
    result.update(compare(source, logits, ds.y_test, task.precision, net, task=task.task, output_step=step or None))
    if task.layer_source:
        emit("bench", what="layers")
        result["layers"] = _layer_error(session, net, task, logits)
    try:
        result["graph"] = session.graph_cost()
    except Exception as e:  # introspection is a cross-check, never a reason to fail the artifact
        result["graph"] = None
        result["graph_error"] = f"{type(e).__name__}: {first_line(e)}"
    try:  # int8 weights: one scale per output channel or per layer, read from the file
        from edgebench.measure.quantization import weight_granularity

        result["weight_quantization"] = weight_granularity(Path(task.file))
    except Exception as e:
        result["weight_quantization"] = {"granularity": None, "error": f"{type(e).__name__}: {first_line(e)}"}

    # Latency: batch 1, the session loaded once and warmed up; only the inference call is timed.
    bench = task.bench
    emit("bench", what="latency")
    one = session.batch_call(x_test[:1])
    samples = time_calls(one, min_iters=bench.min_iters, min_time_s=bench.min_time_s, warmup=20)
    raw_path = Path(task.raw_dir) / f"{task.name}-latency-ns.npy"
    np.save(raw_path, np.asarray(samples, dtype=np.int64))
    result["latency_ms"] = summarize_ns(samples)
    result["latency_raw"] = f"{raw_path.parent.name}/{raw_path.name}"
    # Throughput at a larger batch where the artifact takes one.
    batch = min(bench.throughput_batch, len(x_test))
    if session.accepts_batch and batch > 1:
        emit("bench", what="throughput")
        call = session.batch_call(x_test[:batch])
        t_samples = time_calls(call, min_iters=10, min_time_s=bench.min_time_s / 2, warmup=3, what="throughput")
        per_batch = summarize_ns(t_samples)
        t_path = Path(task.raw_dir) / f"{task.name}-throughput-ns.npy"
        np.save(t_path, np.asarray(t_samples, dtype=np.int64))
        result["throughput"] = {"batch": batch, "images_per_s": batch / (per_batch["p50"] / 1e3),
                                "batch_latency_ms": per_batch, "raw": f"{t_path.parent.name}/{t_path.name}"}
    else:
        result["throughput"] = {"batch": session.fixed_batch, "images_per_s": None,
                                "note": f"fixed batch {session.fixed_batch}: no larger batch to time"}
    result["peak_rss_bytes"] = peak_rss_bytes()
    session.close()
    return Outcome("ok", record=result)


def microcontroller(task: MicrocontrollerTask) -> Outcome:
    """The runtime's own microcontroller check (for TFLite Micro: runtimes/tflm.py)."""
    from edgebench import registry

    check = registry.runtimes()[task.runtime].load_check()
    ds = _dataset(task.data, splits=("test",))
    from edgebench.models.network import model_of

    shape = model_of(task.network).input_shape
    return check(task, dataclasses.replace(ds, x_test=images(ds.x_test, shape)))


def _dataset(ref: DataRef, splits: tuple[str, ...] = ("train", "test")):
    """The data set, read once per worker (a copy with more splits serves a task that needs fewer)."""
    for (r, have), ds in _KEPT["data"].items():
        if r == ref and set(splits) <= set(have):
            return ds
    ds = _read_dataset(ref, splits)
    _KEPT["data"][(ref, tuple(splits))] = ds
    return ds


def _read_dataset(ref: DataRef, splits: tuple[str, ...]):
    """The parent's decoded copy when it made one (the run's .work/data), else from the files."""
    from edgebench import data

    if ref.cache:
        return data.load_arrays(Path(ref.cache), splits)
    if str(ref.dataset).lower().endswith(".npz"):
        return data.load_npz(Path(ref.dataset), limit_test=ref.limit_test)
    return data.load(ref.dataset, limit_train=ref.limit_train, limit_test=ref.limit_test, splits=splits,
                     num_classes=ref.num_classes)


def confusion_matrix(labels: np.ndarray, pred: np.ndarray, k: int) -> list[list[int]]:
    """Rows: true class; columns: predicted class."""
    return np.bincount(labels * k + pred, minlength=k * k).reshape(k, k).astype(int).tolist()


def predict_all(session, x: np.ndarray, chunk: int = 1000) -> np.ndarray:
    """The session's logits for every row of x, reporting progress to the parent."""
    outs = []
    for start in range(0, len(x), chunk):
        outs.append(session.predict(x[start:start + chunk]))
        emit("progress", done=min(start + chunk, len(x)), total=len(x))
    return np.concatenate(outs)


def first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else ""


def run_task(task_path: Path) -> int:
    """One task: its outcome saved to its result_path; 0 when it ran to an outcome of its own."""
    task = task_from_json(task_path.read_text())
    try:
        inject_fault(task.name)
        outcome = {"train": train, "verify": verify, "microcontroller": microcontroller, "inspect": inspect,
                   "source": source}[task.kind](task)
        code = 0
    except Exception as e:
        traceback.print_exc()
        outcome = Outcome("failed", error=f"{type(e).__name__}: {first_line(e)}")
        code = 1
    save_result(task, outcome)
    return code


def _log_to(path: str) -> None:
    """This task's log: everything written to stderr from here on, by Python or by a library's C
    code, goes to it (the parent writes the task's stdout chatter there too)."""
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 2)
    os.close(fd)


def serve() -> int:
    """A long-lived worker: one task per command line on stdin, until stdin closes. The same stdin
    carries the timing gate's "go" (pipeline/gate.py), read only inside a task's timed section."""
    from edgebench.pipeline import affinity
    while True:
        line = sys.stdin.readline()
        if not line:
            return 0
        if not line.strip():
            continue
        command = json.loads(line)
        _log_to(command["log"])
        affinity.move(int(command.get("slot", 0)))
        reset_peak_rss()
        code = run_task(Path(command["task"]))
        sys.stderr.flush()
        emit("task-done", code=code)


def main(argv: list[str]) -> int:
    from edgebench.pipeline import affinity

    affinity.pin()
    if argv and argv[0] == "--serve":
        return serve()
    return run_task(Path(argv[0]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
