"""Side-by-side diff of two runs: for each figure the ratio B/A (or, for accuracy, the difference)
with a 95% interval computed the way its samples were taken, and a verdict in words against a
practical-equivalence band: faster / slower / same / unclear. p-values stay in the data, never
the verdict: with 380,000 latency calls a rank test calls any shift "significant".

Verdict (times; throughput and size read the same way with their own words):
- same: the estimate lies within the band (|B/A - 1| <= band);
- faster / slower: the estimate lies outside the band and the interval excludes 1;
- unclear: the estimate lies outside the band but the interval includes 1 (too few or too noisy
  samples to tell; more repeats would).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from edgebench.measure.stats import ratio_ci
from edgebench.report.figures import Side
from edgebench.report.markdown import render_template
from edgebench.report.text import DASH, fmt, own
from edgebench.report.view import run_label
from edgebench.results.schema import Artifact, RunResults, Training

BAND = 0.03  # +-3%: inside it, two figures are the same for practical purposes
ACCURACY_BAND = 0.005  # +-0.5 percentage points of test accuracy
BLOCKS = 20  # latency: consecutive blocks of calls, one median each

WORDS = {"time": ("faster", "slower"), "throughput": ("slower", "faster"), "size": ("smaller", "larger"),
         "accuracy": ("lower", "higher")}


def verdict(estimate: float | None, low: float | None, high: float | None, band: float, kind: str,
            centre: float = 1.0) -> str:
    """kind: time / throughput / size (ratios, centre 1) or accuracy (a difference, centre 0)."""
    if estimate is None:
        return "n/a"
    down, up = WORDS[kind]
    if abs(estimate - centre) <= band * (1 if kind == "accuracy" else centre):
        return "same"
    if low is None or high is None:  # no interval: an exact figure (a size), or one value a side
        return (down if estimate < centre else up) if kind == "size" else "unclear"
    if high < centre:
        return down
    if low > centre:
        return up
    return "unclear"


def _counted(t: Training, key: str) -> list[float]:
    """The figure over the repeats the run's statistics counted (warm-ups out)."""
    ok = [x for x in t.repeats if x.status == "ok" and getattr(x, key) is not None]
    counted = [x for x in ok if not x.warmup] or ok
    vals = [getattr(x, key) for x in counted]
    if not vals and key == "train_time_s" and t.train_time_s is not None:
        vals = [t.train_time_s]
    return vals


def _ratio(a: list[float], b: list[float], kind: str, band: float) -> dict:
    d = ratio_ci(b, a)  # B over A: above 1, B takes longer
    out = {"a": _geomean(a), "b": _geomean(b), "n_a": len(a), "n_b": len(b), "ratio": d["ratio"],
           "ci_low": d["ci_low"], "ci_high": d["ci_high"], "p_value": d["p_value"],
           "method": "ratio of geometric means over the repeats, Welch t on log times"}
    out["verdict"] = verdict(out["ratio"], out["ci_low"], out["ci_high"], band, kind)
    return out


def block_medians(samples: np.ndarray, blocks: int = BLOCKS) -> np.ndarray:
    """The medians of `blocks` runs of consecutive calls: successive calls are correlated (caches,
    frequency, a neighbour's burst), so the blocks, not the calls, are the independent units."""
    parts = np.array_split(np.asarray(samples, dtype=np.float64), blocks)
    return np.array([np.median(p) for p in parts if len(p)])


def latency_ratio(a: np.ndarray, b: np.ndarray, kind: str, band: float, confidence: float = 0.95) -> dict:
    """Ratio of medians B/A with an interval from the spread of the block medians (Welch t on
    their logs, as ratio_ci, centred on the ratio of the overall medians)."""
    ratio = float(np.median(b)) / float(np.median(a))
    blocks = ratio_ci(block_medians(b), block_medians(a), confidence)
    shift = ratio / blocks["ratio"]
    low, high = blocks["ci_low"] * shift, blocks["ci_high"] * shift
    if kind == "throughput":  # images per second: the inverse of the batch time
        ratio, low, high = 1 / ratio, 1 / high, 1 / low
    out = {"ratio": ratio, "ci_low": low, "ci_high": high, "n_a": int(len(a)), "n_b": int(len(b)),
           "method": f"ratio of medians over all calls; interval from {BLOCKS} blocks of consecutive calls per "
                     "run (Welch t on log block medians)"}
    out["verdict"] = verdict(ratio, low, high, band, kind)
    return out


