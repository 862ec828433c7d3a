"""Times are positive and right-skewed: intervals on log times (never below zero), median and range
beside them, slow repeats named, comparisons as ratios, warm-up trainings run but not counted."""

import json

import numpy as np
import pytest

from edgebench.measure.stats import center, mean_ci, ratio_ci, time_ci
from tests.unit.test_faults_cli import _run

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


def test_warmup_trainings_run_and_are_not_counted(tmp_path):
    p = _run("run", "--frameworks", "numpy", "--limit-train", "256", "--limit-test", "64", "--epochs", "2",
             "--repeats", "3", "--warmup", "1", "--no-mcu", "--formats", "none", "--threads", "1",
             "--out", str(tmp_path / "r"))
    assert p.returncode == 0, p.stderr[-1500:]
    r = json.loads((tmp_path / "r" / "results.json").read_text())
    (t,) = r["trainings"]
    assert [x["repeat"] for x in t["repeats"]] == [1, 2, 3, 4]
    assert [x["warmup"] for x in t["repeats"]] == [True, False, False, False]
    tm = t["timing"]
    assert tm["repeats_counted"] == [2, 3, 4] and tm["warmups"] == [1] and tm["train_time_s"]["n"] == 3
    assert tm["train_time_s"]["values"] == [x["train_time_s"] for x in t["repeats"][1:]]
    assert t["train_time_s"] == tm["train_time_s"]["geomean"] and tm["train_time_s"]["ci_low"] > 0
    md = (tmp_path / "r" / "report.md").read_text()
    assert "1 warm-up training per framework ran first, recorded, not counted" in md
    assert "Student t on log times" in md


def test_a_slow_repeat_is_said_in_the_report():
    from edgebench.report.markdown import render
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
    md = render(json.loads(json.dumps(r)))
    assert "TensorFlow repeat 2 took 4.78 s, 1.9x the median of the others (2.48 s): the machine was probably busy" in md
    assert "| TensorFlow | 12.50 | [1.13, 8.33] (n=3) | 2.77 (2.18-4.78) | 0.9712 |" in md


def test_a_run_records_its_timed_share(tmp_path):
    """results.json says how much of the wall time was timed work (issue 16, item 8)."""
    p = _run("run", "--frameworks", "numpy", "--limit-train", "256", "--limit-test", "64", "--epochs", "2",
             "--repeats", "2", "--warmup", "1", "--no-mcu", "--formats", "npz:float32", "--threads", "1",
             "--latency-min-time", "0.2", "--out", str(tmp_path / "r"))
    assert p.returncode == 0, p.stderr[-1500:]
    r = json.loads((tmp_path / "r" / "results.json").read_text())
    c = r["cost"]
    (t,) = r["trainings"]
    assert c["training_s"] == pytest.approx(sum(x["train_time_s"] for x in t["repeats"]))  # warm-up included
    (a,) = r["artifacts"]
    window = a["latency_ms"]["n"] * a["latency_ms"]["mean"] + (a["throughput"]["batch_latency_ms"]["n"]
                                                                * a["throughput"]["batch_latency_ms"]["mean"])
    assert c["latency_and_throughput_s"] == pytest.approx(window / 1000) and c["latency_and_throughput_s"] >= 0.2
    assert c["wall_s"] == r["wall_time_s"] and c["timed_share"] == pytest.approx(c["total_s"] / c["wall_s"])
    assert 0 < c["timed_share"] < 1 and c["wall_over_timed"] == pytest.approx(1 / c["timed_share"])
