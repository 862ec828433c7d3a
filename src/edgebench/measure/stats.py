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


# ---- times: positive and right-skewed ---------------------------------------------------------
# A Student-t interval on the raw mean of three times with one slow repeat reaches below zero
# (seen: 3.24 s, 95% CI [-0.14, 6.62]). Times are compared as ratios and vary multiplicatively, so
# the interval is taken on log times: the geometric mean exp(mean(log t)) with
# exp(mean +- t * sd / sqrt(n)), always positive and asymmetric as the data are. The median and the
# range go beside it; a repeat far from the others is named (slow_repeats).

OUTLIER_RATIO = 1.5  # a repeat 1.5x slower than the median of the others is named


def time_ci(values, confidence: float = 0.95) -> dict:
    """Geometric mean of positive times with its t-interval on log times, plus median, range, the
    arithmetic mean (kept for older readers) and the repeats far from the others."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    n = int(x.size)
    out = {"n": n, "values": x.tolist(), "confidence": confidence,
           "method": "geometric mean with a Student-t interval on log times (positive, asymmetric)"}
    if n == 0:
        return {**out, "mean": None, "geomean": None, "median": None, "min": None, "max": None, "std": None,
                "ci_low": None, "ci_high": None, "outliers": []}
    if (x <= 0).any():  # not a duration: the plain mean interval
        return {**mean_ci(x, confidence), "geomean": None, "median": float(np.median(x)), "outliers": [],
                "method": "mean with a Student-t interval (a value is not positive)"}
    logs = np.log(x)
    gm = float(np.exp(logs.mean()))
    out.update(mean=float(x.mean()), geomean=gm, median=float(np.median(x)), min=float(x.min()),
               max=float(x.max()), std=float(x.std(ddof=1)) if n > 1 else None, outliers=outliers(x))
    if n >= 2:
        sd = float(logs.std(ddof=1))
        if sd > 0:
            lo, hi = stats.t.interval(confidence, n - 1, loc=float(logs.mean()), scale=sd / np.sqrt(n))
            out.update(ci_low=float(np.exp(lo)), ci_high=float(np.exp(hi)))
        else:
            out.update(ci_low=gm, ci_high=gm)
    else:
        out.update(ci_low=None, ci_high=None)
    return out


def outliers(x) -> list[dict]:
    """Slow values: for each, its ratio to the median of the rest; named when that is above
    OUTLIER_RATIO (with three repeats a MAD rule cannot fire: one slow repeat of three sets half the
    deviations). Only the slow side: a busy machine or a cold cache slows a run, nothing speeds one
    up, and with three values the two fast ones would each look fast beside a slow one."""
    x = np.asarray(x, dtype=np.float64)
    if x.size < 3:
        return []
    out = []
    for i, v in enumerate(x):
        rest = float(np.median(np.delete(x, i)))
        ratio = float(v / rest) if rest > 0 else float("inf")
        if ratio > OUTLIER_RATIO:
            out.append({"index": i, "value": float(v), "median_of_others": rest, "ratio": ratio})
    return out


def center(s: dict | None) -> float | None:
    """The headline figure of a time summary: its geometric mean (older results: the mean)."""
    if not s:
        return None
    return s["geomean"] if s.get("geomean") is not None else s.get("mean")


def ratio_ci(a, b, confidence: float = 0.95) -> dict:
    """How many times a's times are b's: the ratio of geometric means with Welch's t interval on
    the difference of mean log times, exponentiated (so the interval is of the ratio), and its
    p-value. significant: the interval excludes 1."""
    from scipy import stats

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    base = {"confidence": confidence, "method": "ratio of geometric means, Welch t on log times"}
    if (a <= 0).any() or (b <= 0).any() or not a.size or not b.size:
        return {**base, "ratio": None, "ci_low": None, "ci_high": None, "p_value": None, "significant": None}
    la, lb = np.log(a), np.log(b)
    ratio = float(np.exp(la.mean() - lb.mean()))
    if len(a) < 2 or len(b) < 2:
        return {**base, "ratio": ratio, "ci_low": None, "ci_high": None, "p_value": None, "significant": None}
    if la.var(ddof=1) + lb.var(ddof=1) == 0.0:
        return {**base, "ratio": ratio, "ci_low": ratio, "ci_high": ratio, "p_value": 0.0 if ratio != 1 else 1.0,
                "significant": ratio != 1.0}
    t = stats.ttest_ind(la, lb, equal_var=False)
    ci = t.confidence_interval(confidence)
    low, high = float(np.exp(ci.low)), float(np.exp(ci.high))
    return {**base, "ratio": ratio, "ci_low": low, "ci_high": high, "p_value": float(t.pvalue),
            "significant": bool(low > 1 or high < 1), "dof": float(t.df)}


UNSTABLE_CV = 0.10  # a coefficient of variation above this: the spread is called large
TARGET_HALF_WIDTH = 0.05  # the interval the advice aims at: the geometric mean within +-5%


def stability(times: list[float], confidence: float = 0.95) -> dict:
    """The spread of a figure over its repeats, in words a reader can act on: its coefficient of
    variation, whether it is large, and how many repeats would bring the 95% interval of the
    geometric mean within +-5% at this spread (Student t on log times)."""
    from scipy import stats

    x = np.asarray([v for v in times if v and v > 0], dtype=np.float64)
    if len(x) < 2:
        return {"n": int(len(x)), "cv": None, "unstable": None, "repeats_for_5pct": None}
    cv = float(x.std(ddof=1) / x.mean())
    s = float(np.log(x).std(ddof=1))
    need = None
    if s > 0:
        target = np.log(1 + TARGET_HALF_WIDTH)
        for n in range(2, 1001):
            if stats.t.ppf(0.5 + confidence / 2, n - 1) * s / np.sqrt(n) <= target:
                need = n
                break
    else:
        need = int(len(x))
    return {"n": int(len(x)), "cv": cv, "unstable": cv > UNSTABLE_CV, "cv_threshold": UNSTABLE_CV,
            "repeats_for_5pct": need, "target_half_width": TARGET_HALF_WIDTH}
