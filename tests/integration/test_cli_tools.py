"""doctor, list and report: the CLI's tools that need no framework."""

import json
import subprocess
import sys

from edgebench.report.markdown import render


def _run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "edgebench", *args], capture_output=True, text=True, cwd=cwd)


def _fake_run(folder, status="complete", schema=1):
    folder.mkdir(parents=True)
    r = {"schema_version": schema, "status": status, "created_at": "2026-11-27T10:00:00+00:00",
         "config": {"epochs": 1}, "dataset": {"name": "mnist"}, "wall_time_s": 12.0,
         "trainings": [{"framework": "pytorch", "status": "ok", "test_accuracy": 0.97}], "artifacts": []}
    (folder / "results.json").write_text(json.dumps(r))
    return r


def test_list_and_report_commands(tmp_path):
    _fake_run(tmp_path / "runs" / "a")
    (tmp_path / "runs" / "not-a-run").mkdir()
    p = _run("list", "runs", str(tmp_path / "runs"))
    assert p.returncode == 0 and "0.9700" in p.stdout and "not-a-run" not in p.stdout
    assert "no runs in" in _run("list", "runs", str(tmp_path / "empty")).stdout


def test_report_errors_are_one_line(tmp_path):
    _fake_run(tmp_path / "future", schema=99)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "results.json").write_text("{not json")
    (tmp_path / "plain").mkdir()
    _fake_run(tmp_path / "partial")
    for folder, message in (("future", "schema version 99 is newer than this edgebench understands"),
                            ("broken", "not valid JSON"), ("plain", "not an edgebench run (no results.json)"),
                            ("absent", "no such run folder"), ("partial", "is incomplete: no 'optimizer'")):
        p = _run("report", str(tmp_path / folder))
        assert p.returncode == 2 and message in p.stderr and "Traceback" not in p.stderr, (folder, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1


def test_report_rerenders_the_same_markdown(tmp_path):
    from tests.unit.test_report import _results, typed

    r = _results()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.json").write_text(json.dumps(r))
    p = _run("report", str(tmp_path / "run"))
    assert p.returncode == 0, p.stderr
    # The same tables; the re-rendered report also links the plots it drew.
    rerendered = [ln for ln in (tmp_path / "run" / "report.md").read_text().splitlines() if not ln.startswith("![")]
    assert [ln for ln in rerendered if ln] == [ln for ln in render(typed(r)).splitlines() if ln]
    assert "| TensorFlow | 12.50 | single run (n=1) | - | 0.9712 |" in rerendered  # Table 1, from results.json
    assert (tmp_path / "run" / "report.html").exists()


def test_config_file_errors(tmp_path):
    cases = {
        "unknown.toml": ("epoch = 3\n", "unknown key(s) epoch; valid keys: adam-epsilon"),
        "type.toml": ('epochs = "three"\n', "'epochs' must be an integer, got 'three'"),
        "syntax.toml": ("epochs = [\n", "not valid TOML"),
        "bool.toml": ("repeats = true\n", "'repeats' must be an integer, got True"),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        p = _run("run", "--config", str(tmp_path / name), "--out", str(tmp_path / "never"))
        assert p.returncode == 2 and message in p.stderr and "Traceback" not in p.stderr, (name, p.stderr)
    p = _run("run", "--config", str(tmp_path / "absent.toml"))
    assert p.returncode == 2 and "absent.toml: file not found" in p.stderr
    assert not (tmp_path / "never").exists()


def test_list_models_command(tmp_path):
    import subprocess
    import sys

    def run(*args):
        return subprocess.run([sys.executable, "-m", "edgebench", "list", "models", *args], capture_output=True,
                              text=True, env={**__import__("os").environ, "COLUMNS": "150"})

    p = run()
    assert p.returncode == 0, p.stderr
    for title in ("mlp: 50,890 parameters", "lenet5: 61,706 parameters, 416,520 MACs", "dscnn:", "resnet8:"):
        assert title in p.stdout
    assert "conv2     Conv2D      pool1     10x10x16" in run("--model", "lenet5").stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[[layers]]\ntype = "Dense"\nunits = 10\n')
    p = run("--model", str(bad))
    assert p.returncode == 2 and "layer 'dense_1' (Dense) needs a vector input" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
