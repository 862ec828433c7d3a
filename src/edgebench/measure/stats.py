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
    """Mean, sample std and the Student-t confidence interval of the mean."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    n = int(x.size)
    out = {"n": n, "mean": float(x.mean()) if n else None, "min": float(x.min()) if n else None,
           "max": float(x.max()) if n else None, "values": x.tolist()}
    if n >= 2:
        std = float(x.std(ddof=1))
        half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * std / np.sqrt(n))
        out.update(std=std, ci_low=out["mean"] - half, ci_high=out["mean"] + half, confidence=confidence)
    else:
        out.update(std=None, ci_low=None, ci_high=None, confidence=confidence)
    return out


def diff_ci(a, b, confidence: float = 0.95) -> dict:
    """Difference of means a - b with Welch's t interval (unequal variances) and its p-value."""
    from scipy import stats

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    diff = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return {"diff": diff, "ci_low": None, "ci_high": None, "p_value": None, "significant": None,
                "confidence": confidence}
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = float(np.sqrt(va + vb))
    if se == 0.0:
        return {"diff": diff, "ci_low": diff, "ci_high": diff, "p_value": 0.0 if diff else 1.0,
                "significant": diff != 0.0, "confidence": confidence}
    dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, dof) * se)
    p = float(2 * stats.t.sf(abs(diff) / se, dof))
    return {"diff": diff, "ci_low": diff - half, "ci_high": diff + half, "p_value": p,
            "significant": bool(diff - half > 0 or diff + half < 0), "confidence": confidence, "dof": float(dof)}
