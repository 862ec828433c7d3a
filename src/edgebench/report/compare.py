"""Side-by-side diff of two runs: training times with the significance of the change, accuracies,
artifact sizes and latencies."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgebench.measure.stats import diff_ci
from edgebench.report.escape import escape_tree
from edgebench.report.markdown import _table, run_label


def _times(t: dict) -> list[float]:
    reps = [x["train_time_s"] for x in t.get("repeats", []) if x.get("status") == "ok"]
    return reps or ([t["train_time_s"]] if t.get("train_time_s") is not None else [])


def compare(a: dict, b: dict, dir_a: Path, dir_b: Path) -> dict:
    trainings = []
    ta = {(t["framework"], t.get("mode", "eager")): t for t in a.get("trainings", []) if t["status"] == "ok"}
    tb = {(t["framework"], t.get("mode", "eager")): t for t in b.get("trainings", []) if t["status"] == "ok"}
    for key in [k for k in ta if k in tb]:
        x, y = _times(ta[key]), _times(tb[key])
        d = diff_ci(y, x)  # positive: B is slower than A
        trainings.append({"framework": key[0], "mode": key[1], "a_time_s": float(np.mean(x)), "b_time_s": float(np.mean(y)),
                          "ratio": float(np.mean(y) / np.mean(x)), "n_a": len(x), "n_b": len(y), "change": d,
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


def render(c: dict, a: dict) -> str:
    """compare.md; names and paths are escaped here, once."""
    c, a = escape_tree(c), escape_tree(a)
    out = ["# edgebench compare", "", f"A: {c['a']}  ", f"B: {c['b']}", "", "## Training", ""]
    rows = []
    for t in c["trainings"]:
        d = t["change"]
        if d.get("ci_low") is None:
            sig = "n/a (one run on a side)"
        else:
            sig = (f"{'slower' if d['diff'] > 0 else 'faster'}, 95% CI [{d['ci_low']:+.2f}, {d['ci_high']:+.2f}] s, "
                   f"p = {d['p_value']:.2g}" if d["significant"] else f"no significant change (p = {d['p_value']:.2g})")
        rows.append([run_label({"framework": t["framework"], "mode": t["mode"]}, a), f"{t['a_time_s']:.2f} (n={t['n_a']})",
                     f"{t['b_time_s']:.2f} (n={t['n_b']})", f"{t['ratio']:.3f}", sig, f"{t['a_accuracy']:.4f}",
                     f"{t['b_accuracy']:.4f}"])
    out.append(_table(["Framework", "A time (s)", "B time (s)", "B / A", "Change in B", "A accuracy", "B accuracy"], rows)
               if rows else "No training in common.")
    out += ["", "## Artifacts", ""]
    rows = []
    for x in c["artifacts"]:
        fw, fmt, prec = x["artifact"]
        lat = (f"{x['a_p50_ms'] * 1000:.1f} -> {x['b_p50_ms'] * 1000:.1f}" if x["a_p50_ms"] and x["b_p50_ms"] else "-")
        p = x["latency_p_value"]
        rows.append([f"{fw} {fmt} {prec}", f"{x['a_size']:,} -> {x['b_size']:,}",
                     f"{x['a_accuracy']:.4f} -> {x['b_accuracy']:.4f}", lat,
                     "-" if p is None else (f"p = {p:.2g}" + (" (changed)" if p < 0.05 else ""))])
    out.append(_table(["Artifact", "Size (bytes)", "Accuracy", "p50 latency (us)", "Latency change (Mann-Whitney)"],
                      rows) if rows else "No artifact in common.")
    for side in ("a", "b"):
        if c[f"only_in_{side}"]:
            out.append(f"\nOnly in {side.upper()}: " + ", ".join(" ".join(k) for k in c[f"only_in_{side}"]))
    return "\n".join(out) + "\n"
