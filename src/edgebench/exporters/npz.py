"""The NumPy reference model as an .npz of its weights: arrays only, never pickled objects.

Keys dense_{i}.kernel (in, out) and dense_{i}.bias, as model.save_weights writes them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _write(model, path: Path, dtype) -> None:
    arrays = {}
    for i, (kernel, bias) in enumerate(model.weights):
        for part, a in (("kernel", kernel), ("bias", bias)):
            with np.errstate(over="ignore"):  # checked just below, with a clearer message
                cast = np.asarray(a).astype(dtype)
            if not np.all(np.isfinite(cast)):  # float16 overflows past 65504
                raise ValueError(f"dense_{i}.{part} does not fit {np.dtype(dtype).name} (values up to "
                                 f"{float(np.max(np.abs(a))):g})")
            arrays[f"dense_{i}.{part}"] = cast
    # Through a file handle: np.savez appends ".npz" to a path that lacks it, and the pipeline
    # expects the file exactly where it asked.
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def from_numpy(model, path: Path, ctx) -> None:
    _write(model, path, np.float32)


def from_numpy_float16(model, path: Path, ctx) -> None:
    """Weights rounded to float16 and stored as float16; the runtime computes in float32."""
    _write(model, path, np.float16)
