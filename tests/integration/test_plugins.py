"""A new exporter and a new runtime, added through the registries alone: one module of their own
and its registry lines (here from outside the package, through an `edgebench.plugins` entry
point), no other file edited. `edgebench doctor`, `edgebench run` and the report pick them up."""

import json
import subprocess
import sys

from tests.plugin_site import install
from tests.results_view import host

PLUGIN = '''
"""A packed-float format: every weight in one float32 vector, shapes in a small int header."""
from pathlib import Path

import numpy as np

from edgebench.registry import Exporter, Runtime, register


def export_packed(model, path, ctx):
    flat, shapes = [], []
    for layer in model.weights.values():  # a dense network: {"dense_0": {"kernel", "bias"}, ...}
        for a in (layer["kernel"], layer["bias"]):
            shapes += [a.ndim, *a.shape]
            flat.append(a.ravel())
    with open(path, "wb") as f:
        np.save(f, np.asarray([len(shapes), *shapes], np.int64), allow_pickle=False)
        np.save(f, np.concatenate(flat).astype(np.float32), allow_pickle=False)


class PackedSession:
    name = "packed"
    accepts_batch = True
    fixed_batch = None
    io = {"input": {"dtype": "float32"}, "output": {"dtype": "float32"}}

    def __init__(self, path, threads=1):
        with open(path, "rb") as f:
            head = np.load(f, allow_pickle=False)
            flat = np.load(f, allow_pickle=False)
        dims, arrays, at, i = list(head[1:]), [], 0, 0
        while i < len(dims):
            nd = int(dims[i]); shape = tuple(int(d) for d in dims[i + 1:i + 1 + nd]); i += 1 + nd
            size = int(np.prod(shape)); arrays.append(flat[at:at + size].reshape(shape)); at += size
        self.layers = list(zip(arrays[::2], arrays[1::2]))

    @staticmethod
    def version():
        return "0.1"

    def predict(self, x):
        h = x.astype(np.float32)
        for i, (k, b) in enumerate(self.layers):
            h = h @ k + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0)
        return h

    def batch_call(self, x):
        return lambda: self.predict(x)

    def graph_cost(self):
        return {"parameters": sum(k.size + b.size for k, b in self.layers),
                "macs_per_sample": sum(k.size for k, _ in self.layers), "dense_layers": len(self.layers)}

    def close(self):
        self.layers = None


register(Runtime("packed", "edgebench_packed:PackedSession", ("numpy",), "", title="Packed floats",
                 role="runs .packed", formats=("packed",)))
register(Exporter("numpy:packed:float32", "edgebench_packed:export_packed", ("numpy",), "", source="numpy",
                  format="packed", precision="float32", runtime="packed", filename="model.packed",
                  converter="packed writer"))
'''


def _edgebench(env, *args):
    return subprocess.run([sys.executable, "-m", "edgebench", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_a_plugin_exporter_and_runtime_reach_doctor_run_and_report(tmp_path):
    env = install(tmp_path / "site", "edgebench_packed", PLUGIN)
    p = _edgebench(env, "doctor")
    assert p.returncode == 0, p.stderr
    assert "packed writer" in p.stdout and "runs .packed" in p.stdout
    out = tmp_path / "run"
    p = _edgebench(env, "run", "--frameworks", "numpy", "--formats", "packed,npz:float32", "--limit-train", "640",
                   "--limit-test", "100", "--epochs", "1", "--repeats", "1", "--warmup", "0", "--latency-min-time", "0.01",
                   "--out", str(out))
    assert p.returncode == 0, p.stderr[-2000:]
    r = json.loads((out / "results.json").read_text())
    arts = {(a["format"], a["precision"]): a for a in r["artifacts"]}
    assert set(arts) == {("packed", "float32"), ("npz", "float32")}
    packed = arts[("packed", "float32")]
    res = host(packed)
    assert packed["status"] == "ok" and packed["runtime"] == "packed" and res["runtime_version"] == "0.1"
    assert res["agreement"] == 1.0 and res["within_tolerance"] is True
    assert packed["graph"]["parameters"] == r["model"]["parameter_count"]
    assert "packed float32" in (out / "report.md").read_text()
    # Unknown without the plugin: the same selector is refused before anything runs.
    p = _edgebench({k: v for k, v in env.items() if k != "PYTHONPATH"}, "run", "--formats", "packed",
                   "--out", str(tmp_path / "other"))
    assert p.returncode == 2 and "unknown format 'packed'" in p.stderr
