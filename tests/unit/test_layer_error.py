"""The per-layer comparison (measure/layer_error.py) on tensors whose error is known."""

import math

import numpy as np
import pytest

from edgebench.measure.layer_error import JUMP_DB, Match, compare_layers, first_jump, tensor_error


def _quantize(x: np.ndarray, scale: float) -> np.ndarray:
    """Per-tensor symmetric int8, dequantized: what a runtime's int8 tensor means in float."""
    return np.clip(np.round(x / scale), -128, 127) * scale


def test_identical_tensors_are_exact_and_a_known_noise_gives_its_sqnr():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 8, 8, 4)).astype(np.float32)
    same = tensor_error(x, x.copy())
    assert same["sqnr_db"] == math.inf and same["cosine"] == 1.0 and same["max_relative_error"] == 0.0
    assert same["channel_sqnr_db"] == math.inf
    # Noise at a tenth of the signal's power: 10 dB.
    noise = rng.normal(size=x.shape)
    noise *= math.sqrt(np.sum(x.astype(np.float64) ** 2) / np.sum(noise ** 2) / 10.0)
    e = tensor_error(x, x + noise)
    assert e["sqnr_db"] == pytest.approx(10.0, abs=1e-6) and 0.9 < e["cosine"] < 0.96
    assert e["max_abs_error"] == pytest.approx(np.max(np.abs(noise)))
    with pytest.raises(ValueError, match="shapes differ"):
        tensor_error(x, x[:, :4])


def test_int8_error_is_counted_in_steps():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=(20, 64))
    scale = 1 / 127
    e = tensor_error(x, _quantize(x, scale), step=scale)
    # Round to nearest: never more than half a step off, and about 6 dB per bit (8 bits: ~48 dB).
    assert e["max_error_steps"] <= 0.5 + 1e-9 and e["step"] == scale and 40 < e["sqnr_db"] < 55
    assert "max_relative_error" not in e


def test_an_outlier_channel_under_per_tensor_int8_is_where_the_error_jumps():
    """The classic failure: one channel 100x larger than the others; a per-tensor scale fitted to it
    leaves the other channels a few steps, and that layer's SQNR falls by tens of dB."""
    rng = np.random.default_rng(2)
    acts = {"conv1": rng.normal(size=(32, 6, 6, 8)), "conv2": rng.normal(size=(32, 6, 6, 8)),
            "conv3": rng.normal(size=(32, 6, 6, 8))}
    acts["conv2"][..., 3] *= 100.0  # the outlier channel
    got, steps = {}, {}
    for name, a in acts.items():
        steps[f"t_{name}"] = float(np.max(np.abs(a))) / 127  # per-tensor, fitted to the largest value
        got[f"t_{name}"] = _quantize(a, steps[f"t_{name}"])
    # Downstream of the outlier the damage is already done: conv3 is computed from a bad conv2.
    got["t_conv3"] = _quantize(acts["conv3"] + (got["t_conv2"] - acts["conv2"]) * 0.5, steps["t_conv3"])
    matches = [Match(n, f"t_{n}", "name") for n in acts] + [Match("fc", None, "unmatched", why="no such tensor")]
    rows = compare_layers(acts, got, matches, steps)
    by = {r["layer"]: r for r in rows}
    assert [r["first_jump"] for r in rows] == [False, True, False, False]
    assert by["conv1"]["channel_sqnr_db"] - by["conv2"]["channel_sqnr_db"] >= JUMP_DB
    # The whole-tensor SQNR barely sees it (the outlier channel dominates both sums): why the rule
    # uses the median channel.
    assert by["conv2"]["sqnr_db"] > by["conv2"]["channel_sqnr_db"] + JUMP_DB
    # Each layer is still within half a step of its own quantization: the step is what is wrong.
    assert by["conv2"]["max_error_steps"] <= 0.5 + 1e-9
    assert by["fc"]["matched_by"] == "unmatched" and by["fc"]["why"] == "no such tensor" and "sqnr_db" not in by["fc"]


def test_first_jump_rule():
    assert first_jump([40.0, 38.0, 37.5]) is None
    assert first_jump([40.0, 25.0, 24.0]) == 1
    assert first_jump([12.0, 40.0, 41.0]) == 0  # the first layer against the median
    assert first_jump([math.inf, math.inf, 30.0]) == 2  # exact, then not: a jump
    assert first_jump([]) is None and first_jump([float("nan"), 40.0]) is None
