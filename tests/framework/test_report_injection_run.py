"""The real `edgebench run` with a hostile data set folder name, a hostile --board name and a
hostile output folder name: report.html creates no element from them and shows them as text,
report.md's tables keep their shape; then the same through `edgebench report` on that run."""

import os
import subprocess
import sys

import pytest

from edgebench import results
from tests.conftest import make_idx_folder, needs_tf
from tests.injection import assert_md_tables_intact, assert_page_safe

pytestmark = [pytest.mark.framework, needs_tf]

DATA = "data x<img src=x onerror=alert(1)>"
BOARD = "kit<img src=y onerror=alert(2)>|*_b_*"
OUT = "run<svg onload=alert(3)>[x](javascript:alert(4))"


def _edgebench(*args):
    return subprocess.run([sys.executable, "-m", "edgebench", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "COLUMNS": "300"})


def _check(run, tmp_path):
    md_text = (run / "report.md").read_text()
    assert assert_md_tables_intact(md_text) >= 5
    assert "<img" not in md_text and "<svg" not in md_text
    assert_page_safe(run / "report.html", [DATA, BOARD, OUT], tmp_path)


def test_hostile_names_in_a_real_run(tmp_path):
    data = make_idx_folder(tmp_path / DATA, n_train=200, n_test=50)
    run = tmp_path / OUT
    p = _edgebench("run", "--dataset", str(data), "--frameworks", "tensorflow", "--formats", "tflite:float32",
                   "--repeats", "1", "--warmup", "0", "--epochs", "1", "--threads", "1", "--latency-min-time", "0.05",
                   "--calibration-samples", "20", "--board", f"{BOARD}:64:8", "--out", str(run))
    assert p.returncode == 0, p.stderr[-2000:]
    assert f"Run folder: {run}" in p.stdout  # printed as written: not taken for rich markup
    r = results.load(run)
    assert r.status == "complete" and r.dataset["source"].endswith(DATA)
    for mcu in r.artifacts[0].microcontroller_results():  # TFLite Micro and the generated firmware
        assert BOARD in [f["board"] for f in mcu.fit]  # the board reached the fit tables, so the report shows it
    _check(run, tmp_path)
    # Re-rendered from results.json alone: the same.
    (run / "report.html").unlink()
    p = _edgebench("report", str(run))
    assert p.returncode == 0, p.stderr[-2000:]
    _check(run, tmp_path)
