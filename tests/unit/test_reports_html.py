"""Plots, report.html, CSV and compare, from a results dict alone (no framework needed)."""

import csv
import json

import numpy as np
import pytest

from edgebench.measure.stats import mean_ci
from edgebench.report import write_reports
from edgebench.report.compare import compare, render as render_compare
from tests.unit.test_report import _results, typed


def _full(tmp_path):
    r = _results()
    r["trainings"][0].update(mode="eager", confusion_matrix=np.eye(10, dtype=int).tolist(),
                             timing={"train_time_s": mean_ci([12.0, 12.5, 13.0]), "first_epoch_s": mean_ci([7, 7.1]),
                                     "steady_epoch_s": mean_ci([5, 5.2]), "first_epoch_excess_s": mean_ci([2, 1.9]),
                                     "efficiency": {"gflops": 2.0, "fraction_of_peak": 0.02, "overhead_per_step_us": 5000},
                                     "peak_rss_bytes": 2**30, "repeats_counted": [1, 2, 3], "stability": {"unstable": False},
                                     "test_accuracy": {"mean": 0.97123, "min": 0.97123, "max": 0.97123, "identical": True}},
                             repeats=[{"repeat": i, "status": "ok", "train_time_s": v}
                                      for i, v in enumerate((12.0, 12.5, 13.0), start=1)])
    r["config"]["modes"] = ["eager"]
    r["config"]["repeats"] = 3
    r["speed_limit"] = {"gemm_peak": {"gflops": 100.0, "threads": 2, "method": "m", "blas": []},
                        "train_flops_per_sample": {"total": 204544, "forward": 101632, "weight_grad": 101632,
                                                   "input_grad": 1280},
                        "train_flops_per_epoch": 204544 * 60000, "steps_per_epoch": 938}
    (tmp_path / "latency").mkdir(exist_ok=True)
    np.save(tmp_path / "latency" / "l.npy", np.random.default_rng(0).integers(3000, 9000, 500))
    r["artifacts"][0]["latency_raw"] = "latency/l.npy"
    r["artifacts"][0]["microcontroller"] = {
        "status": "ok", "test_accuracy": 0.9712, "accuracy_change_vs_litert": 0.0, "agreement_with_litert": 1.0,
        "arena_bytes": 4552, "arena_minus_one_fails": True, "arena_reported_bytes": 4552, "flash_bytes": 205036,
        "io": {"input": {"bytes": 3136}, "output": {"bytes": 40}},
        "c_array": {"source_bytes": 1264572, "compiles": True, "bytes_match": True, "dir": "tensorflow/mcu/model"},
        "fit": [{"board": "tiny", "fits": True, "flash_headroom_kb": 50.0, "ram_headroom_kb": 27.6}]}
    r["boards"] = [{"name": "tiny", "flash_kb": 256, "ram_kb": 32, "source": "test"}]
    return r


def test_plots_html_and_csv(tmp_path):
    r = _full(tmp_path)
    plots = write_reports(typed(r), tmp_path)
    assert set(plots) == {"training_curves", "training_times", "size_vs_accuracy", "latency", "confusion"}
    for rel in plots.values():
        assert (tmp_path / rel).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "report.md").read_text()
    assert "![Training loss and accuracy per epoch](plots/training_curves.png)" in md
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(plots) and 'src="plots/' not in html
    for heading in ("Table 1: training", "How fast, and how sure", "Deployment matrix", "On a microcontroller",
                    "How this was measured"):
        assert heading in html
    assert "Fastest to train" in html and "Smallest artifact within tolerance" in html
    assert "Best fit for the smallest board (tiny)" in html
    rows = list(csv.DictReader(open(tmp_path / "trainings.csv")))
    assert rows[0]["framework"] == "tensorflow" and float(rows[0]["train_time_s"]) == 12.5 and rows[0]["repeats"] == "3"
    arts = list(csv.DictReader(open(tmp_path / "artifacts.csv")))
    assert arts[0]["size_bytes"] == "205036" and arts[0]["tflm_arena_bytes"] == "4552"


