"""The NumPy reference model as an .npz: its weights and its network, arrays only, never pickled
objects.

Keys: "layer.array" for every weight array (Keras layouts, as models.weights.save writes them:
conv1.kernel, conv1_bn.moving_mean, dense_0.bias, ...), and "__network__", the network's
description (Network.describe()) as UTF-8 JSON in a uint8 array, from which runtimes/npz.py
rebuilds the network.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

NETWORK_KEY = "__network__"


def encode_network(net) -> np.ndarray:
    return np.frombuffer(json.dumps(net.describe()).encode("utf-8"), np.uint8)


def _write(model, path: Path, ctx, dtype) -> None:
    net = model.net
    if ctx is not None and getattr(ctx, "network", None) is not None and ctx.network.describe() != net.describe():
        raise ValueError(f"the model is '{net.name}' but the export was asked for '{ctx.network.name}'")
    arrays = {}
    for node in net.nodes:
        layer = node.layer.name
        for part, shape in node.params.items():
            a = np.asarray(model.weights[layer][part])
            if a.shape != tuple(shape):
                raise ValueError(f"{layer}.{part} has shape {a.shape}, the network needs {tuple(shape)}")
            with np.errstate(over="ignore"):  # checked just below, with a clearer message
                cast = a.astype(dtype)
            if not np.all(np.isfinite(cast)):  # float16 overflows past 65504
                raise ValueError(f"{layer}.{part} does not fit {np.dtype(dtype).name} (values up to "
                                 f"{float(np.max(np.abs(a))):g})")
            arrays[f"{layer}.{part}"] = cast
    arrays[NETWORK_KEY] = encode_network(net)
    # Through a file handle: np.savez appends ".npz" to a path that lacks it, and the pipeline
    # expects the file exactly where it asked.
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def from_numpy(model, path: Path, ctx) -> None:
    _write(model, path, ctx, np.float32)


def from_numpy_float16(model, path: Path, ctx) -> None:
    """Weights (BatchNorm statistics included) rounded to float16 and stored as float16; the
    runtime computes in float32."""
    _write(model, path, ctx, np.float16)
