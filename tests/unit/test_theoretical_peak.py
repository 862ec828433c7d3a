"""The theoretical GEMM peak, from the CPU's facts alone: given where the clock and a known vector
unit can be read, None where either cannot (a VM may hide both), so a report never shows a guess."""

import pytest

from edgebench.measure import speed


def _cpu(monkeypatch, flags: set[str], ghz: float | None) -> None:
    monkeypatch.setattr(speed, "_cpu_facts", lambda: (flags, ghz, "test" if ghz else None))


@pytest.mark.parametrize("flags, vector, lanes", [({"avx512f", "avx2", "fma"}, "AVX-512", 16),
                                                  ({"avx2", "fma"}, "AVX2+FMA", 8),
                                                  ({"asimd"}, "NEON (Advanced SIMD)", 4)])
def test_the_peak_is_cores_lanes_fma_and_clock(monkeypatch, flags, vector, lanes):
    _cpu(monkeypatch, flags, 3.0)
    th = speed.theoretical_peak(1)
    assert th["vector"] == vector and th["cores"] == 1 and th["flops_per_cycle_per_core"] == lanes * 2 * 2
    assert th["gflops"] == pytest.approx(lanes * 2 * 2 * 3.0) and th["frequency_source"] == "test"


@pytest.mark.parametrize("flags, ghz", [({"avx2", "fma"}, None), ({"sse4_2"}, 3.0), (set(), None)])
def test_no_peak_where_the_clock_or_the_vector_unit_cannot_be_read(monkeypatch, flags, ghz):
    _cpu(monkeypatch, flags, ghz)
    assert speed.theoretical_peak(1) is None
