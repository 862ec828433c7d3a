import numpy as np
import pytest

from edgebench.config import ModelSpec
from edgebench.measure.parity import TOLERANCES, compare
from edgebench.model import initial_weights, load_weights, macs, save_weights, softmax_cross_entropy


def test_initial_weights_glorot_and_deterministic(tmp_path):
    spec = ModelSpec(hidden=(64, 32))
    w = initial_weights(spec, 7)
    assert [k.shape for k, _ in w] == [(784, 64), (64, 32), (32, 10)]
    for (k, b), (fi, fo) in zip(w, spec.layer_sizes):
        assert k.dtype == np.float32 and b.dtype == np.float32
        limit = np.sqrt(6 / (fi + fo))
        assert np.abs(k).max() <= limit and np.abs(k).max() > 0.9 * limit
        assert not b.any()
    for (k1, _), (k2, _) in zip(w, initial_weights(spec, 7)):
        np.testing.assert_array_equal(k1, k2)
    assert not np.array_equal(w[0][0], initial_weights(spec, 8)[0][0])
    save_weights(w, tmp_path / "w.npz")
    for (k1, b1), (k2, b2) in zip(w, load_weights(tmp_path / "w.npz")):
        np.testing.assert_array_equal(k1, k2)
        np.testing.assert_array_equal(b1, b2)


def test_macs():
    assert macs(ModelSpec()) == 784 * 64 + 64 * 10


def test_cross_entropy_matches_definition():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 0.0, 1000.0]], np.float32)
    labels = np.array([0, 2])
    p0 = np.exp(2) / (np.exp(2) + np.exp(1) + 1)
    assert softmax_cross_entropy(logits, labels) == pytest.approx(-np.log(p0) / 2, rel=1e-9)


def test_compare_reports_figures():
    src = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.49], [3.0, 0.0]], np.float32)
    art = src.copy()
    art[2] = [0.49, 0.5]  # a near-tie flips
    labels = np.array([0, 1, 0, 1])
    r = compare(src, art, labels, "float32")
    assert r["top1_agreement"] == 0.75 and r["disagreements"] == 1
    assert r["source_test_accuracy"] == 0.75 and r["test_accuracy"] == 0.5
    assert r["accuracy_change"] == pytest.approx(-0.25)
    assert r["max_abs_diff"] == pytest.approx(0.01, abs=1e-6)
    assert r["tolerance"] == TOLERANCES["float32"].to_dict() and r["tolerance"]["reason"]
    assert r["within_tolerance"] is False
    ok = compare(src, src + 1e-6, labels, "float32")
    assert ok["within_tolerance"] is True and ok["top1_agreement"] == 1.0
    with pytest.raises(ValueError, match="shapes differ"):
        compare(src, src[:2], labels, "float32")
