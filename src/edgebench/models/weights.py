"""Initial weights, made once in NumPy from the seed, in canonical (Keras) layouts: every
framework loads these exact arrays, converting the layout at its own edge (frameworks/*.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from edgebench.models.layers import BatchNorm, DepthwiseConv2D
from edgebench.models.network import Network

# {layer name: {array name: array}}, e.g. {"conv1": {"kernel": (kh, kw, cin, cout), "bias": (cout,)}}
Weights = dict[str, dict[str, np.ndarray]]

SCHEME = ("kernels: Glorot (Xavier) uniform, limit sqrt(6 / (fan_in + fan_out)), fans as Keras counts them "
          "(dense: in, out; conv: kh*kw*cin, kh*kw*cout; depthwise: kh*kw, kh*kw*multiplier); biases and "
          "BatchNorm beta and running mean: zeros; BatchNorm gamma and running variance: ones; float32; drawn "
          "in layer order from one generator")


def _fans(node) -> tuple[int, int]:
    shape = node.params["kernel"]
    if isinstance(node.layer, DepthwiseConv2D):
        kh, kw, _, m = shape
        return kh * kw, kh * kw * m
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def initial(net: Network, seed: int) -> Weights:
    # Glorot-uniform kernels and zero biases are Keras' defaults; PyTorch's own default
    # (Kaiming-uniform) is not used: every framework loads these exact arrays.
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    out: Weights = {}
    for node in net.nodes:
        params = node.params
        if not params:
            continue
        arrays = {}
        for name, shape in params.items():
            if name == "kernel":
                fan_in, fan_out = _fans(node)
                limit = np.sqrt(6.0 / (fan_in + fan_out))
                arrays[name] = rng.uniform(-limit, limit, size=shape).astype(np.float32)
            elif isinstance(node.layer, BatchNorm) and name in ("gamma", "moving_variance"):
                arrays[name] = np.ones(shape, np.float32)
            else:
                arrays[name] = np.zeros(shape, np.float32)
        out[node.layer.name] = arrays
    return out


def save(weights: Weights, path: Path) -> None:
    """One .npz, arrays named 'layer.array' (the MLP's files read as before: dense_0.kernel...)."""
    with open(path, "wb") as f:
        np.savez(f, **{f"{layer}.{name}": a for layer, arrays in weights.items() for name, a in arrays.items()})


def load(path: Path) -> Weights:
    out: Weights = {}
    with np.load(path, allow_pickle=False) as z:
        for key in z.files:
            layer, _, name = key.rpartition(".")
            out.setdefault(layer, {})[name] = z[key]
    return out
