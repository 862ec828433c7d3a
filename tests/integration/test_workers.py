"""Long-lived workers on the NumPy backend: one worker per framework and per runtime, warm-ups in the
worker that is then timed, a worker killed mid-repeat costs that repeat only, and
--fresh-process-per-repeat keeps one process per task."""

import functools
import json
import subprocess
import sys

import numpy as np
import pytest

from edgebench import pipeline
from edgebench.config import RunConfig
from edgebench.report import write_reports


@pytest.fixture(autouse=True)
def quick_speed_limit(monkeypatch):
    from edgebench.measure import speed

    monkeypatch.setattr(speed, "gemm_peak", functools.partial(speed.gemm_peak, n=256, min_time_s=0.05))
    monkeypatch.setattr(speed, "step_gemm_time", functools.partial(speed.step_gemm_time, min_time_s=0.05))


def _cfg(out, **kw) -> RunConfig:
    base = dict(frameworks=("numpy",), limit_train=640, limit_test=100, epochs=2, repeats=3, warmup=1, threads=1,
                latency_min_iters=20, latency_min_time_s=0.01, rerun_busy=0, out=out)
    return RunConfig(**{**base, **kw})


def _run(cfg) -> dict:
    return pipeline.Run(cfg, writer=write_reports).execute().model_dump(mode="json")


def test_one_worker_runs_every_training_and_one_every_artifact_of_its_runtime(tmp_path):
    r = _run(_cfg(tmp_path / "run"))
    assert r["status"] == "complete"
    (t,) = r["trainings"]
    reps = t["repeats"]
    assert [x["repeat"] for x in reps] == [1, 2, 3, 4] and all(x["status"] == "ok" for x in reps)
    # The warm-up (repeat 1) ran first in the worker that then timed repeats 2-4.
    assert [x["process_trainings_before"] for x in reps] == [0, 1, 2, 3]
    assert [x["import_time_s"] for x in reps][1:] == [0.0, 0.0, 0.0]
    assert t["determinism"]["bit_identical_weights"] is True and t["timing"]["test_accuracy"]["identical"]
    w = r["workers"]
    assert w["persistent"] is True and w["deaths"] == [] and w["restarts"] == []
    by_key = {p["key"]: p for p in w["processes"]}
    (trainer,) = [p for p in w["processes"] if p["key"] == "train:numpy:eager"]
    assert trainer["task_names"] == ["train-numpy", "train-numpy-r2", "train-numpy-r3", "train-numpy-r4"]
    # The two .npz artifacts: verified by workers of their runtime (at most --parallel of them).
    npz = [p for p in w["processes"] if p["key"] == "verify:npz"]
    assert sum(p["tasks"] for p in npz) == 2 and 1 <= len(npz) <= 2
    assert all(p["ended"] == "closed: no task left" for p in w["processes"])
    # Each task keeps its own log, though one process wrote them all.
    logs = tmp_path / "run" / "logs"
    assert all((logs / f"{n}.log").exists() for n in by_key["train:numpy:eager"]["task_names"])
    assert "long-lived worker" in r["fairness"]["isolation"]
    md = (tmp_path / "run" / "report.md").read_text()
    assert "all in one long-lived worker process per framework" in md


def test_a_worker_killed_mid_repeat_costs_that_repeat_only(tmp_path, monkeypatch):
    """SIGKILL in the middle of repeat 3's timed loop (after its first epoch, holding the timing gate)."""
    monkeypatch.setenv("EDGEBENCH_INJECT_FAULT", "train-numpy-r3@epoch1=kill")
    r = _run(_cfg(tmp_path / "run", repeats=3, parallel=2))
    (t,) = r["trainings"]
    reps = {x["repeat"]: x for x in t["repeats"]}
    assert sorted(reps) == [1, 2, 3, 4]
    assert reps[3]["status"] == "failed" and "killed by signal 9" in reps[3]["error"]
    assert all(reps[k]["status"] == "ok" for k in (1, 2, 4))
    # The fresh worker was warmed (one untimed training) before the counted repeat 4.
    assert reps[4]["rewarmed"] is True and reps[4]["process_trainings_before"] == 1
    assert t["timing"]["repeats_counted"] == [2, 4]
    # The artifacts were all verified: the training's exports came from repeat 1, before the death.
    assert r["status"] == "complete" and all(a["status"] == "ok" for a in r["artifacts"])
    w = r["workers"]
    (dead,) = w["deaths"]
    assert dead["key"] == "train:numpy:eager" and dead["ended"] == "killed by signal 9 during train-numpy-r3"
    (new,) = w["restarts"]
    assert new["task_names"] == ["train-numpy-rewarm1", "train-numpy-r4"]
    (rewarm,) = w["rewarm"]
    assert rewarm["before"] == "train:numpy:eager:r4" and rewarm["train_time_s"][0] > 0
    md = (tmp_path / "run" / "report.md").read_text()
    assert "A worker died: train:numpy:eager" in md and "killed by signal 9 during train-numpy-r3" in md


def test_a_verification_worker_that_dies_names_its_artifact_and_the_next_gets_a_fresh_worker(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEBENCH_INJECT_FAULT", "verify-numpy-npz-float32=kill")
    r = _run(_cfg(tmp_path / "run", repeats=1, warmup=0, parallel=1))
    arts = {a["precision"]: a for a in r["artifacts"]}
    assert arts["float32"]["status"] == "failed" and "killed by signal 9" in arts["float32"]["error"]
    assert arts["float16"]["status"] == "ok"
    (dead,) = r["workers"]["deaths"]
    assert dead["ended"] == "killed by signal 9 during verify-numpy-npz-float32"
    assert [p["task_names"] for p in r["workers"]["processes"] if p["key"] == "verify:npz"] == [
        ["verify-numpy-npz-float32"], ["verify-numpy-npz-float16"]]


def test_fresh_process_per_repeat_runs_each_training_in_its_own_process(tmp_path):
    p = subprocess.run([sys.executable, "-m", "edgebench", "run", "--frameworks", "numpy", "--limit-train", "640",
                        "--limit-test", "100", "--epochs", "2", "--repeats", "2", "--warmup", "1", "--threads", "1",
                        "--formats", "npz:float32", "--no-mcu", "--latency-min-time", "0.01", "--rerun-busy", "0",
                        "--fresh-process-per-repeat", "--out", str(tmp_path / "run")],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    r = json.loads((tmp_path / "run" / "results.json").read_text())
    (t,) = r["trainings"]
    assert [x["process_trainings_before"] for x in t["repeats"]] == [0, 0, 0]
    assert r["config"]["fresh_process_per_repeat"] is True and r["workers"]["persistent"] is False
    assert "processes" not in r["workers"] and "--fresh-process-per-repeat" in r["fairness"]["isolation"]
    assert "each in a fresh process" in (tmp_path / "run" / "report.md").read_text()
    # The same data, initial weights and batch order: the same trained weights either way.
    w = [np.load(tmp_path / "run" / "numpy" / "repeats" / f"r{k}" / "final_weights.npz") for k in (2, 3)]
    assert all(np.array_equal(w[0][k], w[1][k]) for k in w[0].files)