def test_compare_two_runs(tmp_path):
    a, b = _full(tmp_path), _full(tmp_path)
    b["trainings"][0]["repeats"] = [{"repeat": i, "status": "ok", "train_time_s": v}
                                    for i, v in enumerate((15.0, 15.5, 16.0), start=1)]
    b["trainings"][0]["train_time_s"] = 15.5
    b["artifacts"][0]["size_bytes"] = 100000
    slower = tmp_path / "b"
    (slower / "latency").mkdir(parents=True)
    np.save(slower / "latency" / "l.npy", np.load(tmp_path / "latency" / "l.npy") + 2000)  # every call 2 us slower
    a, b = typed(a), typed(b)
    c = compare(a, b, tmp_path, slower)
    (t,) = c["trainings"]
    # B/A as a ratio of geometric means, its interval from Welch t on log times (issue 16), a verdict (19).
    gm = lambda xs: float(np.exp(np.mean(np.log(xs))))  # noqa: E731
    tt = t["train_time_s"]
    assert tt["ratio"] == pytest.approx(gm([15.0, 15.5, 16.0]) / gm([12.0, 12.5, 13.0]))
    assert 1 < tt["ci_low"] < tt["ratio"] < tt["ci_high"] and tt["verdict"] == "slower"
    (art,) = c["artifacts"]
    assert art["size_bytes"]["a"] == 205036 and art["size_bytes"]["b"] == 100000
    assert art["size_bytes"]["verdict"] == "smaller"
    lat = art["p50_latency"]
    assert lat["verdict"] == "slower" and lat["ci_low"] > 1 and lat["p_value_mann_whitney"] < 1e-6
    same = compare(a, a, tmp_path, tmp_path)["artifacts"][0]["p50_latency"]
    assert same["ratio"] == 1.0 and same["verdict"] == "same"
    text = render_compare(c, a)
    assert "| TensorFlow | 12.49 -> 15.49 | 1.240 [" in text and "] slower |" in text
    assert "0.488 smaller" in text
    json.dumps(c)  # plain data


def test_the_per_epoch_history_is_compact_with_epochs_as_columns(tmp_path):
    """A row per framework and figure, a column per epoch; beyond 8 epochs the first and last four."""
    from edgebench.report.view import build

    r = _full(tmp_path)
    t = r["trainings"][0]
    t["epochs"] = [{"epoch": e, "loss": 1 / e, "accuracy": 0.9, "time_s": 1.0} for e in range(1, 13)]
    v = build(typed(r))
    assert v.history_header == ["Framework", "Figure", "Epoch 1", "2", "3", "4", "…", "9", "10", "11", "12"]
    assert len(v.history) == 3 and all(len(row) == len(v.history_header) for row in v.history)
    t["epochs"] = t["epochs"][:5]
    v = build(typed(r))
    assert v.history_header == ["Framework", "Figure", "Epoch 1", "2", "3", "4", "5"] and len(v.history) == 3


def test_every_microcontroller_runtime_gets_its_own_section_and_columns(tmp_path):
    """A second microcontroller runtime ran the same artifact (one that is not registered here: shown
    by its name): report.md has a section for each, artifacts.csv a column group for each, named
    after the runtime, and the terminal summary and report.html's cards a line and a card for each."""
    from edgebench.report.view import build
    from edgebench.results.schema import RuntimeResult

    r = typed(_full(tmp_path))
    (a,) = r.artifacts
    a.put(RuntimeResult(runtime="mcusim", role="microcontroller", status="ok", reference="litert", test_accuracy=0.9701,
                        accuracy_change=-0.0011, agreement=0.998, ram_bytes=3900, flash_bytes=205036,
                        io={"input": {"bytes": 3136}, "output": {"bytes": 40}},
                        fit=[{"board": "tiny", "fits": True, "flash_headroom_kb": 50.0, "ram_headroom_kb": 28.2}]))
    write_reports(r, tmp_path, figures=False)
    md = (tmp_path / "report.md").read_text()
    assert md.index("## On a microcontroller: TFLite Micro") < md.index("## On a microcontroller: mcusim")
    assert ("| TensorFlow -> tflite float32 | ok | 0.9712 (+0.00) | 100.00% | 4,552 | 4,552 | 3,136 / 40 "
            "| 205,036 (C source 1265 KB, compiles, bytes match) |") in md
    # What only TFLite Micro records (the arena it reports itself, the C arrays) stays in its section.
    assert ("| TensorFlow -> tflite float32 | ok | 0.9701 (-0.11) | 99.80% | 3,900 (**minimum not confirmed**) "
            "| 3,136 / 40 | 205,036 |") in md
    assert md.count("RAM reported by") == 1 and md.count("C arrays (") == 1 and md.count("### Does it fit?") == 2
    assert "| TensorFlow -> tflite float32 | fits (+50 / +28.2) |" in md
    header = (tmp_path / "artifacts.csv").read_text().splitlines()[0].split(",")
    assert header[-7:] == ["tflm_status", "tflm_accuracy", "tflm_arena_bytes", "mcusim_status", "mcusim_accuracy",
                           "mcusim_arena_bytes", "error"]
    (row,) = csv.DictReader(open(tmp_path / "artifacts.csv"))
    assert (row["tflm_arena_bytes"], row["mcusim_arena_bytes"], row["mcusim_accuracy"]) == ("4552", "3900", "0.9701")
    v = build(r)
    assert [line.split(":")[0] for line in v.microcontroller_best] == ["TFLite Micro", "mcusim"]
    assert "mcusim: TensorFlow -> tflite float32 runs in 3,900 bytes of RAM" in v.microcontroller_best[1]
    assert [c.detail.split(" accuracy")[0] for c in v.cards if c.title.startswith("Best fit")] == ["TFLite Micro",
                                                                                                   "mcusim"]
