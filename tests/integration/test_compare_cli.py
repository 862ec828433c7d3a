"""edgebench compare and list through the CLI, on two real NumPy runs: a pipe, a narrow terminal, the CSV."""

import csv
import io
import json
import os
import subprocess
import sys

import pytest

from tests.injection import assert_md_tables_intact


def _cli(*args, cwd=None, columns=80):
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "dumb"}
    return subprocess.run([sys.executable, "-m", "edgebench", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two small runs of the NumPy reference, the second with a bigger hidden layer (slower)."""
    root = tmp_path_factory.mktemp("cmp")
    common = ["--frameworks", "numpy", "--limit-train", "1024", "--limit-test", "256", "--epochs", "2",
              "--repeats", "3", "--warmup", "0", "--no-mcu", "--threads", "1", "--latency-min-time", "0.1"]
    for name, hidden in (("runs/a", "32"), ("runs/b", "512")):
        p = _cli("run", *common, "--hidden", hidden, "--out", name, cwd=root)
        assert p.returncode == 0, p.stderr[-1500:]
    return root


def test_compare_a_run_with_itself_is_the_same_everywhere_and_survives_a_pipe(two_runs):
    p = _cli("compare", "runs/a", "runs/a", "--out", "self.md", cwd=two_runs)
    assert p.returncode == 0, p.stderr[-1500:]
    md = p.stdout  # piped: the Markdown, unwrapped, at 80 columns
    assert assert_md_tables_intact(md) == 2
    assert not [ln for ln in md.splitlines() if ln.startswith("|") and not ln.rstrip().endswith("|")]
    assert max(len(ln) for ln in md.splitlines()) > 80  # long rows stay whole
    assert "A: runs/a" in md  # paths relative to the working folder
    c = json.loads(_cli("compare", "runs/a", "runs/a", "--out", "self.md", "--format", "json", cwd=two_runs).stdout)
    figures = [c["trainings"][0]["train_time_s"], c["trainings"][0]["steady_epoch_s"]]
    figures += [x[k] for x in c["artifacts"] for k in ("p50_latency", "throughput", "size_bytes") if x[k]]
    assert figures and {f["verdict"] for f in figures} == {"same"}
    assert all(f["ci_low"] is not None for f in figures[:2])
    assert c["artifacts"][0]["p50_latency"]["ci_low"] <= 1 <= c["artifacts"][0]["p50_latency"]["ci_high"]
    assert "p_value" not in md and "within +-3%" in md


def test_compare_says_slower_with_intervals_and_writes_csv(two_runs):
    c = json.loads(_cli("compare", "runs/a", "runs/b", "--out", "ab.md", "--format", "json", cwd=two_runs).stdout)
    t = c["trainings"][0]["train_time_s"]
    assert t["verdict"] == "slower" and t["ci_low"] > 1.03, t  # 16x the hidden units
    assert c["artifacts"][0]["size_bytes"]["verdict"] == "larger"
    rows = list(csv.DictReader(io.StringIO(_cli("compare", "runs/a", "runs/b", "--out", "ab.md", "--format", "csv",
                                                cwd=two_runs).stdout)))
    assert {r["figure"] for r in rows} >= {"train_time_s", "steady_epoch_s", "test_accuracy", "p50_latency"}
    assert next(r for r in rows if r["figure"] == "train_time_s")["verdict"] == "slower"
    band = _cli("compare", "runs/a", "runs/b", "--band", "500", cwd=two_runs)
    assert band.returncode == 2 and "--band" in band.stderr and "Traceback" not in band.stderr


def test_list_survives_a_pipe_and_a_narrow_terminal(two_runs):
    p = _cli("list", "runs", cwd=two_runs)
    assert p.returncode == 0, p.stderr
    assert assert_md_tables_intact(p.stdout) == 1 and "| runs/a |" in p.stdout and "| Frameworks |" in p.stdout
    rows = list(csv.reader(io.StringIO(_cli("list", "runs", "--format", "csv", cwd=two_runs).stdout)))
    assert rows[0][0] == "Run" and [r[0] for r in rows[1:]] == ["runs/a", "runs/b"]
    # A terminal table at 80 columns: no word split across lines.
    from rich.console import Console

    from edgebench import cli

    outs = {}
    saved, cwd = cli.console, os.getcwd()
    try:
        os.chdir(two_runs)
        for width in (80, 120):
            buf = io.StringIO()
            cli.console = Console(file=buf, width=width, force_terminal=True, color_system=None)
            cli.list_runs(two_runs / "runs", "table")
            outs[width] = buf.getvalue()
    finally:
        cli.console = saved
        os.chdir(cwd)
    assert "Frameworks" in outs[80] and "runs/a" in outs[80] and "…" not in outs[80] and "Wall" in outs[80]
    for out in outs.values():
        words = {w for ln in out.splitlines() for w in ln.split()}
        assert {"Frameworks", "Status", "Artifacts", "complete", "numpy"} <= words, out
