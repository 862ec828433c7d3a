"""Times are positive and right-skewed: intervals on log times (never below zero), median and range
beside them, slow repeats named, comparisons as ratios. Warm-up trainings in a real run:
tests/integration/test_time_stats_runs.py."""

import json

import numpy as np
import pytest

from edgebench.measure.stats import center, mean_ci, ratio_ci, time_ci

SEEN = [4.78, 2.18, 2.77]  # the first make run after installing: a busy machine in repeat 1


def test_the_interval_of_a_skewed_time_stays_positive():
    assert mean_ci(SEEN)["ci_low"] < 0  # what the report used to print: [-0.14, 6.62]
    s = time_ci(SEEN)
    gm = float(np.exp(np.mean(np.log(SEEN))))
    assert s["geomean"] == pytest.approx(gm) and center(s) == s["geomean"]
    assert 0 < s["ci_low"] < gm < s["ci_high"]
    assert s["ci_high"] / gm == pytest.approx(gm / s["ci_low"])  # symmetric on the log scale
    assert (s["median"], s["min"], s["max"]) == (2.77, 2.18, 4.78)


def test_a_slow_repeat_is_named():
    (o,) = time_ci(SEEN)["outliers"]
    assert o["index"] == 0 and o["value"] == 4.78 and o["ratio"] == pytest.approx(4.78 / np.median([2.18, 2.77]))
    assert time_ci([2.2, 2.3, 2.25])["outliers"] == []


def test_comparisons_are_ratios_with_their_interval():
    a, b = [12.0, 12.5, 13.0], [6.0, 6.2, 6.1]
    c = ratio_ci(a, b)
    assert c["ratio"] == pytest.approx(np.exp(np.mean(np.log(a)) - np.mean(np.log(b))))
    assert c["significant"] and 1 < c["ci_low"] < c["ratio"] < c["ci_high"]
    same = ratio_ci([2.0, 2.1, 1.9], [2.05, 1.95, 2.0])
    assert not same["significant"] and same["ci_low"] < 1 < same["ci_high"]


def test_a_slow_repeat_is_said_in_the_report():
    from edgebench.report.markdown import render
    from tests.unit.test_report import typed
    from tests.unit.test_report import _results

    r = _results()
    r["config"].update(repeats=3, warmup=1)
    r["speed_limit"] = {"gemm_peak": {"gflops": 100.0, "threads": 2, "method": "m", "blas": []},
                        "train_flops_per_sample": {"total": 204544, "forward": 101632, "weight_grad": 101632,
                                                   "input_grad": 1280},
                        "train_flops_per_epoch": 204544 * 60000, "steps_per_epoch": 938}
    t = r["trainings"][0]
    tt = time_ci(SEEN)
    t["timing"] = {"train_time_s": tt, "first_epoch_s": time_ci([2.66, 0.6, 0.6]), "steady_epoch_s": time_ci(SEEN),
                   "efficiency": {"gflops": 6.1, "fraction_of_peak": 0.061, "overhead_per_step_us": 2000.0},
                   "peak_rss_bytes": 2**30, "test_accuracy": {"mean": 0.97, "min": 0.97, "max": 0.97, "identical": True},
                   "slow_repeats": [{**tt["outliers"][0], "repeat": 2}]}
    md = render(typed(r))
    assert "TensorFlow repeat 2 took 4.78 s, 1.9x the median of the others (2.48 s): the machine was probably busy" in md
    assert "| TensorFlow | 12.50 | [1.13, 8.33] (n=3) | 2.77 (2.18-4.78) | 0.9712 |" in md
