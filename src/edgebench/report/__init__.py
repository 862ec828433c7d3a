"""Reports: pure functions of a results dict (plus the raw samples the run folder keeps).

view.py works out what they show, once; markdown.py (report.md, twin.md, compare.md), html.py
(report.html), plots.py (the figures) and terminal.py (the CLI summary) render it, each escaping
outside text for its own format (escape.py). The CSV files are data, written from the dict."""

from __future__ import annotations

from pathlib import Path


def write_reports(r: dict, run_dir: Path, figures: bool = True) -> dict[str, str]:
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
    if r.get("twin"):
        (run_dir / "twin.md").write_text(markdown.twin_page(v))
    return plots


def write_csv(r: dict, run_dir: Path) -> None:
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
        w.writerow(["framework", "mode", "status", "train_time_s", "train_time_ci_low", "train_time_ci_high",
                    "repeats", "first_epoch_s", "steady_epoch_s", "test_accuracy", "test_loss", "peak_rss_bytes",
                    "error"])
        for t in r.get("trainings", []):
            tm = (t.get("timing") or {})
            tt = tm.get("train_time_s") or {}
            w.writerow([t["framework"], t.get("mode", "eager"), t["status"], t.get("train_time_s"), tt.get("ci_low"),
                        tt.get("ci_high"), tt.get("n"), (tm.get("first_epoch_s") or {}).get("mean"),
                        (tm.get("steady_epoch_s") or {}).get("mean"), t.get("test_accuracy"), t.get("test_loss"),
                        t.get("peak_rss_bytes"), t.get("error")])
    with open(run_dir / "artifacts.csv", "w", newline="") as f:
        w = Writer(f)
        w.writerow(["framework", "format", "precision", "runtime", "file", "status", "size_bytes", "test_accuracy",
                    "accuracy_change", "top1_agreement", "max_abs_diff", "within_tolerance", "latency_p50_ms",
                    "latency_p99_ms", "throughput_images_per_s", "tflm_status", "tflm_accuracy", "tflm_arena_bytes",
                    "error"])
        for a in r.get("artifacts", []):
            lat = a.get("latency_ms") or {}
            m = a.get("microcontroller") or {}
            w.writerow([a["framework"], a["format"], a["precision"], a.get("runtime"), a.get("file"), a["status"],
                        a.get("size_bytes"), a.get("test_accuracy"), a.get("accuracy_change"), a.get("top1_agreement"),
                        a.get("max_abs_diff"), a.get("within_tolerance"), lat.get("p50"), lat.get("p99"),
                        (a.get("throughput") or {}).get("images_per_s"), m.get("status"), m.get("test_accuracy"),
                        m.get("arena_bytes"), a.get("error")])
