"""Timing statistics as a real NumPy run records them: warm-up trainings, the timed share."""

import json

from tests.results_view import host

import pytest

from tests.integration.test_faults_cli import _run


def test_warmup_trainings_run_and_are_not_counted(tmp_path):
    p = _run("run", "--frameworks", "numpy", "--limit-train", "256", "--limit-test", "64", "--epochs", "2",
             "--repeats", "3", "--warmup", "1", "--no-mcu", "--formats", "none", "--threads", "1",
             "--rerun-busy", "0", "--out", str(tmp_path / "r"))
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
    (a,) = [host(x) for x in r["artifacts"]]
    window = a["latency_ms"]["n"] * a["latency_ms"]["mean"] + (a["throughput"]["batch_latency_ms"]["n"]
                                                                * a["throughput"]["batch_latency_ms"]["mean"])
    assert c["latency_and_throughput_s"] == pytest.approx(window / 1000) and c["latency_and_throughput_s"] >= 0.2
    assert c["wall_s"] == r["wall_time_s"] and c["timed_share"] == pytest.approx(c["total_s"] / c["wall_s"])
    assert 0 < c["timed_share"] < 1 and c["wall_over_timed"] == pytest.approx(1 / c["timed_share"])
