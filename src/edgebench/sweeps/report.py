"""What a sweep folder shows beside its run folders: results.csv (one row per point x artifact x
device) and the sweep report (sweep.md, sweep.html) with the table and Pareto plots, per device,
of accuracy against size and against p50 latency. A row on the Pareto front is one that no other
row of the same device beats on both axes (at least as accurate and at least as small or fast,
and strictly better on one).

Every figure comes from the run folders' results.json; nothing is measured here. Text read back
from them (names, axis values, errors) is escaped where it lands (report.escape)."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from edgebench import results
from edgebench.report.escape import csv_cell, md, plot_label
from edgebench.results.schema import RuntimeResult
from edgebench.sweeps.grid import Grid

COLUMNS = ["point", "device", "framework", "train_time_s", "framework_test_accuracy", "format", "precision",
           "status", "size_bytes", "test_accuracy", "top1_agreement", "within_tolerance", "latency_p50_ms",
           "throughput_images_per_s", "measured_on"]
FRONTS = (("size_bytes", "size (bytes)", "size"), ("latency_p50_ms", "p50 latency, batch 1 (ms)", "latency"))


def run_dirs(out: Path, state: dict) -> list[tuple[str, str, Path]]:
    """(point, device, run folder) of every point and device the sweep measures on."""
    if state.get("executor") == "ray":
        return [(p["name"], d, out / p["name"] / d) for p in state["points"] for d in state["devices"]]
    return [(p["name"], "local", out / p["dir"]) for p in state["points"]]


def rows(out: Path, grid: Grid, state: dict) -> list[dict[str, Any]]:
    values = {p.name: p.values for p in grid.points}
    table = []
    for name, device, folder in run_dirs(out, state):
        r = results.read(folder)
        if r is None:
            continue
        # The trainings whose models were exported: the first mode's (with --mode both, the other mode's
        # training made no artifact).
        first_mode = (r.config.get("modes") or ["eager"])[0]
        trained = {t.framework: t for t in r.trainings if t.status == "ok" and t.mode == first_mode}
        for a in r.artifacts:
            t, res = trained.get(a.framework), a.result()
            table.append({"point": name, **{k: values[name].get(k) for k in grid.axes}, "device": device,
                          "framework": a.framework, "train_time_s": t and t.train_time_s,
                          "framework_test_accuracy": t and t.test_accuracy, "format": a.format,
                          "precision": a.precision, "status": a.status, "size_bytes": a.size_bytes,
                          **_host_figures(res), "measured_on": (a.measured_on or {}).get("hostname")})
    return table


def _host_figures(res: RuntimeResult | None) -> dict[str, Any]:
    """The COLUMNS an artifact's host runtime fills."""
    if res is None:
        return {"test_accuracy": None, "top1_agreement": None, "within_tolerance": None, "latency_p50_ms": None,
                "throughput_images_per_s": None}
    return {"test_accuracy": res.test_accuracy, "top1_agreement": res.agreement,
            "within_tolerance": res.within_tolerance, "latency_p50_ms": (res.latency_ms or {}).get("p50"),
            "throughput_images_per_s": (res.throughput or {}).get("images_per_s")}


def pareto(points: list[tuple[float, float]]) -> list[bool]:
    """For (cost, accuracy) pairs: True where no other pair is at least as good on both and
    strictly better on one (lower cost, higher accuracy)."""
    front = []
    for i, (c, a) in enumerate(points):
        beaten = any((c2 <= c and a2 >= a and (c2 < c or a2 > a)) for j, (c2, a2) in enumerate(points) if j != i)
        front.append(not beaten)
    return front


def _usable(row: dict, axis: str) -> bool:
    """A row that may stand on a front: measured, within its tolerance (an export that disagrees with
    its source is no candidate, however small), with both figures."""
    return row["status"] == "ok" and row.get("within_tolerance") is True and all(isinstance(row.get(k), (int, float)) and math.isfinite(row[k])
                                         for k in (axis, "test_accuracy"))


def mark_fronts(table: list[dict]) -> None:
    """Each row gets pareto_size and pareto_latency: on its device's front, or not (None: no figure)."""
    for axis, _, short in FRONTS:
        for device in {r["device"] for r in table}:
            mine = [r for r in table if r["device"] == device and _usable(r, axis)]
            for r, on in zip(mine, pareto([(r[axis], r["test_accuracy"]) for r in mine])):
                r[f"pareto_{short}"] = on
        for r in table:
            r.setdefault(f"pareto_{short}", None)


def write_csv(out: Path, grid: Grid, table: list[dict]) -> None:
    header = ["point", *grid.axes, *COLUMNS[1:], "pareto_size", "pareto_latency"]
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for row in table:
            w.writerow([csv_cell(row.get(k)) for k in header])


