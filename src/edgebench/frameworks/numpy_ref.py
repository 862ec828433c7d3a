"""NumPy reference: any framework-neutral network (models/), the same loss, batch order and
optimizers as the real frameworks, in plain NumPy (float32 when training).

Two uses: unit tests run the whole pipeline in seconds without TensorFlow, PyTorch or JAX, and
each real framework's training is checked against it step for step
(tests/framework/test_reference_twin.py). Kept plain on purpose: a reference must be easy to read.

Conventions, the same as every adapter's (frameworks/base.py):

* Activations are channels-last: (N, H, W, C) images, (N, F) vectors. Weights are
  models.weights.Weights dicts in Keras layouts (conv kernel (kh, kw, cin, cout), depthwise
  (kh, kw, C, M) with output channel c*M + m, dense (in, out)).
* Convolutions pad with the layer's explicit pads (Conv2D.pads), the odd extra at bottom/right;
  pooling is 'valid'. A conv or dense `activation` (relu, relu6) is applied after the bias.
  ReLU's gradient is 1 where its output is > 0; ReLU6's where its input is strictly in (0, 6).
* Max pooling sends the gradient to the window's maximum; on a tie, to the FIRST maximum in
  row-major window order (top-left first), as np.argmax picks it.
* BatchNorm, training: normalised with the batch mean and the biased batch variance over every
  axis but the channel's ((N, H, W), or N for vectors); after the step the running statistics
  become momentum*old + (1 - momentum)*batch_stat, with the BIASED batch variance (Keras' and
  Flax's rule). Inference: the running statistics. Trainable arrays: kernel, bias, gamma, beta.
* Dropout (rate > 0, training only): inverted dropout. See dropout_masks for how each step's
  masks are drawn; a twin check can draw the same masks, or hand its own in (masks=).
* The graph is a DAG (Add reads two layers): gradients are accumulated per layer output.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import as_strided
from threadpoolctl import threadpool_limits

from edgebench.config import OptimizerSpec
from edgebench.frameworks.base import EpochRecord, batches
from edgebench.models.layers import (Add, AvgPool2D, BatchNorm, Conv2D, Dense, DepthwiseConv2D, Dropout, Flatten,
                                     GlobalAveragePooling, MaxPool2D, ReLU, ReLU6)
from edgebench.models.network import Network, Node
from edgebench.models.weights import Weights

TRAINABLE = ("kernel", "bias", "gamma", "beta")  # moving_mean and moving_variance are not trained
INFERENCE_CHUNK = 256  # inference runs in chunks of this many images: im2col memory stays bounded


class NumpyModel:
    """The network and float32 copies of its weights, updated in place by training."""

    def __init__(self, net: Network, weights: Weights) -> None:
        self.net = net
        self.weights: Weights = {layer: {k: np.array(a, np.float32) for k, a in arrays.items()}
                                 for layer, arrays in weights.items()}

    def masks_for_step(self, step: int, batch: int) -> dict[str, np.ndarray]:
        """The dropout masks of global step `step` (1-based): dropout_masks(net, batch, step).
        Replace this method on an instance to feed masks from elsewhere (a twin check)."""
        return dropout_masks(self.net, batch, step)


def has_dropout(net: Network) -> bool:
    return any(isinstance(n.layer, Dropout) and n.layer.rate > 0 for n in net.nodes)


def dropout_masks(net: Network, batch: int, seed_for_step: int, dtype=np.float32) -> dict[str, np.ndarray]:
    """Inverted-dropout masks for one training step: {layer name: mask}, one per Dropout layer
    with rate > 0, shaped (batch, *its input shape). Made so: one generator per step,
    rng = np.random.default_rng(np.random.SeedSequence([seed_for_step])); the Dropout layers in
    network order each take u = rng.random((batch, *in_shape)) (float64 in [0, 1)); an element is
    kept where u >= rate, and the mask is keep / (1 - rate) (0 or 1/(1 - rate)) in `dtype`. The
    layer's output is input * mask. The adapter's training uses seed_for_step = the global step
    number (1, 2, ...; NumpyModel.masks_for_step)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed_for_step]))
    out = {}
    for n in net.nodes:
        if isinstance(n.layer, Dropout) and n.layer.rate > 0:
            keep = rng.random((batch, *n.in_shape)) >= n.layer.rate
            out[n.layer.name] = (keep / (1.0 - n.layer.rate)).astype(dtype)
    return out


