"""The framework-neutral network: its layer sizes and its initial weights, made once in NumPy.

Weights are a list of (kernel, bias) pairs with kernel shaped (in, out) as in Keras;
adapters transpose where their framework stores (out, in).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgebench.config import ModelSpec

Weights = list[tuple[np.ndarray, np.ndarray]]

INIT_SCHEME = "kernel: Glorot (Xavier) uniform, limit sqrt(6 / (fan_in + fan_out)); bias: zeros; float32"


def initial_weights(spec: ModelSpec, seed: int) -> Weights:
    # Glorot-uniform kernels and zero biases are Keras' defaults; PyTorch's own default
    # (Kaiming-uniform) is not used: both frameworks load these exact arrays.
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    weights = []
    for fan_in, fan_out in spec.layer_sizes:
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        kernel = rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32)
        weights.append((kernel, np.zeros(fan_out, np.float32)))
    return weights


def save_weights(weights: Weights, path: Path) -> None:
    arrays = {}
    for i, (k, b) in enumerate(weights):
        arrays[f"dense_{i}.kernel"] = k
        arrays[f"dense_{i}.bias"] = b
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def load_weights(path: Path) -> Weights:
    with np.load(path) as z:
        n = len(z.files) // 2
        return [(z[f"dense_{i}.kernel"], z[f"dense_{i}.bias"]) for i in range(n)]


def macs(spec: ModelSpec) -> int:
    """Multiply-accumulates for one forward pass of one sample."""
    return sum(i * o for i, o in spec.layer_sizes)


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy from logits, computed the same way for every framework's outputs."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    logsumexp = np.log(np.exp(z).sum(axis=1))
    return float(np.mean(logsumexp - z[np.arange(len(labels)), labels]))
