"""TensorFlow Lite Micro through its Python interpreter (package tflite-micro): the runtime a
microcontroller runs, with its reference kernels and a fixed tensor arena.

TFLM's Python wrapper can segfault when the arena is too small, and reports why a model cannot
load only on the C-level stderr: every probe therefore runs in a child of its own (forked from a
single-threaded probe server, tflm_probe.py, never from the caller, which may run threads) whose
stderr is captured and whose death is just a "no".
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgebench.runtimes.base import describe_input, dequantize, input_layout, quantize, to_artifact_input

_ARENA_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")


@dataclass
class Probe:
    ok: bool
    exit_code: int
    stderr: str

    def reason(self) -> str:
        lines = [ln.strip() for ln in self.stderr.splitlines() if ln.strip() and "RecordingMicroAllocator" not in ln]
        how = "" if self.exit_code in (0, 1) else f" (the interpreter died: exit code {self.exit_code})"
        return ("; ".join(dict.fromkeys(lines))[:400] or "TFLM failed to allocate tensors") + how


def _interpreter(model: bytes, arena_size: int | None, preserve_all: bool = False):
    from tflite_micro.python.tflite_micro import runtime

    if preserve_all:  # every tensor kept after invoke (GetTensor), in an arena that holds them all
        return runtime.Interpreter.from_bytes(model, arena_size=arena_size,
                                              intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    return runtime.Interpreter.from_bytes(model, arena_size=arena_size)


class _ProbeServer:
    """The caller's end of tflm_probe.py: a single-threaded process that forks one child per
    probe. Started on first use, restarted if it dies, stopped with the caller."""

    def __init__(self):
        import subprocess
        import sys

        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   PYTHONUNBUFFERED="1")
        self.dir = tempfile.TemporaryDirectory(prefix="edgebench-tflm-")
        self.proc = subprocess.Popen([sys.executable, "-m", "edgebench.runtimes.tflm_probe"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        self.model_key: str | None = None

    def probe(self, model: bytes, arena_size: int | None, sample: np.ndarray, print_allocations: bool) -> Probe:
        import hashlib
        import json

        key = hashlib.sha256(model).hexdigest()
        model_path = os.path.join(self.dir.name, f"{key}.tflite")
        if key != self.model_key:
            with open(model_path, "wb") as f:
                f.write(model)
            self.model_key = key
        sample_path = os.path.join(self.dir.name, "sample.npy")
        np.save(sample_path, sample)
        request = {"model": model_path, "arena": arena_size, "sample": sample_path,
                   "print_allocations": print_allocations}
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except (BrokenPipeError, OSError):
            line = ""
        if not line:
            raise RuntimeError(f"the TFLite Micro probe server stopped (exit code {self.proc.poll()}); is "
                               "tflite-micro installed?")
        answer = json.loads(line)
        return Probe(answer["code"] == 0, answer["code"], answer["stderr"])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except Exception:  # noqa: BLE001
                self.proc.kill()
        self.dir.cleanup()


_SERVER: _ProbeServer | None = None


def probe(model: bytes, arena_size: int | None, sample: np.ndarray, print_allocations: bool = False) -> Probe:
    """Load, set one input, invoke, in a child of the probe server (never a fork of this process,
    which may run threads); its C-level output is captured and its death is just a "no". ok means
    all three worked."""
    global _SERVER
    if _SERVER is None or _SERVER.proc.poll() is not None:
        import atexit

        _SERVER = _ProbeServer()
        atexit.register(_SERVER.close)
    return _SERVER.probe(model, arena_size, sample, print_allocations)


def _printed_total(p: Probe) -> int | None:
    m = _ARENA_TOTAL.search(p.stderr)
    return int(m.group(1)) if m else None


def min_arena(model: bytes, sample: np.ndarray, upper: int, hint: int | None = None) -> int:
    """Smallest arena_size (bytes) with which the model loads and invokes: bisection between a
    size that fails and one that works (upper). hint (by default the total TFLM prints when run
    in the upper arena) narrows the bracket first: probe it, then step down from it until a size
    fails (usually one step)."""
    first = probe(model, upper, sample, print_allocations=hint is None)
    if not first.ok:
        raise RuntimeError(f"the model does not run even with a {upper}-byte arena")
    if hint is None:
        hint = _printed_total(first)
    lo, hi = 0, upper
    if hint is not None and 0 < hint < upper:
        if probe(model, hint, sample).ok:
            hi, step = hint, 64
            while hi - step > lo:
                if probe(model, hi - step, sample).ok:
                    hi, step = hi - step, step * 4
                else:
                    lo = hi - step
                    break
        else:
            lo = hint
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if probe(model, mid, sample).ok:
            hi = mid
        else:
            lo = mid
    return hi


def reported_arena(model: bytes, arena_size: int, sample: np.ndarray) -> int | None:
    """The allocation total TFLM's recording allocator prints after an invoke."""
    return _printed_total(probe(model, arena_size, sample, print_allocations=True))


