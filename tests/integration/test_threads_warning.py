"""--threads above the cores this process may use: said on the CLI, in results.json and in the
report (the GEMM peak measured with that many threads is no bound)."""

import json
import os

from tests.integration.test_faults_cli import _run


def test_threads_above_the_cores_are_warned_about(tmp_path):
    cores = len(os.sched_getaffinity(0))
    n = cores + 98
    p = _run("run", "--frameworks", "numpy", "--limit-train", "256", "--limit-test", "64", "--epochs", "1",
             "--repeats", "1", "--warmup", "0", "--no-mcu", "--formats", "none", "--threads", str(n), "--out", str(tmp_path / "r"))
    assert p.returncode == 0, p.stderr[-1500:]
    said = f"--threads {n} is above the {cores} cores this process may use"
    assert f"warning: {said}" in " ".join(p.stdout.split()), p.stdout[-1500:]
    r = json.loads((tmp_path / "r" / "results.json").read_text())
    assert [w["about"] for w in r["warnings"]] == ["threads"] and said in r["warnings"][0]["message"]
    assert said in (tmp_path / "r" / "report.md").read_text().replace("\\-", "-")


def test_a_run_within_the_cores_has_no_warning(tmp_path):
    p = _run("run", "--frameworks", "numpy", "--limit-train", "256", "--limit-test", "64", "--epochs", "1",
             "--repeats", "1", "--warmup", "0", "--no-mcu", "--formats", "none", "--threads", "1", "--out", str(tmp_path / "r"))
    assert p.returncode == 0, p.stderr[-1500:]
    assert json.loads((tmp_path / "r" / "results.json").read_text())["warnings"] == []
    assert "warning" not in p.stdout.lower() and "Warnings" not in (tmp_path / "r" / "report.md").read_text()
