"""The Python API, called directly (not through the CLI): run, deploy, load, compare, sweep on the
NumPy reference backend; a bad option raises the user-error exception with the CLI's line."""

import subprocess
import sys

import pytest

import edgebench
from edgebench.errors import UserError

SMALL = dict(frameworks="numpy", limit_train=640, limit_test=100, epochs=1, repeats=1, warmup=0, threads=1,
             no_mcu=True, latency_min_time=0.0)


def test_run_load_and_compare(tmp_path):
    r = edgebench.run(**SMALL, out=tmp_path / "a")
    assert isinstance(r, edgebench.Results) and r.status == "complete"
    (t,) = r.trainings
    assert t.framework == "numpy" and t.status == "ok" and t.repeats == 1 and 0.5 < t.test_accuracy <= 1
    arts = {(a.format, a.precision): a for a in r.artifacts}
    assert set(arts) == {("npz", "float32"), ("npz", "float16")}
    assert arts[("npz", "float32")].top1_agreement == 1.0 and arts[("npz", "float32")].size_bytes > 0
    table = r.table1()
    rows = table.to_dict("records") if hasattr(table, "to_dict") else table
    assert rows[0]["framework"] == "numpy" and len(r.matrix()) == 2
    html = r._repr_html_()
    assert "Table 1" in html and "<img" in html and "<body" not in html
    again = edgebench.load(tmp_path / "a")
    assert again.raw == r.raw and again.trainings == r.trainings
    b = edgebench.run(**{**SMALL, "seed": 1}, out=tmp_path / "b")
    c = edgebench.compare(r, b)
    assert c["trainings"][0]["framework"] == "numpy" and "edgebench compare" in c["markdown"]


@pytest.mark.parametrize("options, line", [
    ({"epochs": 0}, "--epochs must be a positive integer, got 0"),
    ({"frameworks": "caffe"}, "unknown framework 'caffe'"),
    ({"epoch": 3}, "unknown key(s) epoch"),
])
def test_a_bad_option_raises_the_clis_line(options, line, tmp_path):
    with pytest.raises(UserError) as e:
        edgebench.run(**{**SMALL, **options}, out=tmp_path / "r")
    assert line in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "r").exists()
    if "epoch" in options and "epochs" not in options:
        return  # a misspelled keyword has no flag to compare with
    flags = [f"--{k.replace('_', '-')}" if v is True else f"--{k.replace('_', '-')}={v}"
             for k, v in {**SMALL, **options}.items()]
    p = subprocess.run([sys.executable, "-m", "edgebench", "run", *flags, "--out", str(tmp_path / "c")],
                       capture_output=True, text=True)
    assert p.returncode == 2 and line in p.stderr


def test_sweep_and_deploy(tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text('[fixed]\nframeworks = "numpy"\nlimit-train = 640\nlimit-test = 100\nepochs = 1\nrepeats = 1\n'
                    'warmup = 0\nthreads = 1\nno-mcu = true\nlatency-min-time = 0.0\n[axes]\nhidden = ["16", "32"]\n')
    s = edgebench.sweep(grid, out=tmp_path / "s")
    assert s.status == "complete" and len(s.points()) == 2 and len(s.table()) == 4
    assert "Pareto" in s._repr_html_()
    with pytest.raises(UserError, match="unknown option"):
        edgebench.deploy(tmp_path / "m.onnx", datset="none")