class TFLMSession:
    name = "tflm"
    accepts_batch = False
    fixed_batch = 1

    def __init__(self, path: Path, threads: int = 1, arena_size: int | None = None) -> None:
        self.model = Path(path).read_bytes()
        self.interpreter = _interpreter(self.model, arena_size)
        self._in = self.interpreter.get_input_details(0)
        self._out = self.interpreter.get_output_details(0)
        self._shape = [int(d) for d in self._in["shape"]]
        self.layout = input_layout(self._shape)

    @staticmethod
    def version() -> str:
        from importlib.metadata import version

        return version("tflite-micro")

    @staticmethod
    def _q(details) -> tuple[float, int]:
        qp = details.get("quantization_parameters", {})
        scales, zps = qp.get("scales", []), qp.get("zero_points", [])
        return (float(scales[0]), int(zps[0])) if len(scales) else (0.0, 0)

    @property
    def io(self) -> dict:
        def desc(d):
            scale, zp = self._q(d)
            dtype = np.dtype(d["dtype"])
            return {"dtype": dtype.name, "scale": scale, "zero_point": zp, "shape": [int(s) for s in d["shape"]],
                    "bytes": int(np.prod(d["shape"])) * dtype.itemsize}

        return {"input": desc(self._in) | describe_input(self._shape, self.layout), "output": desc(self._out)}

    def prepare(self, x: np.ndarray) -> np.ndarray:
        """Images (channels-last or flat) in the model's input layout and dtype."""
        x = to_artifact_input(np.asarray(x, np.float32), self._shape, self.layout)
        return quantize(x, self._in["dtype"], *self._q(self._in))

    def batch_call(self, x: np.ndarray):
        if len(x) != 1:
            raise ValueError(f"TFLM runs batch 1, got {len(x)}")
        xq = self.prepare(x)
        it = self.interpreter

        def call():
            it.set_input(xq, 0)
            it.invoke()
            return it.get_output(0)

        return call

    def predict(self, x: np.ndarray) -> np.ndarray:
        it = self.interpreter
        xq = self.prepare(x)
        outs = []
        for i in range(len(xq)):
            it.set_input(xq[i:i + 1], 0)
            it.invoke()
            outs.append(it.get_output(0).copy())
        return dequantize(np.concatenate(outs), *self._q(self._out))

    def graph_cost(self) -> None:
        return None

    def close(self) -> None:
        self.interpreter = None

    def layer_outputs(self, x: np.ndarray, keys: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The tensors `keys` (tensor indices, as LiteRTSession.layer_tensors names them: the same
        file) after each invoke, dequantized, from an interpreter that keeps every tensor."""
        from ai_edge_litert.interpreter import Interpreter

        details = {str(t["index"]): t for t in Interpreter(model_content=self.model).get_tensor_details()}
        total = sum(int(np.prod(t["shape"])) * np.dtype(t["dtype"]).itemsize for t in details.values())
        it = _interpreter(self.model, 10 * len(self.model) + 2 * total, preserve_all=True)
        xq = self.prepare(x)
        got: dict[str, list] = {k: [] for k in keys}
        finals = []
        for i in range(len(xq)):
            it.set_input(xq[i:i + 1], 0)
            it.invoke()
            for k in keys:
                d = details[k]
                raw = np.asarray(it.GetTensor(int(k), 0)["tensor_data"]).reshape(d["shape"])
                got[k].append(dequantize(raw.astype(d["dtype"]), *d["quantization"]))
            finals.append(it.get_output(0).copy())
        out = {k: np.concatenate(v) for k, v in got.items()}
        return out, dequantize(np.concatenate(finals), *self._q(self._out))

    def layer_note(self) -> str:
        return "TFLite Micro with every tensor kept (kPreserveAllTensors)"


def _steps_apart(a: np.ndarray, b: np.ndarray, scale: float) -> dict:
    """Two runtimes' dequantized integer outputs, compared in quantization steps."""
    steps = np.rint(np.abs(a.astype(np.float64) - b) / scale)
    return {"max_diff_steps": int(steps.max()), "outputs_identical": bool(steps.max() == 0),
            "share_within_one_step": float(np.mean(steps.max(axis=1) <= 1))}


def microcontroller_check(task, ds):
    """A .tflite artifact in TensorFlow Lite Micro: does it run, in how much RAM, as accurately
    as on LiteRT (the reference runtime that verified the same file); plus its C array for
    firmware and the board-fit table. Runs in the worker: task is a MicrocontrollerTask."""
    from ai_edge_litert.interpreter import Interpreter

    from edgebench.exporters import c_array
    from edgebench.measure import boards as boards_mod
    from edgebench.measure.latency import time_calls
    from edgebench.measure.stats import summarize_ns
    from edgebench.pipeline.jobs import Outcome
    from edgebench.worker import predict_all

    path = Path(task.file)
    model = path.read_bytes()
    x_test = ds.x_test
    shape = getattr(task, "input_shape", None)
    if shape:  # channels-last images, as the network takes them
        x_test = x_test.reshape(len(x_test), *shape)
    interpreter = Interpreter(model_content=model)  # the file's declared input and output
    d = interpreter.get_input_details()[0]
    sample = quantize(to_artifact_input(np.asarray(x_test[:1], np.float32), list(d["shape"])), d["dtype"],
                      *d["quantization"])
    ops = c_array.model_ops(model)
    result: dict = {"runtime_version": TFLMSession.version(), "flash_bytes": len(model),
                    "ops": ops}
    first = probe(model, None, sample)  # TFLM's default arena: 10x the model size
    if not first.ok:
        result["error"] = f"not supported by TFLite Micro: {first.reason()}"
        return Outcome("unsupported", record=result)
    arena = _arena(model, sample, result)
    session = TFLMSession(path, arena_size=arena)  # the whole test set runs in the minimum arena
    result["io"] = session.io
    logits = predict_all(session, x_test)
    if getattr(task, "outputs_path", ""):  # kept: a runtime checked against TFLite Micro reads them
        np.save(task.outputs_path, logits)
    _agreement(result, logits, np.load(task.reference_logits), ds, interpreter.get_output_details()[0],
               getattr(task, "task", "classification"))
    if result["agreement"] < 1 or result.get("max_diff_steps", 0) > 1:
        _against_reference_kernels(result, path, x_test, logits)
    if getattr(task, "layer_samples", 0):
        result["layers"] = _layers_against_litert(session, path, x_test[:task.layer_samples])
    samples = time_calls(session.batch_call(x_test[:1]), min_iters=task.bench.min_iters,
                         min_time_s=task.bench.min_time_s / 2, warmup=10, what="TFLite Micro host latency")
    result["latency_ms"] = summarize_ns(samples)  # TFLite Micro on this machine, not on the board
    session.close()
    c_dir = Path(task.c_dir)
    info = c_array.write(model, c_dir, source_name=path.name, arena_bytes=arena, io=result["io"], ops=ops)
    info["round_trip_ok"] = c_array.read_back(c_dir) == model
    info.update(c_array.compile_check(c_dir, model))
    info["dir"] = str(c_dir.relative_to(Path(task.run_dir)))
    result["c_array"] = info
    boards = [boards_mod.Board(**b) for b in task.boards]
    result["fit"] = [boards_mod.fit(b, len(model), arena) for b in boards]
    return Outcome("ok", record=result)


def _arena(model: bytes, sample: np.ndarray, result: dict) -> int:
    """The smallest tensor arena that runs the model, and how it was found and cross-checked."""
    from edgebench.worker import emit

    emit("bench", what="arena")
    arena = min_arena(model, sample, upper=10 * len(model))
    result.update(
        ram_bytes=arena,  # the tensor arena: inputs, outputs and every intermediate tensor live in it
        arena_minus_one_fails=not probe(model, arena - 1, sample).ok,
        arena_reported_bytes=reported_arena(model, arena, sample),
        arena_method="bisection on arena_size (load + one invoke in a child forked by a single-threaded probe server), bracketed from "
                     "the total print_allocations() prints, cross-checked with that total at the minimum",
    )
    if result["arena_reported_bytes"] is not None:
        # The printed total is what stays allocated after an invoke; a larger working minimum
        # means the interpreter needed the difference transiently while preparing.
        result["arena_above_reported_bytes"] = arena - result["arena_reported_bytes"]
    return arena


def _agreement(result: dict, logits: np.ndarray, litert: np.ndarray, ds, od: dict, task_kind: str) -> None:
    """TFLite Micro's outputs against LiteRT's on the same file: accuracy, agreement, and for integer
    outputs the distance in output quantization steps."""
    pred, lpred = logits.argmax(axis=1), litert.argmax(axis=1)
    labelled = len(ds.y_test) == len(pred)  # deploy may bring test images without labels
    result.update(
        test_samples=int(len(pred)),
        test_accuracy=float(np.mean(pred == ds.y_test)) if labelled else None,
        reference_test_accuracy=float(np.mean(lpred == ds.y_test)) if labelled else None,
        agreement=float(np.mean(pred == lpred)),
        max_abs_diff=float(np.abs(logits.astype(np.float64) - litert).max()),
    )
    result["accuracy_change"] = (result["test_accuracy"] - result["reference_test_accuracy"]
                                 if labelled else None)
    scale, zero_point = od["quantization"]
    integer = np.dtype(od["dtype"]).kind in "iu" and bool(scale)
    if integer:
        # Integer outputs: how far apart the two runtimes are, in output quantization steps.
        apart = _steps_apart(logits, litert, scale)
        result.update(output_quantization={"scale": float(scale), "zero_point": int(zero_point)},
                      max_diff_steps=apart["max_diff_steps"], outputs_identical=apart["outputs_identical"],
                      share_within_one_step=apart["share_within_one_step"])
    result["task"] = task_kind
    if task_kind == "regression":
        # Values, not class scores: the top-1 "agreement" of a reconstruction means nothing; the error
        # and its distribution (in output steps where the output is integer) do.
        from edgebench.measure.parity import error_distribution

        err = np.abs(logits.astype(np.float64) - litert)
        result["error_distribution"] = error_distribution(err)
        if integer:
            result["error_steps_distribution"] = error_distribution(np.rint(err / scale))
        result["agreement_note"] = ("outputs are not class scores: the agreement with the reference runtime is "
                                    "recorded, not meaningful")


def _layers_against_litert(session: "TFLMSession", path: Path, x: np.ndarray) -> dict:
    """Every op's output in TFLite Micro against LiteRT's on the same file and inputs (the same
    tensor, by index): where the two runtimes start to differ. A failure is recorded, never fatal."""
    import traceback

    from edgebench.measure.layer_table import runtime_pair_table
    from edgebench.runtimes.litert import LiteRTSession

    try:
        return runtime_pair_table(LiteRTSession(path, threads=1), session, x, "litert")
    except Exception as e:
        traceback.print_exc()
        return {"error": f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:200]}"}


def _against_reference_kernels(result: dict, path: Path, x_test: np.ndarray, logits: np.ndarray) -> None:
    """They differ: LiteRT's optimized kernels (and XNNPACK) round otherwise than the reference
    kernels TFLite Micro's are ported from. LiteRT again, with its reference kernels, tells a
    kernel-library difference from a TFLite Micro problem."""
    from edgebench.runtimes.litert import LiteRTSession
    from edgebench.worker import predict_all

    ref = predict_all(LiteRTSession(path, threads=1, reference_kernels=True), x_test)
    q = result.get("output_quantization")
    result["reference_kernels"] = {
        "agreement": float(np.mean(ref.argmax(axis=1) == logits.argmax(axis=1))),
        "max_abs_diff": float(np.abs(logits.astype(np.float64) - ref).max()),
        **(_steps_apart(logits, ref, q["scale"]) if q else {}),
        "note": "TFLite Micro against LiteRT run with its reference kernels (OpResolverType.BUILTIN_REF), "
                "because it differed from LiteRT's default (optimized) kernels"}
