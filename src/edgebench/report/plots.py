"""Figures of a run, drawn with matplotlib from the view-model (its labels and framework colours,
its figures layer, and the raw latency samples the run folder keeps). Each function returns the
PNG path it wrote, or None when there is nothing to draw."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgebench import registry
from edgebench.report.escape import plot_label
from edgebench.report.view import ReportView, artifact_label, colour, run_label


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plain_log_axis(axis) -> None:
    """Log scale with plain numbers (3, 10, 30) instead of overlapping 3x10^0 labels."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    fmt = ScalarFormatter()
    fmt.set_scientific(False)
    axis.set_major_formatter(fmt)
    axis.set_minor_formatter(NullFormatter())


def _thousands():
    """Axis numbers with thousands separators (1,200,000, not 1.2e6)."""
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: f"{v:,.0f}")


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path


def training_curves(v: ReportView, out: Path) -> Path | None:
    ok = [t for t in v.figures.ok_trainings if t.epochs]
    if not ok:
        return None
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    for t in ok:
        ep = [e.epoch for e in t.epochs]
        style = "-" if t.mode == "eager" else "--"
        color, label = colour(t.framework), plot_label(run_label(t, v.r))
        ax1.plot(ep, [e.loss for e in t.epochs], style, marker="o", color=color, label=label)
        ax2.plot(ep, [e.accuracy for e in t.epochs], style, marker="o", color=color, label=label)
    ax1.set(xlabel="epoch", ylabel="training loss", title="Training loss (running, per epoch)")
    ax2.set(xlabel="epoch", ylabel="training accuracy", title="Training accuracy (running, per epoch)")
    ax1.legend()
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.set_xticks(ep)
    return _save(fig, out / "training_curves.png")


def training_times(v: ReportView, out: Path) -> Path | None:
    ok = [t for t in v.figures.ok_trainings if t.timing]
    if not ok:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 0.6 + 0.55 * len(ok)))
    from edgebench.measure.stats import center

    labels, means, lo, hi = [], [], [], []
    for t in ok:
        s = t.timing.train_time_s
        c = center(s)
        labels.append(plot_label(run_label(t, v.r)))
        means.append(c)
        # Never below zero: the interval of a geometric mean is positive; an older run's mean
        # interval is cut at zero.
        lo.append(c - max(s["ci_low"] if s.get("ci_low") is not None else c, 0.0))
        hi.append((s["ci_high"] if s.get("ci_high") is not None else c) - c)
    y = np.arange(len(ok))
    ax.barh(y, means, xerr=[lo, hi], capsize=4, color=[colour(t.framework) for t in ok])
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    n = ok[0].timing.train_time_s["n"]
    xlabel = "training time (s)"
    limit = v.flop_bound_s
    if limit is not None:
        ax.axvline(limit, color="black", ls=":")
        xlabel += f"; dotted: FLOP-bound time at this machine's GEMM peak ({limit:.2f} s)"
    what = "geometric mean" if ok[0].timing.train_time_s.get("geomean") is not None else "mean"
    ax.set(xlabel=xlabel, title=f"Training time, {what} and 95% CI (n={n} each)")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, out / "training_times.png")


def size_vs_accuracy(v: ReportView, out: Path) -> Path | None:
    fig = size_vs_accuracy_figure(v)
    return None if fig is None else _save(fig, out / "size_vs_accuracy.png")


def size_vs_accuracy_figure(v: ReportView):
    """Each artifact a marker (colour: framework, shape: format) and a number; artifacts on the
    same spot (all float32 files of one model are the same size and accuracy) share one label,
    "1,4,7", and the legend beside the plot names every number, so no two labels lie on top of
    each other."""
    arts = [x for x in v.artifacts if x.fig.checked]
    if not arts:
        return None
    # Test images without labels (deploy on an .npz without y_test): agreement with the source.
    labelled = all(x.fig.host.test_accuracy is not None for x in arts)
    key = "test_accuracy" if labelled else "agreement"
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 4.8))
    markers = dict(zip(registry.formats(), "os^Dv<>ph"))  # one per format, in the registry's order
    spots: dict[tuple, list[int]] = {}
    for i, x in enumerate(arts, start=1):
        a = x.fig.artifact
        kb, y = x.fig.size_kb, getattr(x.fig.host, key)
        ax.scatter(kb, y, marker=markers.get(a.format, "x"), s=45, color=colour(a.framework),
                   label=plot_label(f"{i}  {x.source} {x.kind}"))
        spots.setdefault((float(f"{kb:.3g}"), round(float(y), 4)), []).append(i)
    # One label per spot; neighbouring spots alternate above and below their marker.
    for n, ((kb, y), numbers) in enumerate(sorted(spots.items())):
        ax.annotate(",".join(map(str, numbers)), (kb, y), fontsize=7, xytext=(5, 4 if n % 2 == 0 else -11),
                    textcoords="offset points")
    ax.set_xscale("log")
    _plain_log_axis(ax.xaxis)
    ax.set(xlabel="artifact size (KB, log scale)",
           ylabel="test accuracy on its runtime" if labelled else "top-1 agreement with the source model",
           title="Size vs accuracy of every artifact" if labelled else "Size vs agreement of every artifact")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, handletextpad=0.3,
              ncol=1 if len(arts) <= 18 else 2)
    return fig


