"""A second microcontroller runtime, added from outside the package through an `edgebench.plugins`
entry point: its results sit beside TFLite Micro's for the same .tflite, under the same neutral
names, in results.json, artifacts.csv, report.md and report.html. Nothing in edgebench names it."""

import csv
import json
import subprocess
import sys

import pytest

from tests.conftest import needs_tf, needs_tflm
from tests.plugin_site import install

pytestmark = [pytest.mark.framework, needs_tf, needs_tflm]

PLUGIN = '''
"""A pretend microcontroller runtime: the .tflite in LiteRT's reference kernels, its RAM taken as
the sum of every tensor, weights included (no memory planning), its flash as the file."""
from pathlib import Path

import numpy as np

from edgebench.registry import MICROCONTROLLER, Runtime, register


def check(task, ds):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from edgebench.measure.boards import Board, fit
    from edgebench.pipeline.jobs import Outcome
    from edgebench.runtimes.tflm import dequantize, quantize, to_artifact_input

    path = Path(task.file)
    it = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    d, o = it.get_input_details()[0], it.get_output_details()[0]
    outs = []
    for x in ds.x_test:
        xq = quantize(to_artifact_input(np.asarray(x[None], np.float32), list(d["shape"])), d["dtype"],
                      *d["quantization"])
        it.set_tensor(d["index"], xq)
        it.invoke()
        outs.append(dequantize(it.get_tensor(o["index"]).copy(), *o["quantization"]))
    logits = np.concatenate(outs)
    ref = np.load(task.reference_logits)
    ram = sum(int(np.prod(t["shape"])) * np.dtype(t["dtype"]).itemsize for t in it.get_tensor_details())
    flash = path.stat().st_size
    labelled = len(ds.y_test) == len(logits)
    acc = float(np.mean(logits.argmax(1) == ds.y_test)) if labelled else None
    ref_acc = float(np.mean(ref.argmax(1) == ds.y_test)) if labelled else None
    return Outcome("ok", record={
        "runtime_version": "0.1", "test_samples": int(len(logits)), "test_accuracy": acc,
        "reference_test_accuracy": ref_acc, "accuracy_change": None if acc is None else acc - ref_acc,
        "agreement": float(np.mean(logits.argmax(1) == ref.argmax(1))),
        "max_abs_diff": float(np.abs(logits.astype(np.float64) - ref).max()),
        "ram_bytes": ram, "flash_bytes": flash, "task": task.task,
        "fit": [fit(Board(**b), flash, ram) for b in task.boards],
        "ram_method": "sum of every tensor's bytes, weights included, no reuse: an upper bound"})


register(Runtime("mcusim", "edgebench_mcusim:check", ("ai_edge_litert",), "", title="MCU simulator",
                 role="a pretend microcontroller runtime", formats=("tflite",),
                 capabilities=frozenset({MICROCONTROLLER}), check="edgebench_mcusim:check",
                 reference_runtime="litert"))
'''


def test_a_second_microcontroller_runtime_sits_beside_tflm(tmp_path):
    env = install(tmp_path / "site", "edgebench_mcusim", PLUGIN)
    out = tmp_path / "run"
    p = subprocess.run([sys.executable, "-m", "edgebench", "run", "--frameworks", "tensorflow", "--formats",
                        "tflite:int8", "--limit-train", "640", "--limit-test", "100", "--epochs", "1", "--repeats",
                        "1", "--warmup", "0", "--latency-min-time", "0.05", "--out", str(out)],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads((out / "results.json").read_text())
    assert r["schema_version"] == 2
    (art,) = r["artifacts"]
    by = {x["runtime"]: x for x in art["results"]}
    assert set(by) == {"litert", "tflm", "firmware", "mcusim"}  # firmware: the built-in generated C
    assert by["litert"]["role"] == "host" and by["litert"]["reference"] == "source"
    for name in ("tflm", "mcusim"):
        res = by[name]
        assert res["role"] == "microcontroller" and res["reference"] == "litert" and res["status"] == "ok", res
        assert res["test_samples"] == 100 and 0.9 <= res["agreement"] <= 1.0
        assert res["flash_bytes"] == art["size_bytes"] and res["ram_bytes"] > 0
        assert [f["board"] for f in res["fit"]] == [b["name"] for b in r["boards"]]
    # What only one runtime measures stays its own, under `details`.
    assert "ram_method" in by["mcusim"]["details"] and "arena_method" in by["tflm"]["details"]
    # The plug-in's sum of all tensors can only be above TFLM's planned arena (tensors share memory there).
    assert by["mcusim"]["ram_bytes"] >= by["tflm"]["ram_bytes"]

    with open(out / "artifacts.csv") as f:
        (row,) = list(csv.DictReader(f))
    # artifacts.csv keeps its column names: every microcontroller runtime x has x_status, x_accuracy and
    # x_arena_bytes (the RAM it sets aside, its ram_bytes), as TFLite Micro's tflm_* columns always were.
    for name in ("tflm", "mcusim"):
        assert row[f"{name}_status"] == "ok"
        assert int(row[f"{name}_arena_bytes"]) == by[name]["ram_bytes"]
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    for text in (md, html):
        assert "MCU simulator" in text and "TFLite Micro" in text
        assert f"{by['mcusim']['ram_bytes']:,}" in text or str(by["mcusim"]["ram_bytes"]) in text