# Layers: each forward returns (output, cache); each backward takes (dy, cache, need_dx) and
# returns (dx or None, {array name: gradient}).

def _act(z: np.ndarray, activation):
    if activation == "relu":
        return np.maximum(z, 0)
    if activation == "relu6":
        return np.clip(z, 0, 6)
    return z


def _act_grad(dy: np.ndarray, z: np.ndarray, activation) -> np.ndarray:
    if activation == "relu":
        return dy * (z > 0)
    if activation == "relu6":
        return dy * ((z > 0) & (z < 6))
    return dy


def _windows(xp: np.ndarray, kernel, stride, out_hw) -> np.ndarray:
    """A read-only view (N, Ho, Wo, kh, kw, C): the input window of every output position."""
    n, _, _, c = xp.shape
    s = xp.strides
    return as_strided(xp, (n, out_hw[0], out_hw[1], kernel[0], kernel[1], c),
                      (s[0], s[1] * stride[0], s[2] * stride[1], s[1], s[2], s[3]), writeable=False)


def _tap(a: np.ndarray, i: int, j: int, stride, out_hw) -> tuple:
    """The index of a (N, H, W, C) array that kernel offset (i, j) reads for every output."""
    return (slice(None), slice(i, i + stride[0] * (out_hw[0] - 1) + 1, stride[0]),
            slice(j, j + stride[1] * (out_hw[1] - 1) + 1, stride[1]), slice(None))


def _pad(x: np.ndarray, pads) -> np.ndarray:
    (t, b), (left, r) = pads
    if t == b == left == r == 0:
        return x
    return np.pad(x, ((0, 0), (t, b), (left, r), (0, 0)))


def _unpad(dxp: np.ndarray, pads, in_shape) -> np.ndarray:
    (t, _), (left, _) = pads
    return dxp[:, t:t + in_shape[0], left:left + in_shape[1], :]


def _conv_forward(node: Node, w: dict, x: np.ndarray):
    layer = node.layer
    pads = layer.pads(node.in_shape)
    xp = _pad(x, pads)
    ho, wo, cout = node.out_shape
    n = len(x)
    cols = _windows(xp, layer.kernel, layer.stride, (ho, wo)).reshape(n * ho * wo, -1)  # im2col: a copy
    k2 = w["kernel"].reshape(-1, cout)
    z = cols @ k2
    if layer.use_bias:
        z += w["bias"]
    z = z.reshape(n, ho, wo, cout)
    return _act(z, layer.activation), (cols, k2, xp.shape, pads, z)


def _conv_backward(node: Node, w: dict, dy: np.ndarray, cache, need_dx: bool):
    layer = node.layer
    cols, k2, xp_shape, pads, z = cache
    ho, wo, cout = node.out_shape
    dz = _act_grad(dy, z, layer.activation).reshape(-1, cout)
    grads = {"kernel": (cols.T @ dz).reshape(w["kernel"].shape)}
    if layer.use_bias:
        grads["bias"] = dz.sum(axis=0)
    if not need_dx:
        return None, grads
    kh, kw = layer.kernel
    dcols = (dz @ k2.T).reshape(len(dy), ho, wo, kh, kw, -1)
    dxp = np.zeros(xp_shape, dy.dtype)
    for i in range(kh):  # col2im: every kernel offset adds back into the positions it read
        for j in range(kw):
            dxp[_tap(dxp, i, j, layer.stride, (ho, wo))] += dcols[:, :, :, i, j, :]
    return _unpad(dxp, pads, node.in_shape), grads


