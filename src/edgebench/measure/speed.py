"""The speed limit: this machine's float32 GEMM peak and the network's training FLOPs."""

from __future__ import annotations

import time

import numpy as np

from edgebench.config import ModelSpec


def train_flops_per_sample(spec: ModelSpec) -> dict:
    """Matrix-multiply FLOPs (2 per multiply-accumulate) of one training sample.

    Forward: every layer. Backward: the weight gradient of every layer, and the input gradient
    of every layer but the first (nothing needs the gradient of the image). Bias adds, ReLU,
    softmax and the optimizer update are left out: O(parameters) per step, not per sample, or
    O(activations); under 5% of the total for this network.
    """
    macs = [i * o for i, o in spec.layer_sizes]
    forward = 2 * sum(macs)
    weight_grad = 2 * sum(macs)
    input_grad = 2 * sum(macs[1:])
    return {"forward": forward, "weight_grad": weight_grad, "input_grad": input_grad,
            "total": forward + weight_grad + input_grad}


def gemm_peak(threads: int, n: int = 1024, min_time_s: float = 1.0) -> dict:
    """Best float32 GEMM rate NumPy's BLAS reaches here with `threads` threads (GFLOP/s)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    with threadpool_limits(limits=threads, user_api="blas"):
        np.matmul(a, b, out=out)  # warm-up: thread pool start, page faults
        times = []
        start = time.perf_counter()
        while time.perf_counter() - start < min_time_s or len(times) < 5:
            t0 = time.perf_counter()
            np.matmul(a, b, out=out)
            times.append(time.perf_counter() - t0)
        blas = [{"api": i.get("internal_api"), "version": i.get("version"), "threads": i.get("num_threads"),
                 "architecture": i.get("architecture")} for i in threadpool_info() if i.get("user_api") == "blas"]
    flops = 2.0 * n ** 3
    return {"gflops": flops / min(times) / 1e9, "gflops_median": flops / float(np.median(times)) / 1e9,
            "n": n, "threads": threads, "calls": len(times), "blas": blas,
            "method": f"{n}x{n} float32 matmul with NumPy's BLAS, best of {len(times)} calls"}


def step_gemm_time(spec: ModelSpec, batch: int, threads: int, min_time_s: float = 0.5) -> dict:
    """The matrix multiplies of one training step at its real shapes (batch x layer), timed with
    NumPy's BLAS and the same threads: forward X@W, weight gradient X^T@dY for every layer, input
    gradient dY@W^T for every layer but the first. Small GEMMs run far below the large-matrix
    peak; this is the bound a framework could reach at this batch size with this BLAS."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    ops = []
    for k, (i, o) in enumerate(spec.layer_sizes):
        x = rng.random((batch, i), dtype=np.float32)
        w = rng.random((i, o), dtype=np.float32)
        dy = rng.random((batch, o), dtype=np.float32)
        ops.append((x, w))          # forward
        ops.append((x.T, dy))       # weight gradient
        if k > 0:
            ops.append((dy, w.T))   # input gradient
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
            "method": f"the {len(ops)} matrix multiplies of one batch-{batch} training step with NumPy's "
                      f"BLAS, best of {len(times)}"}


def efficiency(flops_per_epoch: float, steps_per_epoch: int, epoch_time_s: float, peak_gflops: float) -> dict:
    bound_s = flops_per_epoch / (peak_gflops * 1e9)
    return {"gflops": flops_per_epoch / epoch_time_s / 1e9, "fraction_of_peak": bound_s / epoch_time_s,
            "flop_bound_epoch_s": bound_s,
            "overhead_per_step_us": (epoch_time_s - bound_s) / steps_per_epoch * 1e6}
