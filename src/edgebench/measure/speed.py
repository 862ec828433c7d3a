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
