"""Side-by-side diff of two runs: training times with the significance of the change, accuracies,
artifact sizes and latencies."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgebench.measure.stats import ratio_ci
from edgebench.report.markdown import render_template
from edgebench.report.view import DASH, fmt, join, own, run_label


def _times(t: dict) -> list[float]:
    reps = [x["train_time_s"] for x in t.get("repeats", []) if x.get("status") == "ok"]
    return reps or ([t["train_time_s"]] if t.get("train_time_s") is not None else [])


def compare(a: dict, b: dict, dir_a: Path, dir_b: Path) -> dict:
    trainings = []
    ta = {(t["framework"], t.get("mode", "eager")): t for t in a.get("trainings", []) if t["status"] == "ok"}
    tb = {(t["framework"], t.get("mode", "eager")): t for t in b.get("trainings", []) if t["status"] == "ok"}
    for key in [k for k in ta if k in tb]:
        x, y = _times(ta[key]), _times(tb[key])
        d = ratio_ci(y, x)  # B's time over A's: above 1, B is slower
        trainings.append({"framework": key[0], "mode": key[1], "a_time_s": _geomean(x), "b_time_s": _geomean(y),
                          "ratio": d["ratio"], "n_a": len(x), "n_b": len(y), "change": d,
                          "a_accuracy": ta[key]["test_accuracy"], "b_accuracy": tb[key]["test_accuracy"]})
    artifacts = []
    aa = {(x["framework"], x["format"], x["precision"]): x for x in a.get("artifacts", []) if x["status"] == "ok"}
    ab = {(x["framework"], x["format"], x["precision"]): x for x in b.get("artifacts", []) if x["status"] == "ok"}
    for key in [k for k in aa if k in ab]:
        x, y = aa[key], ab[key]
        row = {"artifact": key, "a_size": x.get("size_bytes"), "b_size": y.get("size_bytes"),
               "a_accuracy": x.get("test_accuracy"), "b_accuracy": y.get("test_accuracy"),
               "a_p50_ms": (x.get("latency_ms") or {}).get("p50"), "b_p50_ms": (y.get("latency_ms") or {}).get("p50"),
               "latency_p_value": None}
        fa, fb = dir_a / str(x.get("latency_raw")), dir_b / str(y.get("latency_raw"))
        if x.get("latency_raw") and y.get("latency_raw") and fa.exists() and fb.exists():
            from scipy.stats import mannwhitneyu

            # Raw per-call samples: a rank test needs no normality and is robust to the long tail.
            row["latency_p_value"] = float(mannwhitneyu(np.load(fa), np.load(fb)).pvalue)
        artifacts.append(row)
    return {"a": str(dir_a), "b": str(dir_b), "trainings": trainings, "artifacts": artifacts,
            "only_in_a": sorted(map(list, set(aa) - set(ab))), "only_in_b": sorted(map(list, set(ab) - set(aa)))}


def _geomean(x: list[float]) -> float:
    """Times are positive and skewed: their geometric mean, as runs report them."""
    return float(np.exp(np.mean(np.log(x))))


def _change(d: dict):
    if d.get("ci_low") is None:
        return own("n/a (one run on a side)")
    if d["significant"]:
        return fmt("{}: B/A {:.3f}, 95% CI [{:.3f}, {:.3f}] (Welch t on log times), p = {:.2g}",
                   own("slower" if d["ratio"] > 1 else "faster"), d["ratio"], d["ci_low"], d["ci_high"], d["p_value"])
    return fmt("no significant change: B/A 95% CI [{:.3f}, {:.3f}] (p = {:.2g})", d["ci_low"], d["ci_high"],
               d["p_value"])


def render(c: dict, a: dict) -> str:
    """compare.md, through report.md's Markdown environment: names and paths escaped there."""
    trainings = [[run_label({"framework": t["framework"], "mode": t["mode"]}, a),
                  fmt("{:.2f} (n={})", t["a_time_s"], t["n_a"]), fmt("{:.2f} (n={})", t["b_time_s"], t["n_b"]),
                  fmt("{:.3f}", t["ratio"]), _change(t["change"]), fmt("{:.4f}", t["a_accuracy"]),
                  fmt("{:.4f}", t["b_accuracy"])] for t in c["trainings"]]
    artifacts = []
    for x in c["artifacts"]:
        p = x["latency_p_value"]
        artifacts.append([
            join(" ", x["artifact"]), fmt("{:,} -> {:,}", x["a_size"], x["b_size"]),
            fmt("{:.4f} -> {:.4f}", x["a_accuracy"], x["b_accuracy"]),
            fmt("{:.1f} -> {:.1f}", x["a_p50_ms"] * 1000, x["b_p50_ms"] * 1000) if x["a_p50_ms"] and x["b_p50_ms"]
            else DASH,
            DASH if p is None else fmt("p = {:.2g}{}", p, own(" (changed)" if p < 0.05 else ""))])
    only = [(side.upper(), join(", ", (join(" ", k) for k in c[f"only_in_{side}"])))
            for side in ("a", "b") if c[f"only_in_{side}"]]
    return render_template("compare.md.j2", a=c["a"], b=c["b"], trainings=trainings, artifacts=artifacts, only=only)
