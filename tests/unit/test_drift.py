import numpy as np
import pytest

from edgebench.config import ModelSpec
from edgebench.measure.drift import forward, twin_drift
from edgebench.models import weights as init

NET = ModelSpec(input_size=5, hidden=(4,), num_classes=3).network()


def _shifted(w, delta):
    return {layer: {k: (a + delta if k == "kernel" else a) for k, a in arrays.items()} for layer, arrays in w.items()}


def test_forward_matches_definition():
    w = init.initial(NET, 0)
    x = np.random.default_rng(0).random((7, 5), dtype=np.float32)
    d0, d1 = w["dense_0"], w["dense_1"]
    expected = np.maximum(x @ d0["kernel"] + d0["bias"], 0) @ d1["kernel"] + d1["bias"]
    np.testing.assert_allclose(forward(NET, w, x), expected, rtol=1e-6)


def test_twin_drift_figures(tmp_path):
    start = init.initial(NET, 0)
    (tmp_path / "inputs").mkdir()
    init.save(start, tmp_path / "inputs" / "initial_weights.npz")
    x = np.random.default_rng(1).random((20, 5), dtype=np.float32)
    finals = {}
    for fw, delta in (("a", 0.0), ("b", 1e-3)):
        (tmp_path / fw / "snapshots").mkdir(parents=True)
        for step in (1, 10):
            init.save(_shifted(start, delta * step / 10), tmp_path / fw / "snapshots" / f"step_{step}.npz")
        finals[fw] = _shifted(start, delta)
        init.save(finals[fw], tmp_path / fw / "final_weights.npz")
        np.save(tmp_path / fw / "test_logits.npy", forward(NET, finals[fw], x).astype(np.float32))
    d = twin_drift(tmp_path, NET, ["a", "b"], [1, 10, 100], total_steps=50, x_test=x)
    assert d["steps"] == [1, 10, 50]
    (pair,) = d["pairs"]
    pts = pair["points"]
    assert [p["at"] for p in pts] == ["step 1", "step 10", "end"]
    assert [p["max_abs_weight_diff"] for p in pts] == pytest.approx([1e-4, 1e-3, 1e-3], abs=1e-7)
    assert pts[0]["weights_within_1e-5"] == 7 / 39  # only the 32 kernel weights moved, not the 7 biases
    expected = np.abs(forward(NET, finals["a"], x) - forward(NET, finals["b"], x)).max()
    assert pts[-1]["max_abs_logit_diff"] == pytest.approx(expected)
    saved = np.abs(np.load(tmp_path / "a" / "test_logits.npy") - np.load(tmp_path / "b" / "test_logits.npy")).max()
    assert pair["end_framework_logits_max_abs_diff"] == pytest.approx(saved) and saved > 0
