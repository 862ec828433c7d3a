import numpy as np
import pytest
from scipy import stats

from edgebench.config import ModelSpec
from edgebench.measure.speed import efficiency, gemm_peak, train_flops_per_sample
from edgebench.measure.stats import diff_ci, mean_ci, summarize_ns


def test_summarize_ns_in_ms():
    s = summarize_ns([1_000_000, 2_000_000, 3_000_000, 4_000_000])
    assert s["n"] == 4 and s["mean"] == 2.5 and s["p50"] == 2.5 and s["min"] == 1.0 and s["max"] == 4.0
    assert s["std"] == pytest.approx(np.std([1, 2, 3, 4], ddof=1))


def test_mean_ci_matches_student_t():
    x = [10.0, 12.0, 11.0, 13.0]
    s = mean_ci(x)
    half = stats.t.ppf(0.975, 3) * np.std(x, ddof=1) / 2
    assert s["mean"] == 11.5 and s["ci_low"] == pytest.approx(11.5 - half) and s["ci_high"] == pytest.approx(11.5 + half)
    one = mean_ci([5.0])
    assert one["n"] == 1 and one["ci_low"] is None and one["std"] is None


def test_diff_ci_is_welch():
    a, b = [10.0, 11.0, 12.0], [5.0, 5.5, 7.0, 6.0]
    d = diff_ci(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert d["p_value"] == pytest.approx(ref.pvalue)
    assert d["diff"] == pytest.approx(np.mean(a) - np.mean(b)) and d["significant"]
    # Welch's interval by hand: standard error of the difference, Welch-Satterthwaite degrees of freedom.
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = stats.t.ppf(0.975, dof) * np.sqrt(va + vb)
    assert d["ci_low"] == pytest.approx(d["diff"] - half) and d["ci_high"] == pytest.approx(d["diff"] + half)
    same = diff_ci([1.0, 2.0, 3.0], [1.1, 2.1, 2.9])
    assert not same["significant"] and same["ci_low"] < 0 < same["ci_high"]
    assert diff_ci([1.0], [2.0])["ci_low"] is None


def test_training_flops_of_the_lab_network():
    f = train_flops_per_sample(ModelSpec().network())
    assert f["forward"] == 2 * (784 * 64 + 64 * 10)
    assert f["weight_grad"] == f["forward"] and f["input_grad"] == 2 * 64 * 10
    assert f["total"] == 204544


def test_efficiency_and_gemm_peak():
    e = efficiency(flops_per_epoch=10e9, steps_per_epoch=100, epoch_time_s=1.0, peak_gflops=50.0)
    assert e["gflops"] == 10.0 and e["fraction_of_peak"] == pytest.approx(0.2)
    assert e["flop_bound_epoch_s"] == pytest.approx(0.2) and e["overhead_per_step_us"] == pytest.approx(8000)
    p = gemm_peak(1, n=256, min_time_s=0.05)
    assert p["gflops"] > 0.5 and p["gflops"] >= p["gflops_median"] and p["threads"] == 1


def test_step_gemm_time_times_the_steps_own_shapes():
    from edgebench.measure.speed import step_gemm_time

    s = step_gemm_time(ModelSpec(784, (64,), 10).network(), batch=64, threads=1, min_time_s=0.05)
    # forward and weight gradient of both layers, input gradient of the second only
    assert "5 matrix multiplies" in s["method"] and s["calls"] >= 20
    flops = 2 * 64 * (784 * 64 * 2 + 64 * 10 * 3)
    assert s["gflops"] == pytest.approx(flops / s["step_s"] / 1e9)
    assert 0 < s["step_s"] <= s["step_s_median"]
