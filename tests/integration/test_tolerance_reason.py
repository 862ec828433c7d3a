"""Tolerances and their reasons follow the model that was run (its fan-in and depth), not the lab's
784-input MLP: a 32x32 data set gives a 1024-term dot product, in results.json and in the report."""

import json

from tests.conftest import make_idx_folder
from tests.integration.test_faults_cli import _run
from tests.results_view import host


def test_the_tolerance_reason_names_this_models_fan_in(tmp_path):
    folder = make_idx_folder(tmp_path / "t32", shape=(32, 32), classes=3)
    p = _run("run", "--frameworks", "numpy", "--dataset", str(folder), "--epochs", "1", "--repeats", "1", "--warmup", "0",
             "--no-mcu", "--hidden", "48", "--threads", "1", "--out", str(tmp_path / "r"))
    assert p.returncode == 0, p.stderr[-1500:]
    r = json.loads((tmp_path / "r" / "results.json").read_text())
    f32 = next(host(a) for a in r["artifacts"] if a["precision"] == "float32")
    reason = f32["tolerance"]["reason"]
    assert "A 1024-term dot product" in reason and "784" not in reason and "over 2 weighted layers" in reason
    # The bound is that fraction of this model's own logit range on the test set.
    assert f32["max_abs_diff_bound"] == max(f32["tolerance"]["max_diff_of_range"] * f32["reference_logit_range"], 1e-5)
    assert "A 1024-term dot product" in (tmp_path / "r" / "report.md").read_text()
