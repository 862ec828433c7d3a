"""Run folders written by the previous release (tests/data/runs/: its results.json, schema 1, with
the report.md, trainings.csv and artifacts.csv it wrote from them) load, report and compare with
today's code, and every figure the previous release printed is printed again.

The check is on figures, not words: every number of the old report.md appears in the new one as
often as before, apart from EXCLUDED below; the CSV files keep every column and value, apart from
the microcontroller columns of a run in which no microcontroller runtime ran (see
test_csv_files_keep_every_column_and_value)."""

import csv
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from edgebench import results
from edgebench.report import MICROCONTROLLER_COLUMNS, write_reports
from edgebench.report.compare import compare, render, to_csv

RUNS = Path(__file__).resolve().parents[1] / "data" / "runs"
FOLDERS = sorted(p.name for p in RUNS.iterdir() if (p / "results.json").is_file())
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")

# Figures of the old report.md left out of the comparison, each with why:
EXCLUDED = [
    # The previous release wrote report.md before it recorded the run's final wall time, and the time
    # its results and reports took, in results.json (the report says so: "results.json has the final
    # figure"); today's report, written from that results.json, shows the final figures.
    re.compile(r"(?<=\*\*End-to-end wall time\*\* of this run: )[\d.]+(?= s)"),
    re.compile(r"(?<=results and reports )[\d.]+(?= s)"),
]
# Not excluded, because they hold no number: the microcontroller section's heading, intro and
# column names, now the runtime's registry name ("On a microcontroller: TFLite Micro", "RAM
# (bytes)", "RAM reported by TFLite Micro"); and the latency plot's image line (the folders keep no
# raw latency samples, so it is not drawn here). The header's date is the run's created_at, read
# from results.json: unchanged, so not excluded either.


def numbers(text: str) -> Counter:
    for pattern in EXCLUDED:
        text = pattern.sub("", text)
    return Counter(NUMBER.findall(text))


@pytest.fixture(scope="module")
def rerun(tmp_path_factory):
    """Each past run folder, copied, with its reports (report.md, report.html, the plots and the CSV
    files) written again by today's code."""
    root = tmp_path_factory.mktemp("past")
    out = {}
    for name in FOLDERS:
        folder = root / name
        shutil.copytree(RUNS / name, folder)
        for f in ("report.md", "trainings.csv", "artifacts.csv"):
            (folder / f).unlink()
        write_reports(results.load(folder), folder, figures=True)
        out[name] = folder
    return out


def test_the_past_runs_are_there():
    assert {"v1-run-tf-pytorch", "v1-deploy-kws", "v1-run-numpy"} <= set(FOLDERS)


@pytest.mark.parametrize("name", FOLDERS)
def test_report_md_keeps_every_figure(rerun, name):
    old = (RUNS / name / "report.md").read_text()
    new = (rerun[name] / "report.md").read_text()
    before, after = numbers(old), numbers(new)
    assert before - after == Counter() and after - before == Counter(), (before - after, after - before)
    assert sum(before.values()) > 100  # the comparison saw the report's tables
    r = results.load(rerun[name])
    assert f"**End-to-end wall time** of this run: {r.wall_time_s:.1f} s" in new  # the excluded figure, as recorded
    page = (rerun[name] / "report.html").read_text()
    assert "Deployment matrix" in page and page.count("data:image/png;base64,") == len(re.findall(r"^!\[", new, re.M))


def test_the_microcontroller_section_is_named_after_its_runtime(rerun):
    new = (rerun["v1-run-tf-pytorch"] / "report.md").read_text()
    assert "## On a microcontroller: TFLite Micro" in new
    assert "| Artifact | TFLite Micro | Accuracy (change vs LiteRT, pt) | Agreement with LiteRT | RAM (bytes) |" in new
    assert "## On a microcontroller" not in (rerun["v1-run-numpy"] / "report.md").read_text()  # nothing ran on one


