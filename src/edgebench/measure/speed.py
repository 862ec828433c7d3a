"""The speed limit: this machine's float32 GEMM peak and the network's training FLOPs."""

from __future__ import annotations

import time

import numpy as np

from edgebench.models.network import Network


def train_flops_per_sample(net: Network) -> dict:
    """Matrix-multiply FLOPs (2 per multiply-accumulate) of one training sample: forward, weight
    gradients, input gradients where a weighted layer lies upstream (models/network.py)."""
    return net.train_flops_per_sample()


def step_gemms(net: Network, batch: int) -> list[tuple[int, int, int]]:
    """The matrix multiplies (M, K, N) of one training step at its real shapes: for each dense
    layer X (batch x in) @ W (in x out); for each convolution the same product after im2col
    (batch*Ho*Wo x kh*kw*cin) @ (kh*kw*cin x cout). Forward, weight gradient (K x M @ M x N) and,
    where needed, input gradient (M x N @ N x K). Depthwise convolutions are no GEMM (one small
    filter per channel) and are left out of this bound."""
    from edgebench.models.layers import Conv2D, Dense

    upstream = {"input": False}
    out = []
    for n in net.nodes:
        upstream[n.layer.name] = n.layer.weighted or any(upstream[i] for i in n.inputs)
        if isinstance(n.layer, Dense):
            m, k, o = batch, n.in_shape[0], n.layer.units
        elif isinstance(n.layer, Conv2D):
            h, w, _ = n.out_shape
            m, k, o = batch * h * w, n.layer.kernel[0] * n.layer.kernel[1] * n.in_shape[2], n.layer.filters
        else:
            continue
        out += [(m, k, o), (k, m, o)]
        if any(upstream[i] for i in n.inputs):
            out.append((m, o, k))
    return out


# Environment variables that make OpenBLAS pick an older kernel than the CPU supports (set on some
# machines because old OpenBLAS builds misbehaved on some CPUs): unset for the peak measurement.
BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def measure_limits(net: Network, batch: int, threads: int, timeout_s: float = 600, torch: bool = True) -> dict:
    """The GEMM peaks and the step-GEMM time, measured in a child process of their own with the
    run's thread settings and BLAS_ENV unset (recorded), so the bounds come from the fastest BLAS
    this machine has, not from a kernel an environment variable forced. torch: also PyTorch's
    matmul (the run passes it when PyTorch is among its frameworks; importing it costs 1-2 s)."""
    import json
    import subprocess
    import sys

    from edgebench.pipeline.runner import child_env

    env = child_env(threads)
    unset = {k: env.pop(k) for k in BLAS_ENV if k in env}
    p = subprocess.run([sys.executable, "-m", "edgebench.measure.speed"], capture_output=True, text=True, env=env,
                       input=json.dumps({"network": net.describe(), "batch": batch, "threads": threads,
                                         "torch": torch}),
                       timeout=timeout_s)
    if p.returncode != 0 or not p.stdout.strip():
        tail = (p.stderr.strip().splitlines() or [""])[-1]
        raise RuntimeError(f"the GEMM peak child exited with code {p.returncode}: {tail[:300]}")
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["gemm_peak"]["environment"] = {"unset_for_this_measurement": unset,
                                       "note": "set in edgebench's environment and unset in the measuring child: "
                                               "they force an older OpenBLAS kernel" if unset else
                                               "none of " + ", ".join(BLAS_ENV) + " was set"}
    return out


def _main() -> None:
    """The child of measure_limits: reads {"network", "batch", "threads"} on stdin, prints one JSON line."""
    import json
    import sys

    from edgebench.models.network import model_of

    task = json.loads(sys.stdin.read())
    threads = task["threads"]
    peaks = [gemm_peak(threads, min_time_s=0.5)]
    torch_peak = gemm_peak_torch(threads, min_time_s=0.5) if task.get("torch", True) else None
    if torch_peak is not None:
        peaks.append(torch_peak)
    best = max(peaks, key=lambda x: x["gflops"])
    peak = {**best, "chosen": best["library"], "candidates": peaks, "theoretical": theoretical_peak(threads),
            "bounds_use": f"the best measured rate ({best['library']}); the theoretical peak is shown beside it"}
    step = step_gemm_time(model_of(task["network"]), task["batch"], threads)
    print(json.dumps({"gemm_peak": peak, "step_gemm": step}))


