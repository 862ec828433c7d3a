"""Child-process entry point: `python -m edgebench.worker TASK.json`.

Each framework trains, and each artifact is verified, in a process of its own, so thread pools,
memory and crashes stay isolated. The child talks to the parent through JSON lines on stdout
(prefixed, so library chatter is ignored) and writes its result to the task's result_path.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path

import numpy as np

EVENT_PREFIX = "@@edgebench "


def emit(event: str, **fields) -> None:
    sys.stdout.write(EVENT_PREFIX + json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def inject_fault(name: str) -> None:
    """Testing hook: EDGEBENCH_INJECT_FAULT="NAME=crash|raise[,...]" makes the named step fail,
    so tests can prove that one failure does not stop a run."""
    for item in os.environ.get("EDGEBENCH_INJECT_FAULT", "").split(","):
        target, _, how = item.partition("=")
        if target == name:
            if how == "crash":
                os.abort()  # dies by SIGABRT, leaving no result file
            raise RuntimeError(f"fault injected into {name}")


def peak_rss_bytes() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux reports KiB


def _spec(task):
    from edgebench.config import ModelSpec, OptimizerSpec

    m = task["model"]
    return ModelSpec(m["input_size"], tuple(m["hidden"]), m["num_classes"]), OptimizerSpec(**task["optimizer"])


def train(task: dict) -> dict:
    from edgebench.frameworks import REGISTRY
    from edgebench.model import load_weights, save_weights, softmax_cross_entropy

    fw_dir = Path(task["fw_dir"])
    spec, opt = _spec(task)
    t0 = time.perf_counter()
    adapter = REGISTRY[task["framework"]].load()(task["threads"])
    import_time_s = time.perf_counter() - t0
    ds = _dataset(task)
    weights = load_weights(Path(task["weights_path"]))
    order = np.load(task["order_path"])
    model = adapter.build(spec, weights)

    def on_epoch(rec):
        emit("epoch", **rec.to_dict(), epochs=len(order))

    snap_steps = set(task.get("snapshot_steps") or ())
    on_step = None
    if snap_steps:
        (fw_dir / "snapshots").mkdir(exist_ok=True)

        def on_step(step, m):
            if step in snap_steps:
                save_weights(adapter.get_weights(m), fw_dir / "snapshots" / f"step_{step}.npz")

    t0 = time.perf_counter()
    train_data = adapter.load_data(ds.x_train, ds.y_train)
    data_load_s = time.perf_counter() - t0
    history = adapter.train(model, train_data, order, task["batch_size"], opt, on_epoch,
                            on_step=on_step, compiled=task.get("mode") == "compiled")
    logits = adapter.predict(model, ds.x_test)
    np.save(fw_dir / "test_logits.npy", logits)
    save_weights(adapter.get_weights(model), fw_dir / "final_weights.npz")
    result = {
        "status": "ok",
        "versions": adapter.versions(),
        "import_time_s": import_time_s,
        "data_load_s": data_load_s,
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
        "artifacts": [],
    }
    # Save the training result before exporting: a converter that crashes the process must
    # not take the finished training down with it.
    save_result(task, result)
    from edgebench.exporters import ExportContext

    calibration = ds.x_train[np.load(task["calibration_path"])]
    ctx = ExportContext(spec=spec, calibration=calibration)
    from edgebench.config import export_selected

    wanted = task.get("formats")
    for target in adapter.export_targets():
        if not export_selected(wanted, task["framework"], target.format, target.precision):
            continue
        emit("export", format=target.format, precision=target.precision)
        path = fw_dir / target.filename
        art = {"framework": task["framework"], "format": target.format, "precision": target.precision,
               "runtime": target.runtime, "file": f"{fw_dir.name}/{target.filename}", "status": "running"}
        if target.precision.startswith("int8") and target.precision != "int8-dynamic":
            art["calibration_samples"] = int(len(calibration))
        result["artifacts"].append(art)
        save_result(task, result)  # if the converter crashes, the parent knows which one
        t1 = time.perf_counter()
        try:
            inject_fault(f"export-{task['framework']}-{target.format}-{target.precision}")
            target.export(model, path, ctx)
            art.update(status="ok", error=None, size_bytes=path.stat().st_size)
            ctx.produced[(target.format, target.precision)] = path
        except ModuleNotFoundError as e:
            art.update(status="skipped", size_bytes=None,
                       error=f"converter not installed: module '{e.name}' not found (pip install 'edgebench[all]')")
        except Exception as e:  # a converter's failure is recorded; the other exports go on
            traceback.print_exc()
            art.update(status="failed", error=f"export failed: {type(e).__name__}: {_first_line(e)}",
                       size_bytes=None)
        art["export_time_s"] = time.perf_counter() - t1
    return result


def save_result(task: dict, result: dict) -> None:
    tmp = Path(task["result_path"] + ".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(task["result_path"])


def verify(task: dict) -> dict:
    from edgebench.measure.latency import time_calls
    from edgebench.measure.parity import compare
    from edgebench.measure.stats import summarize_ns
    from edgebench.runtimes import REGISTRY

    info = REGISTRY[task["runtime"]]
    t0 = time.perf_counter()
    session = info.load()(Path(task["file"]), threads=task["threads"])
    load_time_s = time.perf_counter() - t0
    ds = _dataset(task, splits=("test",))
    source = np.load(task["source_logits"])
    logits = predict_all(session, ds.x_test)
    np.save(task["logits_path"], logits)  # kept: TFLite Micro is compared with this run
    result = {"status": "ok", "runtime_version": session.version(), "load_time_s": load_time_s,
              "test_samples": int(len(ds.y_test)), "io": session.io, "threads": task["threads"],
              "accepts_batch": bool(session.accepts_batch)}
    result.update(compare(source, logits, ds.y_test, task["precision"]))
    try:
        result["graph"] = session.graph_cost()
    except Exception as e:  # introspection is a cross-check, never a reason to fail the artifact
        result["graph"] = None
        result["graph_error"] = f"{type(e).__name__}: {_first_line(e)}"

    # Latency: batch 1, the session loaded once and warmed up; only the inference call is timed.
    bench = task["bench"]
    emit("bench", what="latency")
    one = session.batch_call(ds.x_test[:1])
    samples = time_calls(one, min_iters=bench["min_iters"], min_time_s=bench["min_time_s"], warmup=20)
    raw_path = Path(task["raw_dir"]) / f"{task['name']}-latency-ns.npy"
    np.save(raw_path, np.asarray(samples, dtype=np.int64))
    result["latency_ms"] = summarize_ns(samples)
    result["latency_raw"] = f"{raw_path.parent.name}/{raw_path.name}"
    # Throughput at a larger batch where the artifact takes one.
    batch = min(bench["throughput_batch"], len(ds.x_test))
    if session.accepts_batch and batch > 1:
        emit("bench", what="throughput")
        call = session.batch_call(ds.x_test[:batch])
        t_samples = time_calls(call, min_iters=10, min_time_s=bench["min_time_s"] / 2, warmup=3)
        per_batch = summarize_ns(t_samples)
        result["throughput"] = {"batch": batch, "images_per_s": batch / (per_batch["p50"] / 1e3),
                                "batch_latency_ms": per_batch}
    else:
        result["throughput"] = {"batch": session.fixed_batch, "images_per_s": None,
                                "note": f"fixed batch {session.fixed_batch}: no larger batch to time"}
    result["peak_rss_bytes"] = peak_rss_bytes()
    session.close()
    return result


def mcu(task: dict) -> dict:
    """A .tflite artifact in TensorFlow Lite Micro: does it run, in how much RAM, as accurately
    as on LiteRT; plus its C array for firmware and the board-fit table."""
    from ai_edge_litert.interpreter import Interpreter

    from edgebench.exporters import c_array
    from edgebench.measure import boards as boards_mod
    from edgebench.measure.latency import time_calls
    from edgebench.measure.stats import summarize_ns
    from edgebench.runtimes import tflm
    from edgebench.runtimes.base import quantize

    path = Path(task["file"])
    model = path.read_bytes()
    ds = _dataset(task, splits=("test",))
    d = Interpreter(model_content=model).get_input_details()[0]
    sample = quantize(ds.x_test[:1], d["dtype"], *d["quantization"])
    result: dict = {"runtime": "tflm", "runtime_version": tflm.TFLMSession.version(), "flash_bytes": len(model)}
    first = tflm.probe(model, None, sample)  # TFLM's default arena: 10x the model size
    if not first.ok:
        result.update(status="unsupported", reason=f"not supported by TFLite Micro: {first.reason()}")
        return result
    emit("bench", what="arena")
    arena = tflm.min_arena(model, sample, upper=10 * len(model))
    result.update(
        status="ok",
        arena_bytes=arena,
        arena_minus_one_fails=not tflm.probe(model, arena - 1, sample).ok,
        arena_reported_bytes=tflm.reported_arena(model, arena, sample),
        arena_method="bisection on arena_size (load + one invoke in a forked child), bracketed from "
                     "the total print_allocations() prints, cross-checked with that total at the minimum",
    )
    if result["arena_reported_bytes"] is not None:
        # The printed total is what stays allocated after an invoke; a larger working minimum
        # means the interpreter needed the difference transiently while preparing.
        result["arena_above_reported_bytes"] = arena - result["arena_reported_bytes"]
    session = tflm.TFLMSession(path, arena_size=arena)  # the whole test set runs in the minimum arena
    result["io"] = session.io
    logits = predict_all(session, ds.x_test)
    litert = np.load(task["litert_logits"])
    pred, lpred = logits.argmax(axis=1), litert.argmax(axis=1)
    result.update(
        test_samples=int(len(ds.y_test)),
        test_accuracy=float(np.mean(pred == ds.y_test)),
        litert_test_accuracy=float(np.mean(lpred == ds.y_test)),
        agreement_with_litert=float(np.mean(pred == lpred)),
        max_abs_diff_vs_litert=float(np.abs(logits.astype(np.float64) - litert).max()),
    )
    result["accuracy_change_vs_litert"] = result["test_accuracy"] - result["litert_test_accuracy"]
    samples = time_calls(session.batch_call(ds.x_test[:1]), min_iters=task["bench"]["min_iters"],
                         min_time_s=task["bench"]["min_time_s"] / 2, warmup=10)
    result["host_latency_ms"] = summarize_ns(samples)
    session.close()
    c_dir = Path(task["c_dir"])
    info = c_array.write(model, c_dir, source_name=path.name, arena_bytes=arena, io=result["io"])
    info["round_trip_ok"] = c_array.read_back(c_dir) == model
    info.update(c_array.compile_check(c_dir, model))
    info["dir"] = str(c_dir.relative_to(Path(task["run_dir"])))
    result["c_array"] = info
    boards = [boards_mod.Board(**b) for b in task["boards"]]
    result["fit"] = [boards_mod.fit(b, len(model), arena) for b in boards]
    return result


def _dataset(task: dict, splits: tuple[str, ...] = ("train", "test")):
    """The parent's decoded copy when it made one (the run's .work/data), else from the files."""
    from edgebench import data

    if task.get("data_cache"):
        return data.load_arrays(Path(task["data_cache"]), splits)
    return data.load(task["dataset"], limit_train=task.get("limit_train"), limit_test=task.get("limit_test"),
                     splits=splits)


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


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else ""


def pin_threads() -> None:
    """Pin this process to EDGEBENCH_THREADS cores: a hard cap every framework respects."""
    n = int(os.environ.get("EDGEBENCH_THREADS", "0") or 0)
    try:
        cores = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return
    if 0 < n < len(cores):
        os.sched_setaffinity(0, cores[:n])


def main(argv: list[str]) -> int:
    pin_threads()
    task_path = Path(argv[0])
    task = json.loads(task_path.read_text())
    kind = task["kind"]
    try:
        inject_fault(task["name"])
        result = {"train": train, "verify": verify, "mcu": mcu}[kind](task)
        code = 0
    except Exception as e:
        traceback.print_exc()
        result = {"status": "failed", "error": f"{type(e).__name__}: {_first_line(e)}"}
        code = 1
    save_result(task, result)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
