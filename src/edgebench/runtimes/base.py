"""What a runtime session provides, and the int8 conversions every runtime shares."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol

import numpy as np


class Session(Protocol):
    name: str
    accepts_batch: bool  # False: the artifact is fixed at batch `fixed_batch`
    fixed_batch: int | None

    def __init__(self, path: Path, threads: int = 1) -> None: ...

    def predict(self, x: np.ndarray) -> np.ndarray:
        """float32 logits for float32 inputs of any count (quantized I/O handled inside)."""

    def batch_call(self, x: np.ndarray) -> Callable[[], object]:
        """One inference on x, input already converted: the thing latency is measured on."""

    def graph_cost(self) -> dict | None: ...

    def close(self) -> None: ...


def quantize(x: np.ndarray, dtype, scale: float, zero_point: int) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu" or not scale:
        return np.ascontiguousarray(x, dtype=dtype)
    info = np.iinfo(dtype)
    q = np.round(x / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(y: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    if y.dtype.kind in "iu" and scale:
        return ((y.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)).astype(np.float32)
    return y.astype(np.float32, copy=False)
