"""Runs an .npz of MLP weights (exporters/npz.py) in NumPy, float32.

A model file is untrusted input: it is read with allow_pickle=False, so an object array inside
it is refused, never unpickled. The forward pass is written here again rather than imported from
the NumPy adapter, so a bug there cannot hide by appearing on both sides of a parity check.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from typing import ClassVar

import numpy as np

_FLOATS = (np.dtype(np.float16), np.dtype(np.float32))


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


def _layers(path: Path, arrays: dict[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(kernel, bias) float32 pairs, after checking the file holds exactly a chain of dense layers."""
    n = len(arrays) // 2
    expected = {f"dense_{i}.{part}" for i in range(n) for part in ("kernel", "bias")}
    if n == 0 or set(arrays) != expected:
        raise ValueError(f"{path}: expected arrays dense_0.kernel, dense_0.bias, ..., found "
                         f"{', '.join(sorted(arrays)[:6]) or 'none'}")
    layers = []
    for i in range(n):
        k, b = arrays[f"dense_{i}.kernel"], arrays[f"dense_{i}.bias"]
        if k.dtype not in _FLOATS or b.dtype not in _FLOATS:
            raise ValueError(f"{path}: dense_{i} is {k.dtype}/{b.dtype}, expected float16 or float32")
        if k.ndim != 2 or b.shape != (k.shape[1],) or (layers and k.shape[0] != layers[-1][0].shape[1]):
            raise ValueError(f"{path}: dense_{i} has kernel {k.shape} and bias {b.shape}, "
                             "which do not chain into a multi-layer perceptron")
        if not (np.all(np.isfinite(k)) and np.all(np.isfinite(b))):
            raise ValueError(f"{path}: dense_{i} holds non-finite weights")
        layers.append((k.astype(np.float32), b.astype(np.float32)))
    return layers


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
        self.layers = _layers(self.path, _read_arrays(self.path))

    @staticmethod
    def version() -> str:
        return np.__version__

    def _forward(self, x: np.ndarray) -> np.ndarray:
        last = len(self.layers) - 1
        for i, (k, b) in enumerate(self.layers):
            x = x @ k + b
            if i < last:
                x = np.maximum(x, 0)
        return x

    def batch_call(self, x: np.ndarray):
        xc = np.ascontiguousarray(x, dtype=np.float32)
        forward = self._forward
        return lambda: forward(xc)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self._forward(np.asarray(x, dtype=np.float32)).astype(np.float32, copy=False)

    def graph_cost(self) -> dict:
        """Parameters and MACs read off the stored arrays."""
        return {"parameters": int(sum(k.size + b.size for k, b in self.layers)),
                "macs_per_sample": int(sum(k.size for k, _ in self.layers)),
                "dense_layers": len(self.layers)}

    def close(self) -> None:
        self.layers = None
