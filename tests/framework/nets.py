"""Shared by the export tests: a tiny residual CNN with BatchNorm and a depthwise conv, weights
that look trained, and the float64 NumPy forward pass of any Network (the ground truth the Keras
build is checked against)."""

from __future__ import annotations

import numpy as np

from edgebench.models import layers as L
from edgebench.models import weights as W
from edgebench.models.network import Network


def tiny_res() -> Network:
    """Every layer type but MaxPool and Flatten (LeNet-5 has those): a strided 'same' conv with
    an odd pad at the bottom/right and no bias + BatchNorm + ReLU6, a depthwise conv with
    multiplier 2 + BatchNorm, a pointwise conv with bias + BatchNorm, a residual Add, average
    pooling, a conv with explicit asymmetric pads, dropout, global average pooling, dense; three
    input channels, so that an NHWC/NCHW mix-up cannot go unnoticed."""
    return Network("tiny_res", (
        L.Conv2D("stem", 8, kernel=3, stride=2, padding="same", use_bias=False),
        L.BatchNorm("stem_bn"), L.ReLU6("stem_relu"),
        L.DepthwiseConv2D("dw", kernel=3, padding="same", multiplier=2, use_bias=False),
        L.BatchNorm("dw_bn"), L.ReLU("dw_relu"),
        L.Conv2D("pw", 8, kernel=1, padding="valid"),
        L.BatchNorm("pw_bn"),
        L.Add("add", other="stem_relu"), L.ReLU("add_relu"),
        L.AvgPool2D("avg", pool=2),
        L.Conv2D("conv3", 8, kernel=3, padding=((1, 0), (0, 1)), activation="relu"),
        L.Dropout("drop", rate=0.1),
        L.GlobalAveragePooling("gap"), L.Dense("logits", 4)), (16, 16, 3), 4)


def trained_like(net: Network, seed: int = 3) -> W.Weights:
    """The initial weights with non-zero biases and BatchNorm statistics, as after training
    (converters drop all-zero biases, and identity BatchNorms would hide a folding mistake)."""
    w = W.initial(net, seed)
    rng = np.random.default_rng(seed + 100)
    for arrays in w.values():
        for k, a in arrays.items():
            if k == "moving_variance":
                arrays[k] = rng.uniform(0.5, 2.0, a.shape).astype(np.float32)
            elif k == "gamma":
                arrays[k] = rng.uniform(0.5, 1.5, a.shape).astype(np.float32)
            elif k != "kernel":
                arrays[k] = rng.normal(0, 0.1, a.shape).astype(np.float32)
    return w


_ACT = {None: lambda v: v, "relu": lambda v: np.maximum(v, 0), "relu6": lambda v: np.clip(v, 0, 6)}


def np_forward(net: Network, w: W.Weights, x: np.ndarray) -> np.ndarray:
    """Logits in float64 from the NumPy reference (inference mode: BatchNorm on running statistics);
    the reference is checked layer by layer against loop-written forwards in test_numpy_backend."""
    from edgebench.frameworks.numpy_ref import forward

    return forward(net, w, x, dtype=np.float64)
