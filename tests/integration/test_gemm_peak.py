"""The GEMM peak comes from the fastest BLAS the machine has: measured in a child with the
variables that force an older OpenBLAS kernel unset (recorded), NumPy and (asked, when) PyTorch tried when
installed, the best named, and the theoretical peak beside it where the CPU can be read."""

from pathlib import Path

import pytest

from edgebench.config import ModelSpec
from edgebench.measure.speed import measure_limits, theoretical_peak


def _flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def test_the_peak_is_measured_without_the_variables_that_slow_the_blas(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "1048576")
    out = measure_limits(ModelSpec().network((28, 28, 1)), 64, 1)
    peak = out["gemm_peak"]
    assert peak["environment"]["unset_for_this_measurement"] == {"OPENBLAS_CORETYPE": "Haswell",
                                                                 "OPENBLAS_L2_SIZE": "1048576"}
    numpy = next(c for c in peak["candidates"] if c["library"].startswith("NumPy"))
    kernels = {b["architecture"] for b in numpy["blas"]}
    if "avx512f" in _flags():  # this CPU has a newer kernel than the forced one: it must be the one used
        assert "Haswell" not in kernels, kernels
    assert peak["gflops"] == max(c["gflops"] for c in peak["candidates"])
    assert peak["chosen"] == max(peak["candidates"], key=lambda c: c["gflops"])["library"]
    assert out["step_gemm"]["threads"] == 1 and out["step_gemm"]["gflops"] > 0
    th = peak["theoretical"]
    # None where the CPU's clock or vector unit cannot be read (a VM may hide both): both cases are
    # in tests/unit/test_theoretical_peak.py; here it is there exactly when this machine's can be read.
    assert (th is None) == (theoretical_peak(1) is None), th
    if th is not None:
        assert th["gflops"] == pytest.approx(th["cores"] * th["flops_per_cycle_per_core"] * th["ghz"])


def test_a_run_records_the_peak_and_says_what_it_unset(monkeypatch, tmp_path):
    import json

    from tests.integration.test_faults_cli import _run

    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.delenv("OPENBLAS_L2_SIZE", raising=False)  # the test sets what it depends on, whatever the machine's
    p = _run("run", "--frameworks", "numpy", "--limit-train", "256", "--limit-test", "64", "--epochs", "2",
             "--repeats", "1", "--warmup", "0", "--no-mcu", "--formats", "none", "--threads", "1", "--out", str(tmp_path / "r"))
    assert p.returncode == 0, p.stderr[-1500:]
    r = json.loads((tmp_path / "r" / "results.json").read_text())
    assert r["speed_limit"]["gemm_peak"]["environment"]["unset_for_this_measurement"] == {"OPENBLAS_CORETYPE": "Haswell"}
    md = (tmp_path / "r" / "report.md").read_text()
    assert "Measured with OPENBLAS\\_CORETYPE=Haswell unset" in md
