"""Runs an .npz of the NumPy reference (exporters/npz.py: weights plus the network's description
as JSON under "__network__") in NumPy, float32 (float16 weights are upcast).

A model file is untrusted input: it is read with allow_pickle=False, so an object array inside
it is refused, never unpickled, and the network is rebuilt from JSON through models.layers'
own checked constructors. The inference pass is written here again rather than imported from
the NumPy adapter, and differently (a conv adds one matrix product per kernel offset instead of
one im2col product; max pooling takes running maxima instead of an argmax), so a bug there
cannot hide by appearing on both sides of a parity check.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from pathlib import Path
from typing import ClassVar

import numpy as np

from edgebench.models.layers import (
    Add,
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    Dropout,
    Flatten,
    GlobalAveragePooling,
    MaxPool2D,
    ReLU,
    ReLU6,
)
from edgebench.models.network import Network, from_description

NETWORK_KEY = "__network__"
_FLOATS = (np.dtype(np.float16), np.dtype(np.float32))
_CHUNK = 256  # predict runs this many images at a time


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
        # An .npz is a zip archive; anything else np.load would try as .npy or as a pickle.
        if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
            raise ValueError("not a zip archive, as an .npz is")
        with np.load(path, allow_pickle=False) as z:
            return {name: z[name] for name in z.files}  # object arrays raise here, unread
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ValueError(f"{path}: not a readable .npz model ({reason})") from None


def _one_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]



def _load(path: Path, arrays: dict[str, np.ndarray]) -> tuple[Network, dict[str, dict[str, np.ndarray]]]:
    """The network and its float32 weights, after checking the file holds exactly what it needs."""
    raw = arrays.pop(NETWORK_KEY, None)
    if raw is None:
        raise ValueError(f"{path}: no {NETWORK_KEY} entry (the network's description); found "
                         f"{', '.join(sorted(arrays)[:6]) or 'nothing'}")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ValueError(f"{path}: {NETWORK_KEY} is {raw.dtype} {raw.shape}, expected 1-D uint8 JSON text")
    try:
        description = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: {NETWORK_KEY} is not JSON text ({_one_line(e)})") from None
    net = from_description(description, source=str(path))
    weights: dict[str, dict[str, np.ndarray]] = {}
    expected = set()
    for node in net.nodes:
        for part, shape in node.params.items():
            key = f"{node.layer.name}.{part}"
            expected.add(key)
            a = arrays.get(key)
            if a is None:
                raise ValueError(f"{path}: no array {key} for layer '{node.layer.name}' ({node.layer.type})")
            if a.dtype not in _FLOATS:
                raise ValueError(f"{path}: {key} is {a.dtype}, expected float16 or float32")
            if a.shape != tuple(shape):
                raise ValueError(f"{path}: {key} has shape {a.shape}, the network needs {tuple(shape)}")
            if not np.all(np.isfinite(a)):
                raise ValueError(f"{path}: {key} holds non-finite weights")
            weights.setdefault(node.layer.name, {})[part] = a.astype(np.float32)
    extra = sorted(set(arrays) - expected)
    if extra:
        raise ValueError(f"{path}: arrays the network does not use: {', '.join(extra[:6])}")
    return net, weights


def _act(x: np.ndarray, activation) -> np.ndarray:
    if activation == "relu":
        return np.maximum(x, 0)
    if activation == "relu6":
        return np.minimum(np.maximum(x, 0), 6)
    return x


def _taps(layer, node, x: np.ndarray, window):
    """Pad x with the layer's pads (none for pooling), then yield (i, j, the (N, Ho, Wo, C) slice
    that kernel offset (i, j) reads at every output position)."""
    if isinstance(layer, (Conv2D, DepthwiseConv2D)):
        (t, b), (left, r) = layer.pads(node.in_shape)
        x = np.pad(x, ((0, 0), (t, b), (left, r), (0, 0)))
    ho, wo = node.out_shape[:2]
    sh, sw = layer.stride
    for i in range(window[0]):
        for j in range(window[1]):
            yield i, j, x[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw, :]


class NpzSession:
    name = "npz"
    accepts_batch = True
    fixed_batch = None
    io: ClassVar[dict] = {"input": {"dtype": "float32"}, "output": {"dtype": "float32"}}

    def __init__(self, path: Path, threads: int = 1) -> None:
        # NumPy's BLAS threads come from the process: the pipeline starts each verify child with
        # OPENBLAS_NUM_THREADS / OMP_NUM_THREADS set to `threads`.
        self.path = Path(path)
        self.threads = threads
        self.network, self.weights = _load(self.path, _read_arrays(self.path))

    @staticmethod
    def version() -> str:
        return np.__version__

    def _forward(self, x: np.ndarray) -> np.ndarray:
        net = self.network
        x = x.reshape(len(x), *net.input_shape)  # channels-last, or flat (N, prod(input_shape))
        vals = {"input": x}
        for node in net.nodes:
            layer = node.layer
            w = self.weights.get(layer.name, {})
            a = vals[node.inputs[0]]
            if isinstance(layer, Conv2D):
                out = np.zeros((len(a), *node.out_shape), np.float32)
                for i, j, tap in _taps(layer, node, a, layer.kernel):
                    out += tap @ w["kernel"][i, j]  # (N, Ho, Wo, cin) @ (cin, cout)
                out = _act(out + w["bias"] if layer.use_bias else out, layer.activation)
            elif isinstance(layer, DepthwiseConv2D):
                c, m = w["kernel"].shape[2:]
                out = np.zeros((len(a), *node.out_shape[:2], c, m), np.float32)
                for i, j, tap in _taps(layer, node, a, layer.kernel):
                    out += tap[..., None] * w["kernel"][i, j]
                out = out.reshape(len(a), *node.out_shape)  # output channel c*M + m
                out = _act(out + w["bias"] if layer.use_bias else out, layer.activation)
            elif isinstance(layer, MaxPool2D):
                out = None
                for _, _, tap in _taps(layer, node, a, layer.pool):
                    out = tap.copy() if out is None else np.maximum(out, tap)
            elif isinstance(layer, AvgPool2D):
                out = sum(tap for _, _, tap in _taps(layer, node, a, layer.pool)) / math.prod(layer.pool)
            elif isinstance(layer, GlobalAveragePooling):
                out = a.mean(axis=(1, 2))
            elif isinstance(layer, BatchNorm):
                out = (a - w["moving_mean"]) / np.sqrt(w["moving_variance"] + layer.epsilon) * w["gamma"] + w["beta"]
            elif isinstance(layer, ReLU):
                out = np.maximum(a, 0)
            elif isinstance(layer, ReLU6):
                out = np.minimum(np.maximum(a, 0), 6)
            elif isinstance(layer, Add):
                out = a + vals[node.inputs[1]]
            elif isinstance(layer, Flatten):
                out = a.reshape(len(a), -1)
            elif isinstance(layer, Dense):
                out = a @ w["kernel"]
                out = _act(out + w["bias"] if layer.use_bias else out, layer.activation)
            elif isinstance(layer, Dropout):
                out = a  # inference
            else:  # pragma: no cover - TYPES lists no other
                raise TypeError(layer.type)
            vals[layer.name] = out.astype(np.float32, copy=False)
        return vals[net.nodes[-1].layer.name]

    def batch_call(self, x: np.ndarray):
        xc = np.ascontiguousarray(x, dtype=np.float32)
        forward = self._forward
        return lambda: forward(xc)

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if len(x) <= _CHUNK:
            return self._forward(x)
        return np.concatenate([self._forward(x[s:s + _CHUNK]) for s in range(0, len(x), _CHUNK)])

    def graph_cost(self) -> dict:
        """Parameters (BatchNorm's running statistics included) and MACs of the rebuilt network."""
        net = self.network
        return {"parameters": net.parameter_count, "macs_per_sample": net.macs_per_sample,
                "dense_layers": sum(isinstance(n.layer, Dense) for n in net.nodes),
                "conv_layers": sum(isinstance(n.layer, (Conv2D, DepthwiseConv2D)) for n in net.nodes)}

    def close(self) -> None:
        self.network = self.weights = None
