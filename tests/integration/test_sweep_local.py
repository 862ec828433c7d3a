"""A local sweep through the real CLI on the NumPy reference backend: one run folder per point,
the same figures as the same `edgebench run`, sweep.json, results.csv, --resume; and a local sweep
never imports Ray."""

import csv
import json
import os
import subprocess
import sys

from tests.results_view import host

GRID = """
[fixed]
frameworks = "numpy"
limit-train = 640
limit-test = 100
epochs = 1
repeats = 1
warmup = 0
threads = 1
no-mcu = true
latency-min-time = 0.0
[axes]
hidden = [16, 32]
seed = [0, 1]
zip = [["hidden", "seed"]]
"""


def edgebench(*args):
    return subprocess.run([sys.executable, "-m", "edgebench", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=600)


def test_local_sweep_matches_runs_and_resumes(tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID)
    out = tmp_path / "sweep"
    p = edgebench("sweep", str(grid), "--out", str(out))
    assert p.returncode == 0, p.stderr[-2000:]
    state = json.loads((out / "sweep.json").read_text())
    assert state["status"] == "complete" and [x["status"] for x in state["points"]] == ["complete", "complete"]
    names = [x["name"] for x in state["points"]]
    assert names == ["p001-hidden=16-seed=0", "p002-hidden=32-seed=1"]
    assert (out / "grid.toml").read_text() == GRID
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert {r["point"] for r in rows} == set(names) and all(r["device"] == "local" for r in rows)
    assert {(r["format"], r["precision"]) for r in rows} == {("npz", "float32"), ("npz", "float16")}
    # Point 2 is the run the same options give: identical accuracy.
    run = tmp_path / "run"
    p = edgebench("run", "--frameworks", "numpy", "--limit-train", "640", "--limit-test", "100", "--epochs", "1",
                  "--repeats", "1", "--warmup", "0", "--threads", "1", "--no-mcu", "--latency-min-time", "0", "--hidden", "32",
                  "--seed", "1", "--out", str(run))
    assert p.returncode == 0, p.stderr[-2000:]
    a = json.loads((out / names[1] / "results.json").read_text())
    b = json.loads((run / "results.json").read_text())
    assert a["trainings"][0]["test_accuracy"] == b["trainings"][0]["test_accuracy"]
    assert [host(x)["test_accuracy"] for x in a["artifacts"]] == [host(x)["test_accuracy"] for x in b["artifacts"]]
    # --resume redoes nothing finished.
    before = (out / names[0] / "results.json").stat().st_mtime_ns
    p = edgebench("sweep", str(grid), "--out", str(out), "--resume")
    assert p.returncode == 0, p.stderr[-2000:]
    assert (out / names[0] / "results.json").stat().st_mtime_ns == before
    # An interrupted point (its run marked interrupted) is continued, the finished one is not.
    r = json.loads((out / names[1] / "results.json").read_text())
    r["interrupted"] = True
    r["status"] = "partial"
    (out / names[1] / "results.json").write_text(json.dumps(r))
    p = edgebench("sweep", str(grid), "--out", str(out), "--resume")
    assert p.returncode == 0, p.stderr[-2000:]
    assert json.loads((out / names[1] / "results.json").read_text())["status"] == "complete"
    assert (out / names[0] / "results.json").stat().st_mtime_ns == before


def test_bad_grid_is_one_line_and_writes_nothing(tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text('[axes]\nepochs = [1, -2]\n')
    p = edgebench("sweep", str(grid), "--out", str(tmp_path / "s"))
    assert p.returncode == 2 and "point 2" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()


def test_a_local_sweep_does_not_import_ray():
    import subprocess
    import sys

    code = ("import sys, edgebench.cli, edgebench.sweeps.local, edgebench.sweeps.cluster, edgebench.sweeps.report; "
            "print('ray' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