def _plots(out: Path, table: list[dict]) -> list[tuple[str, str, str]]:
    """(device, what, file name) of each Pareto plot drawn, in plots/."""
    from edgebench.report.plots import _plain_log_axis, _plt, _save

    plt = _plt()
    (out / "plots").mkdir(exist_ok=True)
    drawn = []
    for d_index, device in enumerate(sorted({r["device"] for r in table}), start=1):
        for axis, label, short in FRONTS:
            mine = [r for r in table if r["device"] == device and _usable(r, axis)]
            if not mine:
                continue
            fig, ax = plt.subplots(figsize=(7, 4.5))
            off = [r for r in mine if not r[f"pareto_{short}"]]
            on = sorted((r for r in mine if r[f"pareto_{short}"]), key=lambda r: r[axis])
            ax.scatter([r[axis] for r in off], [r["test_accuracy"] for r in off], c="#9aa0a6", s=22,
                       label="beaten by another (as accurate and as small or fast, better on one)")
            ax.plot([r[axis] for r in on], [r["test_accuracy"] for r in on], "o-", c="#d62728", ms=6,
                    label="Pareto front")
            for r in on:
                ax.annotate(plot_label(f"{r['point'].split('-')[0]} {r['framework']} {r['format']}-{r['precision']}"),
                            (r[axis], r["test_accuracy"]), fontsize=7, xytext=(4, 4), textcoords="offset points")
            ax.set_xscale("log")
            _plain_log_axis(ax.xaxis)
            ax.set_xlabel(label)
            ax.set_ylabel("test accuracy")
            ax.set_title(plot_label(f"{device}: accuracy against {short}"))
            ax.legend(fontsize=8, loc="lower right")
            name = f"pareto_{short}_{d_index}.png"
            _save(fig, out / "plots" / name)
            drawn.append((device, short, name))
    return drawn


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def markdown(grid: Grid, state: dict, table: list[dict], plots: list[tuple[str, str, str]]) -> str:
    axes = list(grid.axes)
    lines = [f"# edgebench sweep: {len(grid.points)} points", "",
             md(f"Status: {state['status']}. Executor: {state.get('executor')}. Devices: "
                f"{', '.join(state.get('devices', []))}. edgebench {state.get('edgebench_version')}."), "",
             "Each point is an ordinary run folder (its own report.md and report.html); the figures below are "
             "read from their results.json. A row on the Pareto front (marked **front**) is one that no other row of "
             "the same device beats: none is at least as accurate and at least as small (or as fast, p50 latency at "
             "batch 1) and strictly better on one of the two. Only artifacts within their tolerance stand on a front.", "", "## Points", "",
             "| point | " + " | ".join(md(a) for a in axes) + " | status | error |",
             "|---|" + "---|" * len(axes) + "---|---|"]
    for p in state["points"]:
        vals = [md(_fmt(p["values"].get(a))) for a in axes]
        lines.append(f"| {md(p['name'])} | " + " | ".join(vals) + f" | {md(p['status'])} | {md(p.get('error') or '')} |")
    for device in sorted({r["device"] for r in table}):
        mine = [r for r in table if r["device"] == device]
        lines += ["", f"## On {md(device)}", "",
                  "| point | artifact | status | size (bytes) | accuracy | agreement | p50 latency (ms) | "
                  "images/s | Pareto front (size) | Pareto front (latency) |",
                  "|---|---|---|---:|---:|---:|---:|---:|---|---|"]
        for r in mine:
            lines.append("| " + " | ".join([
                md(r["point"]), md(f"{r['framework']} {r['format']}-{r['precision']}"), md(r["status"]),
                *(md(_fmt(r[k])) for k in ("size_bytes", "test_accuracy", "top1_agreement", "latency_p50_ms",
                                           "throughput_images_per_s")),
                "**front**" if r["pareto_size"] else "", "**front**" if r["pareto_latency"] else ""]) + " |")
        for dev, short, name in plots:
            if dev == device:
                lines += ["", f"![{md(device)}: accuracy against {short}](plots/{name})"]
    lines.append("")
    return "\n".join(lines)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgebench sweep</title>
<style>body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:13px;display:block;overflow-x:auto}
td,th{border:1px solid #ddd;padding:3px 6px}th{background:#f4f4f4}img{max-width:100%}</style>
</head><body>
{{ body }}
</body></html>
"""


def write_all(out: Path, grid: Grid, state: dict, figures: bool = True) -> None:
    """results.csv always; sweep.md and sweep.html (with the Pareto plots) when figures is set."""
    out = Path(out)
    table = rows(out, grid, state)
    mark_fronts(table)
    write_csv(out, grid, table)
    if not figures:
        return
    from jinja2 import Environment

    from edgebench.report.html import _inline_images, markdown_to_html

    plots = _plots(out, table) if table else []
    text = markdown(grid, state, table, plots)
    (out / "sweep.md").write_text(text)
    from markupsafe import Markup

    html = Environment(autoescape=True).from_string(PAGE).render(body=Markup(markdown_to_html(text)))
    (out / "sweep.html").write_text(_inline_images(html, out))
