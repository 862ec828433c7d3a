import numpy as np
import pytest

from edgebench.config import ModelSpec
from edgebench.measure.drift import forward, twin_drift
from edgebench.model import initial_weights, save_weights


def test_forward_matches_definition():
    spec = ModelSpec(input_size=5, hidden=(4,), num_classes=3)
    w = initial_weights(spec, 0)
    x = np.random.default_rng(0).random((7, 5), dtype=np.float32)
    expected = np.maximum(x @ w[0][0] + w[0][1], 0) @ w[1][0] + w[1][1]
    np.testing.assert_allclose(forward(w, x), expected, rtol=1e-6)


def test_twin_drift_figures(tmp_path):
    spec = ModelSpec(input_size=5, hidden=(4,), num_classes=3)
    init = initial_weights(spec, 0)
    (tmp_path / "inputs").mkdir()
    save_weights(init, tmp_path / "inputs" / "initial_weights.npz")
    x = np.random.default_rng(1).random((20, 5), dtype=np.float32)
    for fw, delta in (("a", 0.0), ("b", 1e-3)):
        (tmp_path / fw / "snapshots").mkdir(parents=True)
        for step in (1, 10):
            save_weights([(k + delta * step / 10, b) for k, b in init], tmp_path / fw / "snapshots" / f"step_{step}.npz")
        final = [(k + delta, b) for k, b in init]
        save_weights(final, tmp_path / fw / "final_weights.npz")
        np.save(tmp_path / fw / "test_logits.npy", forward(final, x).astype(np.float32))
    d = twin_drift(tmp_path, ["a", "b"], [1, 10, 100], total_steps=50, x_test=x)
    assert d["steps"] == [1, 10, 50]
    (pair,) = d["pairs"]
    pts = pair["points"]
    assert [p["at"] for p in pts] == ["step 1", "step 10", "end"]
    assert [p["max_abs_weight_diff"] for p in pts] == pytest.approx([1e-4, 1e-3, 1e-3], abs=1e-7)
    assert pts[0]["weights_within_1e-5"] == 7 / 39  # only the 32 kernel weights moved, not the 7 biases
    assert pts[-1]["max_abs_logit_diff"] > 0 and pair["end_framework_logits_max_abs_diff"] > 0