def _depthwise_forward(node: Node, w: dict, x: np.ndarray):
    """A per-channel conv: out[..., c, m] = sum over the window of x[..., c] * kernel[i, j, c, m]."""
    layer = node.layer
    pads = layer.pads(node.in_shape)
    xp = _pad(x, pads)
    ho, wo, cm = node.out_shape
    kernel = w["kernel"]
    c, m = kernel.shape[2:]
    z = np.zeros((len(x), ho, wo, c, m), x.dtype)
    for i in range(layer.kernel[0]):
        for j in range(layer.kernel[1]):
            z += xp[_tap(xp, i, j, layer.stride, (ho, wo))][..., None] * kernel[i, j]
    z = z.reshape(len(x), ho, wo, cm)  # output channel c*M + m
    if layer.use_bias:
        z += w["bias"]
    return _act(z, layer.activation), (xp, pads, z)


def _depthwise_backward(node: Node, w: dict, dy: np.ndarray, cache, need_dx: bool):
    layer = node.layer
    xp, pads, z = cache
    ho, wo, _ = node.out_shape
    kernel = w["kernel"]
    c, m = kernel.shape[2:]
    dz = _act_grad(dy, z, layer.activation)
    grads = {}
    if layer.use_bias:
        grads["bias"] = dz.sum(axis=(0, 1, 2))
    dz = dz.reshape(len(dy), ho, wo, c, m)
    dk = np.zeros_like(kernel)
    dxp = np.zeros_like(xp) if need_dx else None
    for i in range(layer.kernel[0]):
        for j in range(layer.kernel[1]):
            tap = _tap(xp, i, j, layer.stride, (ho, wo))
            dk[i, j] = np.einsum("nhwc,nhwcm->cm", xp[tap], dz)
            if need_dx:
                dxp[tap] += (dz * kernel[i, j]).sum(axis=-1)
    grads["kernel"] = dk
    return (_unpad(dxp, pads, node.in_shape) if need_dx else None), grads


def _pool_windows(node: Node, x: np.ndarray) -> np.ndarray:
    """(N, Ho, Wo, ph*pw, C): every pooling window, row-major within the window (a copy)."""
    ho, wo, c = node.out_shape
    ph, pw = node.layer.pool
    return _windows(x, node.layer.pool, node.layer.stride, (ho, wo)).reshape(len(x), ho, wo, ph * pw, c)


def _maxpool_forward(node: Node, w: dict, x: np.ndarray):
    win = _pool_windows(node, x)
    arg = win.argmax(axis=3)  # the first maximum on a tie
    out = np.take_along_axis(win, arg[:, :, :, None, :], axis=3)[:, :, :, 0, :]
    return out, (x.shape, arg)


def _maxpool_backward(node: Node, w: dict, dy: np.ndarray, cache, need_dx: bool):
    if not need_dx:
        return None, {}
    shape, arg = cache
    dx = np.zeros(shape, dy.dtype)
    pw = node.layer.pool[1]
    for k in range(node.layer.pool[0] * pw):  # overlapping windows (stride < pool) add up
        i, j = divmod(k, pw)
        dx[_tap(dx, i, j, node.layer.stride, node.out_shape[:2])] += np.where(arg == k, dy, 0)
    return dx, {}


def _avgpool_forward(node: Node, w: dict, x: np.ndarray):
    return _pool_windows(node, x).mean(axis=3), x.shape


def _avgpool_backward(node: Node, w: dict, dy: np.ndarray, shape, need_dx: bool):
    if not need_dx:
        return None, {}
    dx = np.zeros(shape, dy.dtype)
    ph, pw = node.layer.pool
    share = dy / (ph * pw)
    for i in range(ph):
        for j in range(pw):
            dx[_tap(dx, i, j, node.layer.stride, node.out_shape[:2])] += share
    return dx, {}


def _gap_forward(node: Node, w: dict, x: np.ndarray):
    return x.mean(axis=(1, 2)), x.shape


def _gap_backward(node: Node, w: dict, dy: np.ndarray, shape, need_dx: bool):
    if not need_dx:
        return None, {}
    return np.broadcast_to(dy[:, None, None, :] / (shape[1] * shape[2]), shape).copy(), {}


