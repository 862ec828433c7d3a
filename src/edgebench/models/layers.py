"""Framework-neutral layers, shape inference and cost.

A model is a list of layers. Each takes the output of the layer named in `input` (by default the
one before it); `Add` also takes the layer named in `other`, which makes residual blocks. Shapes
are per sample and channels-last: (H, W, C) for images, (F,) for vectors. Padding is resolved to
explicit (top, bottom), (left, right) pads once, here, so that every framework pads the same way
(Keras and Flax 'same' put an odd extra row or column at the bottom/right; PyTorch's symmetric
padding does not: see ../shared/notes/models.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import ClassVar

from edgebench.errors import ConfigError

Shape = tuple[int, ...]
Pads = tuple[tuple[int, int], tuple[int, int]]
ACTIVATIONS = (None, "relu", "relu6")


@dataclass(frozen=True)
class Layer:
    name: str
    input: str | None = field(default=None, kw_only=True)  # None: the layer before
    type: ClassVar[str] = ""
    weighted: ClassVar[bool] = False  # has a kernel (conv, depthwise, dense)

    def output_shape(self, shape: Shape) -> Shape:
        return shape

    def params(self, shape: Shape) -> dict[str, Shape]:
        """The layer's arrays and their shapes (canonical, Keras layouts)."""
        return {}

    def macs(self, shape: Shape) -> int:
        return 0

    def describe(self) -> dict:
        d = {"type": self.type}
        for f in fields(self):
            v = getattr(self, f.name)
            d[f.name] = [list(p) for p in v] if f.name == "padding" and isinstance(v, tuple) else \
                list(v) if isinstance(v, tuple) else v
        return d

    def _need_image(self, shape: Shape) -> None:
        if len(shape) != 3:
            raise ConfigError(f"layer '{self.name}' ({self.type}) needs an image (H, W, C) input, got shape "
                              f"{_fmt(shape)}; add a Flatten only after the last image layer")


def _pair(v, what: str, layer: str) -> tuple[int, int]:
    if isinstance(v, int) and not isinstance(v, bool):
        v = (v, v)
    if (not isinstance(v, (tuple, list)) or len(v) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in v)):
        raise ConfigError(f"layer '{layer}': {what} must be a positive integer or a pair of them, got {v!r}")
    return (int(v[0]), int(v[1]))