def _rows(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


@pytest.mark.parametrize("name", FOLDERS)
def test_csv_files_keep_every_column_and_value(rerun, name):
    assert (rerun[name] / "trainings.csv").read_text() == (RUNS / name / "trainings.csv").read_text()
    old_cols, old = _rows(RUNS / name / "artifacts.csv")
    new_cols, new = _rows(rerun[name] / "artifacts.csv")
    assert len(old) == len(new) > 0
    ran = {res.runtime for a in results.load(rerun[name]).artifacts for res in a.microcontroller_results()}
    # Per-runtime columns are made for the microcontroller runtimes that ran: the previous release
    # always wrote tflm's, empty where it did not run. Those are the only columns that may go.
    gone = [c for c in old_cols if c not in new_cols]
    for c in gone:
        runtime, _, figure = c.partition("_")
        assert figure in MICROCONTROLLER_COLUMNS and runtime not in ran, c
        assert all(row[c] == "" for row in old), c
    assert [c for c in new_cols if c not in old_cols] == []
    for o, n in zip(old, new):
        assert {c: o[c] for c in old_cols if c not in gone} == {c: n[c] for c in old_cols if c not in gone}
    if ran:
        assert gone == [] and {f"tflm_{c}" for c in MICROCONTROLLER_COLUMNS} <= set(new_cols)


def test_compare_a_past_run_with_itself_finds_every_figure_the_same(rerun):
    folder = rerun["v1-run-tf-pytorch"]
    r = results.load(folder)
    c = compare(r, r, folder, folder)
    assert len(c["artifacts"]) == sum(a.status == "ok" for a in r.artifacts) == 13
    assert [t["framework"] for t in c["trainings"]] == ["tensorflow", "pytorch"]
    figures = [t[k] for t in c["trainings"] for k in ("train_time_s", "test_accuracy")]
    figures += [x[k] for x in c["artifacts"] for k in ("size_bytes", "test_accuracy", "p50_latency") if x[k]]
    assert len(figures) == 4 + 13 * 3 and {f["verdict"] for f in figures} == {"same"}
    tf_lite = next(x for x in c["artifacts"] if x["artifact"] == ["tensorflow", "tflite", "float32"])
    assert tf_lite["p50_latency"]["a_ms"] == r.artifact(("tensorflow", "tflite", "float32")).result().latency_ms["p50"]
    md = render(c, r)
    assert "| TensorFlow -> " not in md and "| tensorflow tflite float32 | 1.000 same |" in md
    assert to_csv(c).count("\n") == 1 + 2 * 2 + 13 * 4 - 3  # three artifacts without throughput
    for name in ("v1-deploy-kws", "v1-run-numpy"):
        d = results.load(rerun[name])
        assert {x["size_bytes"]["verdict"] for x in compare(d, d, rerun[name], rerun[name])["artifacts"]} == {"same"}


def test_compare_two_different_past_runs(rerun):
    a, b = rerun["v1-run-tf-pytorch"], rerun["v1-run-numpy"]
    c = compare(results.load(a), results.load(b), a, b)
    assert c["trainings"] == [] and c["artifacts"] == []  # nothing in common: other frameworks
    assert len(c["only_in_a"]) == 13 and c["only_in_b"] == [["numpy", "npz", "float16"], ["numpy", "npz", "float32"]]
    md = render(c, results.load(a))
    assert "No training in common." in md and "Only in B: numpy npz float16, numpy npz float32" in md


def test_a_sweep_over_past_run_folders_reads_their_figures(tmp_path):
    """sweeps/report.py reads each point's run folder through the typed results: its results.csv
    has every artifact's figures as the previous release's artifacts.csv had them."""
    from types import SimpleNamespace

    from edgebench.sweeps.report import write_all

    names = ["v1-run-numpy", "v1-run-tf-pytorch"]
    for name in names:
        shutil.copytree(RUNS / name, tmp_path / name)
    grid = SimpleNamespace(points=[SimpleNamespace(name=n, values={"run": n}) for n in names], axes=["run"])
    state = {"status": "complete", "executor": "local", "devices": ["local"], "edgebench_version": "test",
             "points": [{"name": n, "dir": n, "values": {"run": n}, "status": "complete"} for n in names]}
    write_all(tmp_path, grid, state, figures=False)
    _, rows = _rows(tmp_path / "results.csv")
    old = [row for name in names for row in _rows(RUNS / name / "artifacts.csv")[1]]
    assert len(rows) == len(old) == 15
    for new, was in zip(rows, old):
        assert (new["framework"], new["format"], new["precision"]) == (was["framework"], was["format"], was["precision"])
        for col in ("status", "size_bytes", "test_accuracy", "top1_agreement", "within_tolerance", "latency_p50_ms",
                    "throughput_images_per_s"):
            assert new[col] == was[col], (new, col)
    assert sum(row["pareto_size"] == "True" for row in rows) >= 1
