"""edgebench doctor's availability table, read in-process."""

import importlib.util

from edgebench import doctor


def test_doctor_reports_a_missing_framework(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jax" else real(name, *a))
    rows = {(r["kind"], r["name"]): r for r in doctor.availability()}
    jax = rows[("framework", "jax")]
    assert not jax["installed"] and jax["missing"] == "jax" and jax["install"] == "pip install 'edgebench[jax]'"
    assert not rows[("converter", "jax2tf")]["installed"]
    assert {k for k, _ in rows} == {"framework", "converter", "runtime", "tool"}
    assert {n for k, n in rows if k == "runtime"} == {"litert", "onnxruntime", "executorch", "tflm", "firmware", "npz"}
    assert rows[("runtime", "npz")]["installed"] and rows[("runtime", "npz")]["role"].startswith("runs .npz")