def resolve_pads(padding, in_hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int]) -> Pads:
    """Explicit pads. 'same': out = ceil(in / stride), the total pad split with the odd extra at the
    bottom/right (TensorFlow's and Flax's rule); 'valid': none."""
    if padding == "valid":
        return ((0, 0), (0, 0))
    if padding == "same":
        pads = []
        for n, k, s in zip(in_hw, kernel, stride):
            out = -(-n // s)
            total = max((out - 1) * s + k - n, 0)
            pads.append((total // 2, total - total // 2))
        return (pads[0], pads[1])
    return padding


def _spatial(layer, shape: Shape, kernel, stride, pads: Pads) -> tuple[int, int]:
    out = []
    for n, k, s, (lo, hi), axis in zip(shape[:2], kernel, stride, pads, ("height", "width")):
        size = (n + lo + hi - k) // s + 1
        if n + lo + hi < k or size < 1:
            raise ConfigError(f"layer '{layer.name}' ({layer.type}): a {kernel[0]}x{kernel[1]} window does not fit "
                              f"the input {_fmt(shape)} ({axis} {n} with pads {lo}+{hi}); the image is too small "
                              "for this model")
        out.append(size)
    return out[0], out[1]


def _padding(v, layer: str):
    if v in ("same", "valid"):
        return v
    try:
        (t, b), (left, r) = v
        pads = ((int(t), int(b)), (int(left), int(r)))
    except (TypeError, ValueError):
        raise ConfigError(f"layer '{layer}': padding must be 'same', 'valid' or [[top, bottom], [left, right]], "
                          f"got {v!r}") from None
    if any(p < 0 for pair in pads for p in pair):
        raise ConfigError(f"layer '{layer}': pads must be >= 0, got {v!r}")
    return pads


def _activation(v, layer: str):
    if v not in ACTIVATIONS:
        raise ConfigError(f"layer '{layer}': activation must be relu, relu6 or none, got {v!r}")
    return v


@dataclass(frozen=True, kw_only=True)
class _Window(Layer):
    """A convolution's window: kernel, stride, padding, then a bias and an activation."""

    kernel: tuple[int, int] = (3, 3)
    stride: tuple[int, int] = (1, 1)
    padding: str | Pads = "same"
    activation: str | None = None
    use_bias: bool = True
    weighted: ClassVar[bool] = True

    def __post_init__(self):
        object.__setattr__(self, "kernel", _pair(self.kernel, "kernel", self.name))
        object.__setattr__(self, "stride", _pair(self.stride, "stride", self.name))
        object.__setattr__(self, "padding", _padding(self.padding, self.name))
        object.__setattr__(self, "activation", _activation(self.activation, self.name))

    def pads(self, shape: Shape) -> Pads:
        return resolve_pads(self.padding, shape[:2], self.kernel, self.stride)

    def out_channels(self, c: int) -> int:
        raise NotImplementedError

    def kernel_last(self) -> int:
        """The kernel's last axis: (kh, kw, cin, this), Keras' layout."""
        raise NotImplementedError

    def output_shape(self, shape):
        self._need_image(shape)
        return (*_spatial(self, shape, self.kernel, self.stride, self.pads(shape)), self.out_channels(shape[2]))

    def params(self, shape):
        p = {"kernel": (*self.kernel, shape[2], self.kernel_last())}
        return {**p, "bias": (self.out_channels(shape[2]),)} if self.use_bias else p


@dataclass(frozen=True)
class Conv2D(_Window):
    filters: int
    type: ClassVar[str] = "Conv2D"

    def __post_init__(self):
        _positive(self.filters, "filters", self.name)
        super().__post_init__()

    def out_channels(self, c):
        return self.filters

    def kernel_last(self):
        return self.filters

    def macs(self, shape):
        h, w, _ = self.output_shape(shape)
        return h * w * self.filters * self.kernel[0] * self.kernel[1] * shape[2]


@dataclass(frozen=True)
class DepthwiseConv2D(_Window):
    multiplier: int = 1
    type: ClassVar[str] = "DepthwiseConv2D"

    def __post_init__(self):
        _positive(self.multiplier, "multiplier", self.name)
        super().__post_init__()

    def out_channels(self, c):
        return c * self.multiplier

    def kernel_last(self):
        # Keras' layout (kh, kw, C, M): output channel c*M + m, as in PyTorch's groups=C and Flax.
        return self.multiplier

    def macs(self, shape):
        h, w, c = self.output_shape(shape)
        return h * w * c * self.kernel[0] * self.kernel[1]


@dataclass(frozen=True)
class _Pool(Layer):
    pool: tuple[int, int] = (2, 2)
    stride: tuple[int, int] | None = None  # None: the window (Flax's default of 1 is never used)

    def __post_init__(self):
        object.__setattr__(self, "pool", _pair(self.pool, "pool", self.name))
        object.__setattr__(self, "stride", _pair(self.stride if self.stride is not None else self.pool, "stride",
                                                 self.name))

    def output_shape(self, shape):
        self._need_image(shape)
        return (*_spatial(self, shape, self.pool, self.stride, ((0, 0), (0, 0))), shape[2])


class MaxPool2D(_Pool):  # no fields of its own: the dataclass machinery is inherited
    type = "MaxPool2D"


class AvgPool2D(_Pool):
    """Valid padding only: padded average pooling divides differently in each framework."""

    type = "AvgPool2D"


class GlobalAveragePooling(Layer):
    type = "GlobalAveragePooling"

    def output_shape(self, shape):
        self._need_image(shape)
        return (shape[2],)


@dataclass(frozen=True)
class BatchNorm(Layer):
    """momentum: the weight of the old running value (Keras' convention; PyTorch's momentum is
    1 - this). The running variance is the biased batch variance, as Keras and Flax keep it."""

    momentum: float = 0.9
    epsilon: float = 1e-5
    type: ClassVar[str] = "BatchNorm"

    def __post_init__(self):
        if not (isinstance(self.momentum, (int, float)) and 0 <= self.momentum < 1):
            raise ConfigError(f"layer '{self.name}': momentum must be in [0, 1), got {self.momentum!r}")
        if not (isinstance(self.epsilon, (int, float)) and self.epsilon > 0):
            raise ConfigError(f"layer '{self.name}': epsilon must be > 0, got {self.epsilon!r}")

    def params(self, shape):
        c = (shape[-1],)
        return {"gamma": c, "beta": c, "moving_mean": c, "moving_variance": c}


class ReLU(Layer):  # no fields of its own: the dataclass machinery is inherited
    type = "ReLU"


class ReLU6(Layer):  # no fields of its own: the dataclass machinery is inherited
    type = "ReLU6"


@dataclass(frozen=True)
class Add(Layer):
    """The input (by default the layer before) plus the output of `other` (same shape)."""

    other: str
    type: ClassVar[str] = "Add"


class Flatten(Layer):
    """Channels-last order (h, w, c) in every framework: one dense kernel serves them all."""

    type = "Flatten"

    def output_shape(self, shape):
        return (math.prod(shape),)


@dataclass(frozen=True)
class Dense(Layer):
    units: int
    activation: str | None = None
    use_bias: bool = True
    type: ClassVar[str] = "Dense"
    weighted: ClassVar[bool] = True

    def __post_init__(self):
        _positive(self.units, "units", self.name)
        object.__setattr__(self, "activation", _activation(self.activation, self.name))

    def output_shape(self, shape):
        if len(shape) != 1:
            raise ConfigError(f"layer '{self.name}' (Dense) needs a vector input, got shape {_fmt(shape)}; "
                              "put a Flatten or GlobalAveragePooling before it")
        return (self.units,)

    def params(self, shape):
        p = {"kernel": (shape[0], self.units)}
        return {**p, "bias": (self.units,)} if self.use_bias else p

    def macs(self, shape):
        return shape[0] * self.units


@dataclass(frozen=True)
class Dropout(Layer):
    rate: float = 0.0
    type: ClassVar[str] = "Dropout"

    def __post_init__(self):
        if not (isinstance(self.rate, (int, float)) and 0 <= self.rate < 1):
            raise ConfigError(f"layer '{self.name}': rate must be in [0, 1), got {self.rate!r}")


TYPES: dict[str, type[Layer]] = {cls.type: cls for cls in (Conv2D, DepthwiseConv2D, MaxPool2D, AvgPool2D,
                                                            GlobalAveragePooling, BatchNorm, ReLU, ReLU6, Add,
                                                            Flatten, Dense, Dropout)}


def _positive(v, what: str, layer: str) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
        raise ConfigError(f"layer '{layer}': {what} must be a positive integer, got {v!r}")


def _fmt(shape: Shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"
