"""How a noisy time is worded, from numbers alone (the load readings themselves need a quiet
machine: tests/timing/test_load.py)."""


def test_a_large_spread_is_said_with_the_repeats_that_would_narrow_it():
    from edgebench.measure.stats import stability

    calm = stability([2.00, 2.02, 1.99])
    assert calm["unstable"] is False and calm["repeats_for_5pct"] <= 3
    wild = stability([4.78, 2.18, 2.77])  # the PyTorch repeats
    assert wild["unstable"] is True and wild["cv"] > 0.3 and wild["repeats_for_5pct"] > 20
    # The advice holds: at that spread, n repeats give a half-width within 5% (log scale).
    import numpy as np
    from scipy import stats

    s, n = np.log([4.78, 2.18, 2.77]).std(ddof=1), wild["repeats_for_5pct"]
    assert stats.t.ppf(0.975, n - 1) * s / np.sqrt(n) <= np.log(1.05) < stats.t.ppf(0.975, n - 2) * s / np.sqrt(n - 1)
