"""Reports: pure functions of a run's typed results (plus the raw samples the run folder keeps).

figures.py works out what they show, once; view.py words it; markdown.py (report.md, twin.md,
compare.md), html.py (report.html), plots.py (the figures) and terminal.py (the CLI summary)
render it, each escaping outside text for its own format (escape.py). The CSV files are data,
written from the results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgebench.results.schema import Artifact, RunResults


def write_reports(r: RunResults, run_dir: Path, figures: bool = True) -> dict[str, str]:
    """report.md, and with figures the PNGs in plots/ and the self-contained report.html."""
    from edgebench.report import markdown
    from edgebench.report.view import build

    v = build(r)
    plots = {}
    if figures:
        from edgebench.report import html, plots as plot_mod

        plots = plot_mod.draw_all(v, run_dir)
    write_csv(r, run_dir)
    text = markdown.render(v, plots)
    (run_dir / "report.md").write_text(text)
    if figures:
        (run_dir / "report.html").write_text(html.render(v, text, run_dir))
    if r.twin:
        (run_dir / "twin.md").write_text(markdown.twin_page(v))
    return plots


TRAINING_COLUMNS = ["framework", "mode", "status", "train_time_s", "train_time_ci_low", "train_time_ci_high",
                    "repeats", "first_epoch_s", "steady_epoch_s", "test_accuracy", "test_loss", "peak_rss_bytes",
                    "error"]
# The host runtime's figures of an artifact; then, per microcontroller runtime that ran any artifact,
# MICROCONTROLLER_COLUMNS prefixed with its name (for runtime x: x_status, x_accuracy, x_arena_bytes).
ARTIFACT_COLUMNS = ["framework", "format", "precision", "runtime", "file", "status", "size_bytes", "test_accuracy",
                    "accuracy_change", "top1_agreement", "max_abs_diff", "within_tolerance", "latency_p50_ms",
                    "latency_p99_ms", "throughput_images_per_s"]
MICROCONTROLLER_COLUMNS = ("status", "accuracy", "arena_bytes")  # arena: the RAM it sets aside (ram_bytes)


def microcontroller_runtimes(r: RunResults) -> list[str]:
    """The microcontroller runtimes that ran any artifact of the run, in the order they first appear."""
    return list(dict.fromkeys(res.runtime for a in r.artifacts for res in a.microcontroller_results()))


def artifact_row(a: Artifact, microcontrollers: list[str]) -> list[Any]:
    from edgebench.report.figures import status

    state, error = status(a)
    res = a.result()
    host = [res.test_accuracy, res.accuracy_change, res.agreement, res.max_abs_diff, res.within_tolerance,
            (res.latency_ms or {}).get("p50"), (res.latency_ms or {}).get("p99"),
            (res.throughput or {}).get("images_per_s")] if res else [None] * 8
    mcu = []
    for name in microcontrollers:
        m = a.result(name)
        mcu += [m.status, m.test_accuracy, m.ram_bytes] if m else [None] * len(MICROCONTROLLER_COLUMNS)
    return [a.framework, a.format, a.precision, a.runtime, a.file, state, a.size_bytes, *host, *mcu, error]


def write_csv(r: RunResults, run_dir: Path) -> None:
    """The main tables as CSV next to results.json, for spreadsheets and scripts."""
    import csv

    from edgebench.report.escape import csv_cell

    class Writer:
        """csv.writer whose every cell is made safe for spreadsheets (no formula injection)."""

        def __init__(self, f):
            self._w = csv.writer(f)

        def writerow(self, row):
            self._w.writerow([csv_cell(v) for v in row])

    with open(run_dir / "trainings.csv", "w", newline="") as f:
        w = Writer(f)
        w.writerow(TRAINING_COLUMNS)
        for t in r.trainings:
            tm = t.timing
            tt = tm.train_time_s if tm else {}
            w.writerow([t.framework, t.mode, t.status, t.train_time_s, tt.get("ci_low"), tt.get("ci_high"),
                        tt.get("n"), tm and tm.first_epoch_s.get("mean"), tm and tm.steady_epoch_s.get("mean"),
                        t.test_accuracy, t.test_loss, t.peak_rss_bytes, t.error])
    mcus = microcontroller_runtimes(r)
    with open(run_dir / "artifacts.csv", "w", newline="") as f:
        w = Writer(f)
        w.writerow(ARTIFACT_COLUMNS + [f"{name}_{c}" for name in mcus for c in MICROCONTROLLER_COLUMNS] + ["error"])
        for a in r.artifacts:
            w.writerow(artifact_row(a, mcus))
