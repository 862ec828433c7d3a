"""`edgebench compare`'s statistics: ratios with intervals and a verdict against a
practical-equivalence band, not a p-value. Its output through the CLI (a pipe, a narrow terminal)
is in tests/integration/test_compare_cli.py."""

import numpy as np

from edgebench.report.compare import block_medians, latency_ratio, verdict


def test_verdicts_follow_the_band_and_the_interval():
    assert verdict(1.0, 0.9, 1.1, 0.03, "time") == "same"  # wide interval, no change in the estimate
    assert verdict(1.02, 1.01, 1.03, 0.03, "time") == "same"  # significant but inside the band
    assert verdict(1.25, 1.15, 1.35, 0.03, "time") == "slower"
    assert verdict(0.80, 0.70, 0.90, 0.03, "time") == "faster"
    assert verdict(1.10, 0.95, 1.27, 0.03, "time") == "unclear"  # outside the band, interval holds 1
    assert verdict(1.25, 1.15, 1.35, 0.03, "throughput") == "faster"
    assert verdict(0.5, None, None, 0.03, "size") == "smaller"
    assert verdict(0.002, -0.004, 0.008, 0.005, "accuracy", centre=0.0) == "same"
    assert verdict(-0.02, -0.03, -0.01, 0.005, "accuracy", centre=0.0) == "lower"


def test_many_latency_samples_of_the_same_machine_are_the_same_not_significant():
    """The old compare ran Mann-Whitney on ~380,000 calls and called a 0.3% shift 'changed'."""
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(0)
    a = rng.lognormal(np.log(2600), 0.05, 380_000)
    b = rng.lognormal(np.log(2600 * 1.003), 0.05, 380_000)
    assert mannwhitneyu(a, b).pvalue < 0.05  # what the old verdict read
    d = latency_ratio(a, b, "time", 0.03)
    assert d["verdict"] == "same" and d["ci_low"] < 1.003 < d["ci_high"]
    slow = latency_ratio(a, a * 1.10, "time", 0.03)
    assert slow["verdict"] == "slower" and slow["ci_low"] > 1.05
    assert latency_ratio(a, a * 1.10, "throughput", 0.03)["verdict"] == "slower"  # fewer images per second


def test_block_medians_widen_the_interval_when_calls_drift():
    """Correlated samples (a slow spell in the middle of a window) give a wider interval than
    independent ones with the same spread."""
    rng = np.random.default_rng(1)
    steady = rng.lognormal(np.log(1000), 0.05, 40_000)
    drift = steady * np.repeat([1.0, 1.15, 1.0, 1.15], 10_000)
    calm = latency_ratio(steady, steady, "time", 0.03)
    moving = latency_ratio(steady, drift, "time", 0.03)
    assert (moving["ci_high"] - moving["ci_low"]) > 3 * (calm["ci_high"] - calm["ci_low"])
    assert len(block_medians(steady)) == 20
