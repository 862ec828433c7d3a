"""What a newcomer tripped on (issue 27), in-process: boards that name their core and clock, int8
judged by what users judge it by. What is about the CLI itself (help that reflows, `list` that
names what it lists) is in tests/integration/test_newcomer_cli.py."""

import numpy as np
import pytest

from edgebench.measure.parity import compare


def test_a_board_may_name_its_core_and_clock():
    from edgebench.errors import ConfigError
    from edgebench.measure.boards import parse_board

    b = parse_board("mykit:512:128:cortex-m4:64")
    assert (b.name, b.flash_kb, b.ram_kb, b.core, b.clock_mhz, b.arm) == ("mykit", 512, 128, "cortex-m4", 64, True)
    assert parse_board("mykit:512:128").core is None
    with pytest.raises(ConfigError, match="unknown core 'cortex-m99'"):
        parse_board("mykit:512:128:cortex-m99:64")
    with pytest.raises(ConfigError, match="clock_mhz must be a number"):
        parse_board("mykit:512:128:cortex-m4:fast")


def _logits(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    src = rng.normal(0, 3, (n, 10)).astype(np.float32)
    return src, rng.integers(0, 10, n)


def test_int8_is_judged_on_a_high_percentile_of_the_error_and_says_which_criterion_failed():
    src, labels = _logits()
    art = src + np.random.default_rng(1).normal(0, 0.05, src.shape).astype(np.float32)
    art[:2] += 40.0  # two outliers far past the bound; the rest well inside it
    r = compare(src, art, labels, "int8")
    assert r["max_abs_diff"] > r["max_abs_diff_bound"] >= r["p99_9_abs_diff"]
    assert r["within_tolerance"] is True and r["tolerance_failures"] == []
    # float32 keeps its strict bound on the largest error.
    f = compare(src, art, labels, "float32")
    assert f["within_tolerance"] is False and f["tolerance_failures"][0].startswith("largest logit error")
    # Each failed criterion is named.
    bad = src.copy()
    bad[:200] = np.roll(bad[:200], 1, axis=1)  # 200 of 3000 images change class: agreement 93%
    r = compare(src, bad, labels, "int8")
    assert r["within_tolerance"] is False and any(s.startswith("top-1 agreement") for s in r["tolerance_failures"])


def test_values_are_judged_by_their_error_not_top1():
    src, _ = _logits()
    art = np.roll(src, 1, axis=1)  # every argmax moves; the values barely would in a real reconstruction
    art = src + 0.01
    art[:, 0] += 0.02
    r = compare(src, art, None, "int8", task="regression", output_step=0.01)
    assert r["task"] == "regression" and r["within_tolerance"] is True
    assert r["error_distribution"]["max"] == pytest.approx(0.03, abs=1e-5)
    assert r["error_steps_distribution"]["p50"] == pytest.approx(1.0, abs=1e-3)
