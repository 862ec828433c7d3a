"""Statistics of raw timing samples, computed in one place."""

from __future__ import annotations

import numpy as np


def summarize_ns(samples_ns) -> dict:
    """Summary in milliseconds of per-call durations given in nanoseconds."""
    ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
    if ms.size == 0:
        return {"n": 0}
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {
        "n": int(ms.size),
        "mean": float(ms.mean()),
        "std": float(ms.std(ddof=1)) if ms.size > 1 else 0.0,
        "min": float(ms.min()),
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "max": float(ms.max()),
    }


def mean_ci(values, confidence: float = 0.95) -> dict:
    """Mean, sample std and the Student-t confidence interval of the mean (scipy.stats)."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    n = int(x.size)
    out = {"n": n, "mean": float(x.mean()) if n else None, "min": float(x.min()) if n else None,
           "max": float(x.max()) if n else None, "values": x.tolist()}
    if n >= 2:
        std = float(x.std(ddof=1))
        low, high = (stats.t.interval(confidence, n - 1, loc=out["mean"], scale=stats.sem(x)) if std > 0
                     else (out["mean"], out["mean"]))
        out.update(std=std, ci_low=float(low), ci_high=float(high), confidence=confidence)
    else:
        out.update(std=None, ci_low=None, ci_high=None, confidence=confidence)
    return out


def diff_ci(a, b, confidence: float = 0.95) -> dict:
    """Difference of means a - b with Welch's t interval (unequal variances) and its p-value
    (scipy.stats.ttest_ind with equal_var=False)."""
    from scipy import stats

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    diff = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return {"diff": diff, "ci_low": None, "ci_high": None, "p_value": None, "significant": None,
                "confidence": confidence}
    if a.var(ddof=1) + b.var(ddof=1) == 0.0:  # no spread at all: the t statistic is undefined
        return {"diff": diff, "ci_low": diff, "ci_high": diff, "p_value": 0.0 if diff else 1.0,
                "significant": diff != 0.0, "confidence": confidence}
    t = stats.ttest_ind(a, b, equal_var=False)
    ci = t.confidence_interval(confidence)
    low, high = float(ci.low), float(ci.high)
    return {"diff": diff, "ci_low": low, "ci_high": high, "p_value": float(t.pvalue),
            "significant": bool(low > 0 or high < 0), "confidence": confidence, "dof": float(t.df)}