def _timed(raw_a, raw_b, a, b, kind: str, band: float, keys: tuple[str, str], recorded: str) -> dict | None:
    """A latency or throughput figure of two runs: from their raw samples when both have enough,
    else the ratio of the recorded figures without an interval, else None."""
    ka, kb = keys
    if raw_a is not None and raw_b is not None and min(len(raw_a), len(raw_b)) >= 2 * BLOCKS:
        return {ka: a, kb: b, **latency_ratio(raw_a, raw_b, kind, band)}
    if not (a and b):
        return None
    r = b / a  # as recorded: ms for latency, images per second for throughput
    return {ka: a, kb: b, "ratio": r, "ci_low": None, "ci_high": None, "verdict": verdict(r, None, None, band, kind),
            "method": f"ratio of the recorded {recorded} (raw samples missing: no interval)"}


def accuracy_diff(a: float | None, b: float | None, n_a: int | None, n_b: int | None, band: float) -> dict:
    """B - A in accuracy with a 95% Wald interval for two proportions (treating the two test passes
    as independent: wider than a paired interval on the same test set, so on the safe side)."""
    if a is None or b is None:
        return {"a": a, "b": b, "diff": None, "ci_low": None, "ci_high": None, "verdict": "n/a"}
    diff = b - a
    low = high = None
    if n_a and n_b:
        se = math.sqrt(a * (1 - a) / n_a + b * (1 - b) / n_b)
        low, high = diff - 1.96 * se, diff + 1.96 * se
    return {"a": a, "b": b, "diff": diff, "ci_low": low, "ci_high": high,
            "verdict": verdict(diff, low, high, band, "accuracy", centre=0.0)}