def latency_distributions(v: ReportView, run_dir: Path, out: Path) -> Path | None:
    arts = [x for x in v.artifacts if x.fig.checked and x.fig.host.latency_raw]
    data, labels = [], []
    for x in arts:
        f = run_dir / x.fig.host.latency_raw
        if f.exists():
            data.append(np.load(f) / 1000.0)  # ns -> us
            labels.append(plot_label(f"{x.label} ({x.runtime})"))
    if not data:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 0.8 + 0.38 * len(data)))
    ax.boxplot(data, orientation="horizontal", showfliers=False, whis=(1, 99))
    ax.set_yticks(np.arange(1, len(labels) + 1), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    _plain_log_axis(ax.xaxis)
    ax.set(xlabel="batch-1 latency (us, log scale); box: p25-p75, whiskers: p1-p99",
           title="Latency of every artifact on its runtime")
    ax.grid(axis="x", alpha=0.3, which="both")
    return _save(fig, out / "latency.png")


def confusion_matrices(v: ReportView, out: Path) -> Path | None:
    ok = [t for t in v.figures.ok_trainings if t.confusion_matrix and t.mode == v.config.get("modes", ["eager"])[0]]
    if not ok:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(ok), figsize=(3.6 * len(ok), 3.4), squeeze=False)
    for ax, t in zip(axes[0], ok):
        cm = np.asarray(t.confusion_matrix)
        ax.imshow(np.log1p(cm), cmap="Blues")
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=5.5,
                            color="white" if i == j else "black")
        ax.set(xlabel="predicted", ylabel="true", title=plot_label(f"{run_label(t, v.r)}: {t.test_accuracy:.4f}"))
        ax.set_xticks(range(cm.shape[1]))
        ax.set_yticks(range(cm.shape[0]))
        ax.tick_params(labelsize=6)
    return _save(fig, out / "confusion.png")


def firmware_layers(v: ReportView, out: Path) -> Path | None:
    """Instructions per layer of the chosen firmware build (figures.chart_build), each bar annotated
    with its instructions per MAC."""
    x = v.figures.chart_build
    if x is None:
        return None
    b = x.build
    layers = b["layers"]
    counts = [layer["instructions"] for layer in layers]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 1.7 + 0.3 * len(layers)))
    y = np.arange(len(layers))
    ax.barh(y, counts, color="#2f6fde")
    ax.set_yticks(y, [plot_label(f"{layer['index']} {layer['op']}") for layer in layers], fontsize=7)
    ax.invert_yaxis()
    for i, layer in enumerate(layers):
        ipm = layer.get("instructions_per_mac")
        ax.annotate(f"{ipm:.2f} / MAC" if ipm is not None else "no MACs", (counts[i], i), xytext=(4, 0),
                    textcoords="offset points", va="center", fontsize=7)
    ax.set_xlim(0, max(counts, default=0) * 1.18 or 1)
    opts = ", ".join(x.opts)
    ax.set_xlabel(f"instructions per inference (QEMU -icount, exact to {b.get('instruction_resolution') or 1}); "
                  "beside each bar: instructions per MAC", fontsize=8)
    ax.set_title(plot_label(f"Instructions per layer: {artifact_label(x.artifact)}") + "\n" +
                 plot_label(f"on {b['board'].split(' (')[0]} ({b.get('core')}, {opts}), {b['instructions']:,} in all"),
                 fontsize=9)
    ax.xaxis.set_major_formatter(_thousands())
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, out / "firmware_layers.png")


def layer_sqnr(v: ReportView, out: Path) -> Path | None:
    """SQNR per layer (whole tensor), one line per artifact and runtime, layers in the source model's
    order; an unmatched layer leaves a gap, an identical one is drawn at the top of the axis."""
    tables = [t for t in v.layer_tables if t.records]
    against_source = [t for t in tables if (t.result.layers or {}).get("reference", "source") == "source"]
    tables = against_source or tables  # a run's: the source model's layers; a deploy's: runtime pairs
    if not tables:
        return None
    layers = list(dict.fromkeys(r["layer"] for t in tables for r in t.records))
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(layers) + 3), 4.2))
    finite = [float(r["sqnr_db"]) for t in tables for r in t.records
              if isinstance(r.get("sqnr_db"), (int, float)) and np.isfinite(r["sqnr_db"])]
    top = max(finite, default=60.0) + 10
    for t in tables:
        by = {r["layer"]: r for r in t.records}
        ys = []
        for name in layers:
            s = by.get(name, {}).get("sqnr_db")
            ys.append(top if s == "inf" else float(s) if isinstance(s, (int, float)) else np.nan)
        ax.plot(range(len(layers)), ys, marker="o", markersize=3, linewidth=1.2, label=plot_label(t.label))
        jump = next((i for i, name in enumerate(layers) if by.get(name, {}).get("first_jump")), None)
        if jump is not None:
            ax.plot([jump], [ys[jump]], marker="x", markersize=9, color="black")
    ax.set_xticks(range(len(layers)), [plot_label(n) for n in layers], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("SQNR against the source model (dB)", fontsize=8)
    ax.set_title("Per-layer error (x: where the error first jumps)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc="best")
    return _save(fig, out / "layer_sqnr.png")


def draw_all(v: ReportView, run_dir: Path) -> dict[str, str]:
    """Every figure into run_dir/plots/; returns {name: path relative to run_dir}."""
    out = run_dir / "plots"
    out.mkdir(exist_ok=True)
    made = {
        "training_curves": training_curves(v, out),
        "training_times": training_times(v, out),
        "size_vs_accuracy": size_vs_accuracy(v, out),
        "latency": latency_distributions(v, run_dir, out),
        "confusion": confusion_matrices(v, out),
        "firmware_layers": firmware_layers(v, out),
        "layer_sqnr": layer_sqnr(v, out),
    }
    return {k: str(p.relative_to(run_dir)) for k, p in made.items() if p is not None}