def _bn_forward(node: Node, w: dict, x: np.ndarray, training: bool):
    layer = node.layer
    if not training:
        inv = 1 / np.sqrt(w["moving_variance"] + layer.epsilon)
        return (x - w["moving_mean"]) * inv * w["gamma"] + w["beta"], None
    axes = tuple(range(x.ndim - 1))
    # The batch statistics accumulate in float64 and are rounded once: NumPy sums the leading axes
    # of a channels-last array naively in float32 (error growing with N*H*W), while PyTorch and
    # XLA reduce pairwise; a float32 sum here was 2.9e-4 off after one dscnn step.
    mean = x.mean(axis=axes, dtype=np.float64).astype(x.dtype)
    xc = x - mean
    var = (xc * xc).mean(axis=axes, dtype=np.float64).astype(x.dtype)  # biased: divided by the count
    inv = 1 / np.sqrt(var + layer.epsilon)
    xhat = xc * inv
    return xhat * w["gamma"] + w["beta"], (xhat, inv, mean, var)


def _bn_backward(node: Node, w: dict, dy: np.ndarray, cache, need_dx: bool):
    xhat, inv, _, _ = cache
    axes = tuple(range(dy.ndim - 1))
    count = dy.size // dy.shape[-1]
    dbeta = dy.sum(axis=axes, dtype=np.float64).astype(dy.dtype)  # float64 accumulation, as above
    dgamma = (dy * xhat).sum(axis=axes, dtype=np.float64).astype(dy.dtype)
    grads = {"gamma": dgamma, "beta": dbeta}
    if not need_dx:
        return None, grads
    # The batch mean and variance depend on x too: the usual closed form of their gradients.
    dx = (w["gamma"] * inv) * (dy - dbeta / count - xhat * (dgamma / count))
    return dx, grads


def _dense_forward(node: Node, w: dict, x: np.ndarray):
    z = x @ w["kernel"]
    if node.layer.use_bias:
        z += w["bias"]
    return _act(z, node.layer.activation), (x, z)


def _dense_backward(node: Node, w: dict, dy: np.ndarray, cache, need_dx: bool):
    x, z = cache
    dz = _act_grad(dy, z, node.layer.activation)
    grads = {"kernel": x.T @ dz}
    if node.layer.use_bias:
        grads["bias"] = dz.sum(axis=0)
    return (dz @ w["kernel"].T if need_dx else None), grads


# The graph

def _check_weights(net: Network, weights: Weights) -> None:
    for node in net.nodes:
        need = node.params
        if not need:
            continue
        have = weights.get(node.layer.name)
        if have is None:
            raise ValueError(f"weights have no arrays for layer '{node.layer.name}' ({node.layer.type})")
        if set(have) != set(need):
            raise ValueError(f"layer '{node.layer.name}': weights have {sorted(have)}, "
                             f"the network needs {sorted(need)}")
        for name, shape in need.items():
            if tuple(np.shape(have[name])) != tuple(shape):
                raise ValueError(f"layer '{node.layer.name}': {name} has shape {tuple(np.shape(have[name]))}, "
                                 f"the network needs {tuple(shape)}")
    extra = sorted(set(weights) - {n.layer.name for n in net.nodes if n.params})
    if extra:
        raise ValueError(f"weights name layers the network does not have (or that hold no arrays): {', '.join(extra)}")


def _cast(weights: Weights, dtype) -> Weights:
    return {layer: {k: np.asarray(a).astype(dtype, copy=False) for k, a in arrays.items()}
            for layer, arrays in weights.items()}


def _as_images(net: Network, x: np.ndarray, dtype) -> np.ndarray:
    """(N, *input_shape) in dtype, from that or from flat (N, prod(input_shape))."""
    x = np.asarray(x)
    return x.reshape(len(x), *net.input_shape).astype(dtype, copy=False)