def gemm_peak_torch(threads: int, n: int = 1024, min_time_s: float = 1.0) -> dict | None:
    """The same GEMM with PyTorch's matmul (its own BLAS: oneDNN/MKL on x86), when PyTorch is installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    a = torch.rand((n, n), generator=g, dtype=torch.float32)
    b = torch.rand((n, n), generator=g, dtype=torch.float32)
    out = torch.empty((n, n), dtype=torch.float32)
    times = _best_of(lambda: torch.matmul(a, b, out=out), min_time_s)
    flops = 2.0 * n ** 3
    return {"library": f"PyTorch {torch.__version__} matmul", "gflops": flops / min(times) / 1e9,
            "gflops_median": flops / float(np.median(times)) / 1e9, "n": n, "threads": threads, "calls": len(times),
            "blas": [], "method": f"{n}x{n} float32 matmul with PyTorch {torch.__version__}, best of {len(times)} calls"}


def _cpu_facts() -> tuple[set[str], float | None, str | None]:
    """(CPU flags, GHz, where the frequency came from) from /proc/cpuinfo and cpufreq, where readable."""
    from pathlib import Path

    flags: set[str] = set()
    mhz = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("flags", "Features") and not flags:
                flags = set(value.split())
            elif key == "cpu MHz" and mhz is None:
                mhz = float(value)
    except (OSError, ValueError):
        pass
    try:
        khz = int(Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text())
        return flags, khz / 1e6, "cpufreq cpuinfo_max_freq"
    except (OSError, ValueError):
        pass
    return flags, (mhz / 1e3 if mhz else None), ("/proc/cpuinfo cpu MHz (the current clock)" if mhz else None)


def theoretical_peak(threads: int) -> dict | None:
    """cores x float32 lanes x 2 (an FMA is two FLOPs) x FMA units x frequency, where the CPU's
    flags and frequency can be read; None otherwise. The FMA units per core are not readable and
    are taken as 2 (most x86 server and desktop cores since Haswell; some have one AVX-512 unit)."""
    from edgebench.results import usable_cores

    flags, ghz, source = _cpu_facts()
    if not ghz:
        return None
    if "avx512f" in flags:
        vector, lanes = "AVX-512", 16
    elif "avx2" in flags and "fma" in flags:
        vector, lanes = "AVX2+FMA", 8
    elif "asimd" in flags:
        vector, lanes = "NEON (Advanced SIMD)", 4
    else:
        return None
    cores = min(threads, usable_cores())
    units = 2
    per_cycle = lanes * 2 * units
    return {"gflops": cores * per_cycle * ghz, "cores": cores, "ghz": ghz, "frequency_source": source,
            "vector": vector, "flops_per_cycle_per_core": per_cycle, "assumed_fma_units": units,
            "formula": f"{cores} cores x {lanes} float32 lanes ({vector}) x 2 FLOPs per FMA x {units} FMA units "
                       f"x {ghz:.2f} GHz"}


def _best_of(call, min_time_s: float, min_calls: int = 5) -> list[float]:
    """One warm-up call (thread pool start, page faults), then timed calls for min_time_s and at
    least min_calls: their durations (time.perf_counter)."""
    call()
    times: list[float] = []
    start = time.perf_counter()
    while time.perf_counter() - start < min_time_s or len(times) < min_calls:
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return times


def gemm_peak(threads: int, n: int = 1024, min_time_s: float = 1.0) -> dict:
    """Best float32 GEMM rate NumPy's BLAS reaches here with `threads` threads (GFLOP/s)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    with threadpool_limits(limits=threads, user_api="blas"):
        times = _best_of(lambda: np.matmul(a, b, out=out), min_time_s)
        blas = [{"api": i.get("internal_api"), "version": i.get("version"), "threads": i.get("num_threads"),
                 "architecture": i.get("architecture")} for i in threadpool_info() if i.get("user_api") == "blas"]
    flops = 2.0 * n ** 3
    kernels = ", ".join(f"{b['api']} {b['version']} kernel {b['architecture']}" for b in blas) or "unknown BLAS"
    return {"library": f"NumPy {np.__version__} ({kernels})", "gflops": flops / min(times) / 1e9,
            "gflops_median": flops / float(np.median(times)) / 1e9,
            "n": n, "threads": threads, "calls": len(times), "blas": blas,
            "method": f"{n}x{n} float32 matmul with NumPy's BLAS, best of {len(times)} calls"}


def step_gemm_time(net: Network, batch: int, threads: int, min_time_s: float = 0.5) -> dict:
    """The matrix multiplies of one training step at their real shapes (step_gemms), timed with
    NumPy's BLAS and the same threads: the bound a framework could reach at this batch size with
    this BLAS (small GEMMs run far below the large-matrix peak)."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    ops = [(rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32))
           for m, k, n in step_gemms(net, batch)]
    with threadpool_limits(limits=threads, user_api="blas"):
        for a, b in ops:
            np.matmul(a, b)
        times = []
        start = time.perf_counter()
        while time.perf_counter() - start < min_time_s or len(times) < 20:
            t0 = time.perf_counter()
            for a, b in ops:
                np.matmul(a, b)
            times.append(time.perf_counter() - t0)
    flops = sum(2.0 * a.shape[0] * a.shape[1] * b.shape[1] for a, b in ops)
    best = min(times)
    return {"step_s": best, "step_s_median": float(np.median(times)), "gflops": flops / best / 1e9,
            "batch": batch, "threads": threads, "calls": len(times),
            "method": f"the {len(ops)} matrix multiplies of one batch-{batch} training step (convolutions as "
                      f"im2col GEMMs, depthwise left out) with NumPy's BLAS, best of {len(times)}"}


def efficiency(flops_per_epoch: float, steps_per_epoch: int, epoch_time_s: float, peak_gflops: float) -> dict:
    bound_s = flops_per_epoch / (peak_gflops * 1e9)
    return {"gflops": flops_per_epoch / epoch_time_s / 1e9, "fraction_of_peak": bound_s / epoch_time_s,
            "flop_bound_epoch_s": bound_s,
            "overhead_per_step_us": (epoch_time_s - bound_s) / steps_per_epoch * 1e6}


if __name__ == "__main__":
    _main()
