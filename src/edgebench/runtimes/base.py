"""What a runtime session provides, and the int8 conversions every runtime shares."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class LayerTensor:
    """An intermediate tensor a runtime with the `layers` capability can hand back (issue 31):
    `key` fetches it (Session.layer_outputs), `text` holds every name around it (the op's, the
    tensor's, its weights'), which measure/layer_match reads; shape per sample as the artifact
    holds it; step: its quantization step (int8), None for a float tensor."""

    key: str
    name: str
    op: str
    text: str
    shape: tuple[int, ...]
    step: float | None
    order: int


def channels_last(y: np.ndarray, source_shape: tuple[int, ...]) -> np.ndarray:
    """An artifact's tensor (N, ...) in the source layer's channels-last shape: unchanged when it
    already has it, transposed from (N, C, H, W) when that is what it holds."""
    if tuple(y.shape[1:]) == tuple(source_shape) or y.ndim != 4:
        return y
    return y.transpose(0, 2, 3, 1)


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



def _dims(shape) -> list[int]:
    """A declared shape as ints, a dynamic dimension (None, -1, 0, a name) as -1."""
    return [int(d) if isinstance(d, (int, np.integer)) and int(d) > 0 else -1 for d in shape]


def input_layout(shape) -> str:
    """An artifact's input layout from its declared input shape (batch first): "flat" for
    (B, F); for images "NCHW" where the channel axis is evidently second, else "NHWC" (every
    exporter here writes NHWC images; litert-torch and torch.onnx keep NCHW only for a model that
    takes NCHW). A rank-4 shape is NCHW when its second axis is smaller than its last and its
    last two (H, W) are equal while axes 1 and 2 are not: (1, 1, 28, 28) and (1, 3, 32, 32) are
    NCHW, (1, 28, 28, 1) and (1, 32, 32, 3) NHWC."""
    dims = _dims(shape)
    if len(dims) == 2:
        return "flat"
    if len(dims) != 4:
        return f"rank{len(dims)}"
    _, a, b, c = dims
    if min(a, b, c) > 0 and a < c and b == c and a != b:
        return "NCHW"
    return "NHWC"


def to_artifact_input(x: np.ndarray, shape, layout: str | None = None,
                      image_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Channels-last images (N, H, W, C), grey-scale ones (N, H, W) or flat rows (N, F) as the
    artifact takes them: unchanged when they already have its shape, reshaped for a flat input
    (or flat rows for an image input), transposed (0, 3, 1, 2) for an NCHW input. shape: the
    artifact's declared input shape, batch first; layout: input_layout(shape) unless given;
    image_shape: (H, W, C) of flat rows, needed only where the artifact's shape cannot tell."""
    layout = layout or input_layout(shape)
    dims = _dims(shape)[1:]
    n = len(x)
    if layout == "flat":
        out = x.reshape(n, -1)
    elif layout in ("NHWC", "NCHW"):
        if x.ndim == 4:
            hwc = x.shape[1:]
        elif x.ndim == 3:
            hwc = (*x.shape[1:], 1)
        elif image_shape is not None:
            hwc = tuple(image_shape)
        elif min(dims) > 0:  # flat rows: the artifact's shape says (H, W, C)
            hwc = tuple(dims) if layout == "NHWC" else (dims[1], dims[2], dims[0])
        else:
            raise ValueError(f"flat rows cannot be shaped for the artifact's input {list(shape)} "
                             "(dynamic image dimensions): pass image_shape")
        out = x.reshape(n, *hwc)
        if layout == "NCHW":
            out = out.transpose(0, 3, 1, 2)
    else:
        out = x.reshape(n, *dims)
    if len(out.shape) != len(dims) + 1 or any(d > 0 and d != g for d, g in zip(dims, out.shape[1:])):
        raise ValueError(f"inputs of shape {list(x.shape[1:])} do not fit the artifact's {layout} input "
                         f"{list(shape)}")
    return np.ascontiguousarray(out)


def describe_input(shape, layout: str) -> dict:
    """What a session's io["input"] records besides dtype and quantization."""
    return {"shape": _dims(shape), "layout": layout}