def _run(net: Network, weights: Weights, x: np.ndarray, training: bool, masks: dict | None, keep: bool):
    """Logits and, when keep, every layer's cache for the backward pass."""
    vals = {"input": x}
    caches = {}
    last_use = {}  # free each output once the last layer reading it has run (when not kept)
    for i, node in enumerate(net.nodes):
        for name in node.inputs:
            last_use[name] = i
    for i, node in enumerate(net.nodes):
        layer, w = node.layer, weights.get(node.layer.name, {})
        a = vals[node.inputs[0]]
        cache = None
        if isinstance(layer, Conv2D):
            out, cache = _conv_forward(node, w, a)
        elif isinstance(layer, DepthwiseConv2D):
            out, cache = _depthwise_forward(node, w, a)
        elif isinstance(layer, MaxPool2D):
            out, cache = _maxpool_forward(node, w, a)
        elif isinstance(layer, AvgPool2D):
            out, cache = _avgpool_forward(node, w, a)
        elif isinstance(layer, GlobalAveragePooling):
            out, cache = _gap_forward(node, w, a)
        elif isinstance(layer, BatchNorm):
            out, cache = _bn_forward(node, w, a, training)
        elif isinstance(layer, ReLU):
            out = np.maximum(a, 0)
            cache = out
        elif isinstance(layer, ReLU6):
            out = np.clip(a, 0, 6)
            cache = a
        elif isinstance(layer, Add):
            out = a + vals[node.inputs[1]]
        elif isinstance(layer, Flatten):
            out = a.reshape(len(a), -1)  # channels-last (h, w, c) order, as NHWC lies in memory
        elif isinstance(layer, Dense):
            out, cache = _dense_forward(node, w, a)
        elif isinstance(layer, Dropout):
            if training and layer.rate > 0:
                if masks is None or layer.name not in masks:
                    raise ValueError(f"layer '{layer.name}' (Dropout): training needs its mask")
                cache = masks[layer.name].astype(a.dtype, copy=False)
                out = a * cache
            else:
                out = a
        else:  # pragma: no cover - models.layers.TYPES lists no other
            raise TypeError(f"layer '{layer.name}': the NumPy reference has no {layer.type}")
        vals[layer.name] = out
        if keep:
            caches[layer.name] = cache
        else:
            for name in node.inputs:
                if last_use[name] == i and name != "input":
                    vals.pop(name, None)
    return vals[net.nodes[-1].layer.name], caches


_BACKWARD = {Conv2D: _conv_backward, DepthwiseConv2D: _depthwise_backward, MaxPool2D: _maxpool_backward,
             AvgPool2D: _avgpool_backward, GlobalAveragePooling: _gap_backward, BatchNorm: _bn_backward,
             Dense: _dense_backward}


def _backward(net: Network, weights: Weights, caches: dict, dlogits: np.ndarray) -> Weights:
    """Gradients of every trainable array, from the gradient of the logits."""
    grads: Weights = {}
    upstream: dict[str, np.ndarray] = {net.nodes[-1].layer.name: dlogits}

    def add(name: str, g: np.ndarray) -> None:
        if name != "input":  # nothing needs the image's gradient
            upstream[name] = upstream[name] + g if name in upstream else g

    for node in reversed(net.nodes):
        layer, w = node.layer, weights.get(node.layer.name, {})
        dy = upstream.pop(layer.name, None)
        trainable = {k: a for k, a in w.items() if k in TRAINABLE}
        if dy is None:  # an output nothing reads: no gradient reaches this layer
            if trainable:
                grads[layer.name] = {k: np.zeros_like(a) for k, a in trainable.items()}
            continue
        cache = caches[layer.name]
        need_dx = node.inputs[0] != "input"
        if type(layer) in _BACKWARD:
            dx, g = _BACKWARD[type(layer)](node, w, dy, cache, need_dx)
            if trainable:
                grads[layer.name] = g
        elif isinstance(layer, ReLU):
            dx = dy * (cache > 0)
        elif isinstance(layer, ReLU6):
            dx = dy * ((cache > 0) & (cache < 6))
        elif isinstance(layer, Add):
            dx = dy
            add(node.inputs[1], dy)
        elif isinstance(layer, Flatten):
            dx = dy.reshape(len(dy), *node.in_shape)
        elif isinstance(layer, Dropout):
            dx = dy if cache is None else dy * cache
        else:  # pragma: no cover
            raise TypeError(layer.type)
        if dx is not None:
            add(node.inputs[0], dx)
    return grads