def _raw(folder: Path, rel: str | None) -> np.ndarray | None:
    """A run's raw samples, or None when missing or unreadable (then: the medians, no interval)."""
    if not rel:
        return None
    try:
        x = np.load(folder / rel, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    return x if x.ndim == 1 and x.dtype.kind in "iuf" and len(x) else None


def _trainings(a: RunResults, b: RunResults, band: float, accuracy_band: float) -> list[dict]:
    ta = {(t.framework, t.mode): t for t in a.trainings if t.status == "ok"}
    tb = {(t.framework, t.mode): t for t in b.trainings if t.status == "ok"}
    out = []
    for key in [k for k in ta if k in tb]:
        x, y = ta[key], tb[key]
        row = {"framework": key[0], "mode": key[1],
               "train_time_s": _ratio(_counted(x, "train_time_s"), _counted(y, "train_time_s"), "time", band)}
        sa, sb = _counted(x, "steady_epoch_s"), _counted(y, "steady_epoch_s")
        row["steady_epoch_s"] = _ratio(sa, sb, "time", band) if sa and sb else None
        row["test_accuracy"] = accuracy_diff(x.test_accuracy, y.test_accuracy, x.test_samples, y.test_samples,
                                             accuracy_band)
        out.append(row)
    return out


def _artifact(x: Artifact, y: Artifact, dir_a: Path, dir_b: Path, band: float, accuracy_band: float) -> dict:
    """Two runs' figures of one artifact on its host runtime."""
    row = {"artifact": list(x.key)}
    sx, sy = x.size_bytes, y.size_bytes
    row["size_bytes"] = ({"a": sx, "b": sy, "ratio": sy / sx, "ci_low": None, "ci_high": None,
                          "verdict": "same" if sx == sy else verdict(sy / sx, None, None, 0.0, "size")}
                         if sx and sy else None)
    rx, ry = x.result(), y.result()
    if rx is None or ry is None:  # exported, never run on its runtime: only the file to compare
        return {**row, "test_accuracy": accuracy_diff(None, None, None, None, accuracy_band), "p50_latency": None,
                "throughput": None}
    row["test_accuracy"] = accuracy_diff(rx.test_accuracy, ry.test_accuracy, rx.test_samples, ry.test_samples,
                                         accuracy_band)
    la, lb = _raw(dir_a, rx.latency_raw), _raw(dir_b, ry.latency_raw)
    row["p50_latency"] = _timed(la, lb, (rx.latency_ms or {}).get("p50"), (ry.latency_ms or {}).get("p50"), "time",
                                band, ("a_ms", "b_ms"), "medians")
    if row["p50_latency"] and row["p50_latency"]["ci_low"] is not None:
        from scipy.stats import mannwhitneyu

        row["p50_latency"]["p_value_mann_whitney"] = float(mannwhitneyu(la, lb).pvalue)  # kept, not the verdict
    tx, ty = rx.throughput or {}, ry.throughput or {}
    row["throughput"] = _timed(_raw(dir_a, tx.get("raw")), _raw(dir_b, ty.get("raw")), tx.get("images_per_s"),
                               ty.get("images_per_s"), "throughput", band, ("a", "b"), "figures")
    return row


def compare(a: RunResults, b: RunResults, dir_a: Path, dir_b: Path, band: float = BAND,
            accuracy_band: float = ACCURACY_BAND) -> dict:
    """Every figure the two runs share, as data (what `compare --format json` prints)."""
    aa = {x.key: x for x in a.artifacts if x.status == "ok"}
    ab = {x.key: x for x in b.artifacts if x.status == "ok"}
    artifacts = [_artifact(aa[k], ab[k], dir_a, dir_b, band, accuracy_band) for k in aa if k in ab]
    return {"a": str(dir_a), "b": str(dir_b), "band": band, "accuracy_band": accuracy_band,
            "trainings": _trainings(a, b, band, accuracy_band), "artifacts": artifacts,
            "only_in_a": sorted(map(list, set(aa) - set(ab))), "only_in_b": sorted(map(list, set(ab) - set(aa))),
            "method": METHOD.format(band=band * 100, acc=accuracy_band * 100, blocks=BLOCKS)}


METHOD = ("B/A is B's figure over A's (times: above 1, B is slower). Verdicts: 'same' when the estimate is "
          "within +-{band:g}% (accuracy: +-{acc:g} points); 'faster'/'slower' (throughput and size alike) when "
          "it is outside that band and the 95% interval excludes no change; 'unclear' when it is outside the "
          "band but the interval includes no change (more repeats would tell). Training times: ratio of "
          "geometric means over the counted repeats (warm-ups out), Welch t on log times. Latency and "
          "throughput: ratio of medians over all timed calls, the interval from the medians of {blocks} blocks "
          "of consecutive calls per run (Welch t on their logs): successive calls are correlated, blocks much "
          "less. Accuracy: B - A in points, Wald interval for two proportions. Size: exact.")


def _geomean(x: list[float]) -> float | None:
    """Times are positive and skewed: their geometric mean, as runs report them."""
    return float(np.exp(np.mean(np.log(x)))) if x else None


# ---- rendering ------------------------------------------------------------------------------------


def _r(d: dict | None, spec: str = ".3f"):
    """'0.987 [0.970, 1.004] same'"""
    if not d or d.get("ratio") is None:
        return DASH
    if d.get("ci_low") is None:
        return fmt("{:" + spec + "} {}", d["ratio"], own(d["verdict"]))
    return fmt("{:" + spec + "} [{:" + spec + "}, {:" + spec + "}] {}", d["ratio"], d["ci_low"], d["ci_high"],
               own(d["verdict"]))


def _acc(d: dict | None):
    if not d or d.get("diff") is None:
        return DASH
    if d.get("ci_low") is None:
        return fmt("{:.4f} -> {:.4f} {}", d["a"], d["b"], own(d["verdict"]))
    return fmt("{:.4f} -> {:.4f} ({:+.2f} [{:+.2f}, {:+.2f}] pt) {}", d["a"], d["b"], d["diff"] * 100,
               d["ci_low"] * 100, d["ci_high"] * 100, own(d["verdict"]))


def _pair(d: dict | None, key_a: str, key_b: str, spec: str, scale: float = 1.0):
    if not d or d.get(key_a) is None or d.get(key_b) is None:
        return DASH
    return fmt("{:" + spec + "} -> {:" + spec + "}", d[key_a] * scale, d[key_b] * scale)


TRAINING_HEADER = ["Framework", "Time A→B (s)", "B/A [95% CI]", "Steady epoch B/A [95% CI]", "Test accuracy"]
ARTIFACT_HEADER = ["Artifact", "Size B/A", "p50 latency A→B (us)", "B/A [95% CI]", "Throughput B/A [95% CI]",
                   "Test accuracy"]


def rows(c: dict, a: RunResults) -> tuple[list[list], list[list]]:
    """The two tables (training, artifacts) as rows of view Text, for Markdown and the terminal;
    `a` (run A's results) says how trainings are named."""
    trainings = [[run_label(Side(t["framework"], t["mode"]), a),
                  _pair(t["train_time_s"], "a", "b", ".2f"), _r(t["train_time_s"]), _r(t["steady_epoch_s"]),
                  _acc(t["test_accuracy"])] for t in c["trainings"]]
    artifacts = []
    for x in c["artifacts"]:
        size = x["size_bytes"]
        artifacts.append([fmt("{} {} {}", *x["artifact"]),
                          fmt("{:.3f} {}", size["ratio"], own(size["verdict"])) if size else DASH,
                          _pair(x["p50_latency"], "a_ms", "b_ms", ".1f", 1000.0), _r(x["p50_latency"]),
                          _r(x["throughput"]), _acc(x["test_accuracy"])])
    return trainings, artifacts


def render(c: dict, a: RunResults) -> str:
    """compare.md, through report.md's Markdown environment: names and paths escaped there."""
    trainings, artifacts = rows(c, a)
    only = [(side.upper(), ", ".join(" ".join(k) for k in c[f"only_in_{side}"]))
            for side in ("a", "b") if c[f"only_in_{side}"]]
    return render_template("compare.md.j2", a=c["a"], b=c["b"], trainings=trainings, artifacts=artifacts, only=only,
                           training_header=TRAINING_HEADER, artifact_header=ARTIFACT_HEADER, method=c["method"])


def to_csv(c: dict) -> str:
    """One line per figure: scripts read this (`compare --format csv`)."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["kind", "name", "figure", "a", "b", "ratio_or_diff", "ci_low", "ci_high", "verdict"])
    for t in c["trainings"]:
        name = f"{t['framework']} [{t['mode']}]"
        for fig in ("train_time_s", "steady_epoch_s"):
            d = t[fig]
            if d:
                w.writerow(["training", name, fig, d["a"], d["b"], d["ratio"], d["ci_low"], d["ci_high"], d["verdict"]])
        d = t["test_accuracy"]
        w.writerow(["training", name, "test_accuracy", d["a"], d["b"], d["diff"], d["ci_low"], d["ci_high"], d["verdict"]])
    for x in c["artifacts"]:
        name = " ".join(x["artifact"])
        for fig, ka, kb in (("size_bytes", "a", "b"), ("p50_latency", "a_ms", "b_ms"), ("throughput", "a", "b")):
            d = x[fig]
            if d:
                w.writerow(["artifact", name, fig, d.get(ka), d.get(kb), d["ratio"], d["ci_low"], d["ci_high"],
                            d["verdict"]])
        d = x["test_accuracy"]
        w.writerow(["artifact", name, "test_accuracy", d["a"], d["b"], d["diff"], d["ci_low"], d["ci_high"], d["verdict"]])
    return buf.getvalue()
