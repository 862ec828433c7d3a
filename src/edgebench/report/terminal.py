"""The summary `edgebench run` and `edgebench report` print: rich tables and lines from the
view-model. Outside text is escaped for rich (escape.rich_text): a name holding "[bold]" is shown
as written, never taken for markup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from edgebench.report.escape import ELLIPSIS, rich_text
from edgebench.report.text import fmt, strong, text
from edgebench.report.view import ArtifactView, ReportView

STATUS_LIMIT = 200  # characters of an artifact's error in the matrix


def markup(value: Any) -> str:
    """A view Text as rich markup: every part escaped, stressed runs bold."""
    out = []
    for stressed, parts in text(value).runs():
        s = "".join(rich_text(p.text) for p in parts)
        out.append(f"[bold]{s}[/bold]" if stressed else s)
    return "".join(out)


def _status(x: ArtifactView) -> str:
    if x.status != "ok":
        error = str(x.error)
        short = error if len(error) <= STATUS_LIMIT else error[:STATUS_LIMIT] + ELLIPSIS
        return f"[red]{markup(x.status)}[/red]: {markup(short)}"
    if x.fig.within_tolerance is False:
        failed = "; ".join(x.fig.tolerance_failures)
        return "[red]out of tol.[/red]" + (f": {rich_text(failed)}" if failed else "")
    return "[green]ok[/green]"


def table1(v: ReportView) -> Table:
    t = Table(title="Table 1: training")
    for col in ("Framework", "Training Time (s)", "95% CI", "Median (range)", "Test Accuracy"):
        t.add_column(col, justify="left" if col == "Framework" else "right")
    for row in v.table1:
        t.add_row(*map(markup, row))
    return t


def deployment(v: ReportView) -> Table:
    t = Table(title="Deployment matrix (each artifact verified on its runtime)", box=box.SIMPLE_HEAD,
              pad_edge=False, padding=(0, 1))
    for col in ("Source", "Artifact", "KB", "Acc", "Agree", "p50 us", "Status"):
        left = col in ("Source", "Artifact", "Status")
        t.add_column(col, justify="left" if left else "right", no_wrap=col != "Status")
    for x in v.artifacts:
        t.add_row(*map(markup, (x.source, x.kind, x.size_kb, x.accuracy, x.agreement, x.p50_us)), _status(x))
    return t


def source_table(v: ReportView) -> Table:
    t = Table(title="Source model (its logits are every export's reference)")
    for col in ("Model file", "Kind", "Test accuracy", "Load (s)", "All test images (s)", "Runs in"):
        t.add_column(col, justify="right" if col in ("Test accuracy", "Load (s)", "All test images (s)") else "left")
    for row in v.source:
        t.add_row(*map(markup, row))
    return t


def print_summary(console: Console, v: ReportView, run_dir: Path) -> None:
    console.print(source_table(v) if v.is_deploy else table1(v))
    for sentence in v.comparisons:
        console.print(markup(sentence), soft_wrap=True)
    for sentence in (v.speed.slow if v.speed else []):  # outlying repeats, large spreads
        console.print(markup(sentence), soft_wrap=True)
    if v.artifacts:
        console.print(deployment(v))
    h = v.highlights
    if h:
        line = fmt("Smallest within tolerance: {} ({} KB); most accurate: {} ({})", h["smallest"].label,
                   h["smallest"].size_kb, h["most_accurate"].label, h["most_accurate"].accuracy)
        if "fastest" in h:
            line = fmt("{}; fastest: {} ({} us)", line, h["fastest"].label, h["fastest"].p50_us)
        console.print(markup(line), soft_wrap=True)
    for line in v.microcontroller_best:  # one per microcontroller runtime
        console.print(markup(line), soft_wrap=True)
    for note in [*v.worker_notes, *(v.load_notes if len(v.load_notes) > 1 else [])]:  # only when something happened
        console.print(markup(note), soft_wrap=True)
    console.print(markup(fmt("Run status: {}; wall time {:.1f} s", strong(v.status), v.wall_time_s or 0)))
    files = fmt("Results: {}\nReport:  {}", str(run_dir / "results.json"), str(run_dir / "report.md"))
    if (run_dir / "report.html").exists():
        files = fmt("{}\n         {}", files, str(run_dir / "report.html"))
    console.print(markup(files))