def forward(net: Network, weights: Weights, x: np.ndarray, dtype=np.float64, training: bool = False,
            masks: dict[str, np.ndarray] | None = None, seed_for_step: int = 0) -> np.ndarray:
    """Logits in `dtype` of images x ((N, *net.input_shape), or flat (N, prod(input_shape))).

    training=False (inference): BatchNorm uses its running statistics, Dropout is the identity;
    the images run in chunks of INFERENCE_CHUNK (the result does not depend on the chunking).
    training=True: BatchNorm normalises with this batch's statistics (nothing is updated) and
    Dropout applies `masks`, or dropout_masks(net, N, seed_for_step) when none are given."""
    w = _cast(weights, dtype)
    x = _as_images(net, x, dtype)
    if training:
        if masks is None and has_dropout(net):
            masks = dropout_masks(net, len(x), seed_for_step, dtype)
        return _run(net, w, x, True, masks, keep=False)[0]
    if len(x) <= INFERENCE_CHUNK:
        return _run(net, w, x, False, None, keep=False)[0]
    return np.concatenate([_run(net, w, x[s:s + INFERENCE_CHUNK], False, None, keep=False)[0]
                           for s in range(0, len(x), INFERENCE_CHUNK)])


def loss_and_grads(net: Network, weights: Weights, x: np.ndarray, y: np.ndarray, dtype=np.float32,
                   masks: dict[str, np.ndarray] | None = None, seed_for_step: int = 0,
                   batch_stats: dict | None = None) -> tuple[float, np.ndarray, Weights]:
    """Mean softmax cross-entropy of one training-mode batch, the logits, and the gradient of
    every trainable array ({layer: {"kernel", "bias", "gamma", "beta"}}, as present).

    dtype: float32 is what the frameworks compute in; float64 lets a test check the gradient
    against finite differences without float32 rounding swamping it. Dropout: `masks`, or
    dropout_masks(net, N, seed_for_step). batch_stats: a dict to fill with each BatchNorm's
    {"mean", "variance"} (biased) of this batch, what the running statistics move towards."""
    w = _cast(weights, dtype)
    x = _as_images(net, x, dtype)
    if masks is None and has_dropout(net):
        masks = dropout_masks(net, len(x), seed_for_step, dtype)
    logits, caches = _run(net, w, x, True, masks, keep=True)
    y = np.asarray(y)
    rows = np.arange(len(y))
    z = logits - logits.max(axis=1, keepdims=True)  # stable softmax: exp never overflows
    e = np.exp(z)
    s = e.sum(axis=1)
    loss = np.mean(np.log(s) - z[rows, y])
    d = e / s[:, None]  # dL/dlogits = (softmax - onehot) / batch
    d[rows, y] -= 1
    d /= len(y)
    grads = _backward(net, w, caches, d)
    if batch_stats is not None:
        for node in net.nodes:
            if isinstance(node.layer, BatchNorm):
                _, _, mean, var = caches[node.layer.name]
                batch_stats[node.layer.name] = {"mean": mean, "variance": var}
    return float(loss), logits, grads


class _Sgd:
    def __init__(self, opt: OptimizerSpec, params: list[np.ndarray]) -> None:
        self.lr, self.params = opt.learning_rate, params

    def step(self, t: int, grads: list[np.ndarray]) -> None:
        for p, g in zip(self.params, grads):
            p -= self.lr * g  # a Python float keeps the arithmetic in float32


class _Adam:
    """Adam with both epsilon placements (see OptimizerSpec). m and v in float32, as every
    framework keeps them; the per-step scalars are computed in float64, then applied."""

    def __init__(self, opt: OptimizerSpec, params: list[np.ndarray]) -> None:
        self.opt, self.params = opt, params
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, t: int, grads: list[np.ndarray]) -> None:
        o = self.opt
        bc1, bc2 = 1.0 - o.beta1 ** t, 1.0 - o.beta2 ** t
        aligned = o.epsilon_placement == "aligned"
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m += (1.0 - o.beta1) * (g - m)
            v += (1.0 - o.beta2) * (g * g - v)
            if aligned:  # Keras: epsilon added before the bias correction of v
                p -= (o.learning_rate * math.sqrt(bc2) / bc1) * m / (np.sqrt(v) + o.epsilon)
            else:  # PyTorch / Optax: epsilon added after it
                p -= (o.learning_rate / bc1) * m / (np.sqrt(v) / math.sqrt(bc2) + o.epsilon)


