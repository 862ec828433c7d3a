import numpy as np
import pytest

from edgebench.config import ModelSpec
from edgebench.measure.parity import compare, softmax_cross_entropy, tolerance_for
from edgebench.models import weights as init


def test_initial_weights_glorot_and_deterministic(tmp_path):
    net = ModelSpec(hidden=(64, 32)).network()
    w = init.initial(net, 7)
    assert [w[f"dense_{i}"]["kernel"].shape for i in range(3)] == [(784, 64), (64, 32), (32, 10)]
    for i, (fi, fo) in enumerate([(784, 64), (64, 32), (32, 10)]):
        k, b = w[f"dense_{i}"]["kernel"], w[f"dense_{i}"]["bias"]
        assert k.dtype == np.float32 and b.dtype == np.float32
        limit = np.sqrt(6 / (fi + fo))
        assert np.abs(k).max() <= limit and np.abs(k).max() > 0.9 * limit
        assert not b.any()
    again = init.initial(net, 7)
    for layer in w:
        np.testing.assert_array_equal(w[layer]["kernel"], again[layer]["kernel"])
    assert not np.array_equal(w["dense_0"]["kernel"], init.initial(net, 8)["dense_0"]["kernel"])
    init.save(w, tmp_path / "w.npz")
    back = init.load(tmp_path / "w.npz")
    for layer in w:
        for name in w[layer]:
            np.testing.assert_array_equal(w[layer][name], back[layer][name])


def test_macs():
    assert ModelSpec().network().macs_per_sample == 784 * 64 + 64 * 10


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
    assert r["tolerance"] == tolerance_for("float32").to_dict() and "784-term" in r["tolerance"]["reason"]
    assert r["max_abs_diff_bound"] == pytest.approx(3.0 * 16 * 2.0 ** -24 * 28 * 2)  # logit range 3
    assert r["within_tolerance"] is False
    ok = compare(src, src + 1e-6, labels, "float32")
    assert ok["within_tolerance"] is True and ok["top1_agreement"] == 1.0
    with pytest.raises(ValueError, match="shapes differ"):
        compare(src, src[:2], labels, "float32")


def test_tolerances_follow_the_model():
    mlp, lenet, resnet = (ModelSpec(name=m).network((28, 28)) for m in ("mlp", "lenet5", "resnet8"))
    # float32: 16 x 2^-24 x sqrt(largest fan-in) x depth; the MLP: sqrt(784) = 28, 2 layers.
    assert tolerance_for("float32", mlp).max_diff_of_range == pytest.approx(16 * 2.0 ** -24 * 28 * 2)
    # LeNet-5: 5 weighted layers, largest fan-in 400 (fc1).
    assert tolerance_for("float32", lenet).max_diff_of_range == pytest.approx(16 * 2.0 ** -24 * 20 * 5)
    assert tolerance_for("float16", lenet).max_diff_of_range == pytest.approx(2 * 2.0 ** -11 * 5)
    # Deeper models get more room, never less; the agreement bar does not move.
    for p in ("float32", "float16", "int8"):
        assert tolerance_for(p, resnet).max_diff_of_range > tolerance_for(p, lenet).max_diff_of_range \
            > tolerance_for(p, mlp).max_diff_of_range
        assert tolerance_for(p, resnet).min_agreement == tolerance_for(p, mlp).min_agreement
    src = np.random.default_rng(0).normal(0, 10, (50, 10)).astype(np.float32)
    rng = float(src.max() - src.min())
    labels = src.argmax(1)
    small = compare(src, src + 0.9 * 2 * 2.0 ** -11 * 5 * rng, labels, "float16", lenet)
    large = compare(src, src + 1.1 * 2 * 2.0 ** -11 * 5 * rng, labels, "float16", lenet)
    assert small["within_tolerance"] is True and large["within_tolerance"] is False