def _trainable(weights: Weights) -> list[tuple[str, str]]:
    """(layer, array) of every trainable array, in a fixed order."""
    return [(layer, k) for layer, arrays in weights.items() for k in TRAINABLE if k in arrays]


class NumpyAdapter:
    name = "numpy"

    def __init__(self, threads: int) -> None:
        self.threads = threads

    def versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}

    def build(self, net: Network, weights: Weights) -> NumpyModel:
        """The network with float32 copies of `weights` (checked against its parameter shapes)."""
        _check_weights(net, weights)
        return NumpyModel(net, weights)

    def load_data(self, x, y):
        return np.asarray(x, np.float32), np.asarray(y)  # already NumPy: nothing to move

    def train(self, model: NumpyModel, data, order: np.ndarray, batch_size: int, optimizer: OptimizerSpec,
              on_epoch: Callable[[EpochRecord], None], on_step: Callable[[int, NumpyModel], None] | None = None,
              compiled: bool = False) -> list[EpochRecord]:
        # `compiled` is accepted and ignored: NumPy has no graph compiler, so both modes run this
        # same loop (a "compiled" row for numpy times the eager loop again).
        x, y = data
        n = len(y)
        net = model.net
        keys = _trainable(model.weights)
        opt = (_Sgd if optimizer.name == "sgd" else _Adam)(optimizer, [model.weights[l][k] for l, k in keys])
        bns = [node.layer for node in net.nodes if isinstance(node.layer, BatchNorm)]
        dropout = has_dropout(net)
        history = []
        step = 0
        # BLAS threads as the run asked (the pipeline's child processes also set them by env).
        with threadpool_limits(limits=self.threads, user_api="blas"):
            for epoch, perm in enumerate(order, start=1):
                t0 = time.perf_counter()
                loss_sum, correct = 0.0, 0
                for start, stop in batches(n, batch_size):
                    idx = perm[start:stop]
                    xb, yb = x[idx], y[idx]
                    step += 1
                    masks = model.masks_for_step(step, len(idx)) if dropout else None
                    stats: dict = {}
                    loss, logits, grads = loss_and_grads(net, model.weights, xb, yb, masks=masks, batch_stats=stats)
                    opt.step(step, [grads[l][k] for l, k in keys])
                    for bn in bns:  # the running statistics move towards this batch's (biased) ones
                        w, s = model.weights[bn.name], stats[bn.name]
                        w["moving_mean"][...] = w["moving_mean"] * bn.momentum + s["mean"] * (1.0 - bn.momentum)
                        w["moving_variance"][...] = (w["moving_variance"] * bn.momentum
                                                     + s["variance"] * (1.0 - bn.momentum))
                    # Running figures from the pre-update logits, as Keras' fit() reports them.
                    loss_sum += loss * (stop - start)
                    correct += int(np.count_nonzero(logits.argmax(axis=1) == yb))
                    if on_step is not None:
                        on_step(step, model)
                rec = EpochRecord(epoch, loss_sum / n, correct / n, time.perf_counter() - t0)
                history.append(rec)
                on_epoch(rec)
        return history

    def predict(self, model: NumpyModel, x: np.ndarray) -> np.ndarray:
        """float32 logits in inference mode (running statistics, no dropout)."""
        with threadpool_limits(limits=self.threads, user_api="blas"):
            return forward(model.net, model.weights, x, dtype=np.float32)

    def get_weights(self, model: NumpyModel) -> Weights:
        return {layer: {k: a.copy() for k, a in arrays.items()} for layer, arrays in model.weights.items()}
