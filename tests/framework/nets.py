"""Shared by the export tests: a tiny residual CNN with BatchNorm and a depthwise conv, weights
that look trained, a float64 NumPy forward pass of any Network (the ground truth the Keras build
is checked against), and minimal PyTorch and Flax stand-ins of the adapters' models (NHWC in,
BatchNorm in inference mode) for exercising the exporters while an adapter still builds from the
old interface."""

from __future__ import annotations

import inspect

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
    """Inference logits in float64, straight from the layer definitions (explicit pads,
    channels-last, BatchNorm with running statistics, dropout off)."""
    x = x.astype(np.float64).reshape(len(x), *net.input_shape)
    out = {"input": x}
    for n in net.nodes:
        layer, a, p = n.layer, out[n.inputs[0]], w.get(n.layer.name, {})
        if isinstance(layer, (L.Conv2D, L.DepthwiseConv2D)):
            (t, b), (left, r) = layer.pads(n.in_shape)
            a = np.pad(a, ((0, 0), (t, b), (left, r), (0, 0)))
            (kh, kw), (sh, sw), (h, wd, c) = layer.kernel, layer.stride, n.out_shape
            k = p["kernel"].astype(np.float64)
            y = np.zeros((len(a), h, wd, c))
            for i in range(kh):
                for j in range(kw):
                    patch = a[:, i:i + sh * h:sh, j:j + sw * wd:sw, :][:, :h, :wd]
                    if isinstance(layer, L.Conv2D):
                        y += patch @ k[i, j]
                    else:  # output channel c*M + m
                        y += (patch[..., :, None] * k[i, j]).reshape(len(a), h, wd, c)
            a = _ACT[layer.activation](y + p.get("bias", 0))
        elif isinstance(layer, L.Dense):
            a = _ACT[layer.activation](a @ p["kernel"] + p.get("bias", 0))
        elif isinstance(layer, (L.MaxPool2D, L.AvgPool2D)):
            (h, wd, _), (ph, pw), (sh, sw) = n.out_shape, layer.pool, layer.stride
            win = np.stack([a[:, i:i + sh * h:sh, j:j + sw * wd:sw][:, :h, :wd] for i in range(ph) for j in range(pw)])
            a = win.max(0) if isinstance(layer, L.MaxPool2D) else win.mean(0)
        elif isinstance(layer, L.GlobalAveragePooling):
            a = a.mean(axis=(1, 2))
        elif isinstance(layer, L.BatchNorm):
            a = (a - p["moving_mean"]) / np.sqrt(p["moving_variance"] + layer.epsilon) * p["gamma"] + p["beta"]
        elif isinstance(layer, L.ReLU):
            a = np.maximum(a, 0)
        elif isinstance(layer, L.ReLU6):
            a = np.clip(a, 0, 6)
        elif isinstance(layer, L.Add):
            a = a + out[layer.other]
        elif isinstance(layer, L.Flatten):
            a = a.reshape(len(a), -1)
        out[layer.name] = a
    return a


def new_interface(adapter) -> bool:
    """Whether an adapter's build takes (net, weights) rather than the old (spec, pairs)."""
    params = list(inspect.signature(adapter.build).parameters)
    return bool(params) and params[0] == "net"


def torch_standin(net: Network, w: W.Weights):
    """A PyTorch model of the network as the adapter's contract describes it: NHWC in (permuted
    to NCHW inside), explicit pads, channels-last flatten, BatchNorm in eval mode."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    t = lambda a: torch.from_numpy(np.ascontiguousarray(a, np.float32))  # noqa: E731

    class Model(nn.Module):
        input_layout = "NHWC"

        def __init__(self):
            super().__init__()
            self.mods = nn.ModuleDict()
            for n in net.nodes:
                layer, p, key = n.layer, w.get(n.layer.name, {}), n.layer.name
                if isinstance(layer, L.Conv2D):
                    m = nn.Conv2d(n.in_shape[2], layer.filters, layer.kernel, layer.stride, bias=layer.use_bias)
                    m.weight.data = t(p["kernel"].transpose(3, 2, 0, 1))
                elif isinstance(layer, L.DepthwiseConv2D):
                    c = n.in_shape[2]
                    m = nn.Conv2d(c, c * layer.multiplier, layer.kernel, layer.stride, groups=c, bias=layer.use_bias)
                    kh, kw = layer.kernel
                    m.weight.data = t(p["kernel"].reshape(kh, kw, -1).transpose(2, 0, 1)[:, None])
                elif isinstance(layer, L.Dense):
                    m = nn.Linear(n.in_shape[0], layer.units, bias=layer.use_bias)
                    m.weight.data = t(p["kernel"].T)
                elif isinstance(layer, L.BatchNorm):
                    cls = nn.BatchNorm2d if len(n.in_shape) == 3 else nn.BatchNorm1d
                    m = cls(n.in_shape[-1], eps=layer.epsilon, momentum=1 - layer.momentum)
                    m.weight.data, m.bias.data = t(p["gamma"]), t(p["beta"])
                    m.running_mean.data, m.running_var.data = t(p["moving_mean"]), t(p["moving_variance"])
                else:
                    continue
                if getattr(m, "bias", None) is not None and "bias" in p:
                    m.bias.data = t(p["bias"])
                self.mods[key] = m

        def forward(self, x):
            if x.dim() == 4:
                x = x.permute(0, 3, 1, 2)
            out = {"input": x}
            for n in net.nodes:
                layer, a = n.layer, out[n.inputs[0]]
                if isinstance(layer, (L.Conv2D, L.DepthwiseConv2D)):
                    (top, bottom), (left, right) = layer.pads(n.in_shape)
                    if top or bottom or left or right:
                        a = F.pad(a, (left, right, top, bottom))
                    a = self.mods[layer.name](a)
                elif isinstance(layer, (L.Dense, L.BatchNorm)):
                    a = self.mods[layer.name](a)
                elif isinstance(layer, L.MaxPool2D):
                    a = F.max_pool2d(a, layer.pool, layer.stride)
                elif isinstance(layer, L.AvgPool2D):
                    a = F.avg_pool2d(a, layer.pool, layer.stride)
                elif isinstance(layer, L.GlobalAveragePooling):
                    a = a.mean(dim=(2, 3))
                elif isinstance(layer, L.ReLU):
                    a = F.relu(a)
                elif isinstance(layer, L.ReLU6):
                    a = F.relu6(a)
                elif isinstance(layer, L.Add):
                    a = a + out[layer.other]
                elif isinstance(layer, L.Flatten):
                    a = a.permute(0, 2, 3, 1).flatten(1)
                elif isinstance(layer, L.Dropout):
                    a = F.dropout(a, layer.rate, self.training)
                if getattr(layer, "activation", None) == "relu":
                    a = F.relu(a)
                elif getattr(layer, "activation", None) == "relu6":
                    a = F.relu6(a)
                out[layer.name] = a
            return a

    return Model().eval()


def torch_predict(model, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return model.eval()(torch.from_numpy(np.ascontiguousarray(x, np.float32))).numpy()


def flax_standin(net: Network, w: W.Weights) -> dict:
    """A Flax linen model of the network, NHWC, BatchNorm switched by `train` (False: running
    statistics), as {"module", "params"} with params = {"params", "batch_stats"}."""
    import flax.linen as nn
    import jax.numpy as jnp

    class Model(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool = False):
            out = {"input": x}
            for n in net.nodes:
                layer, a = n.layer, out[n.inputs[0]]
                if isinstance(layer, L.Conv2D):
                    a = nn.Conv(layer.filters, layer.kernel, layer.stride, padding=layer.pads(n.in_shape),
                                use_bias=layer.use_bias, name=layer.name)(a)
                elif isinstance(layer, L.DepthwiseConv2D):
                    c = n.in_shape[2]
                    a = nn.Conv(c * layer.multiplier, layer.kernel, layer.stride, padding=layer.pads(n.in_shape),
                                feature_group_count=c, use_bias=layer.use_bias, name=layer.name)(a)
                elif isinstance(layer, L.Dense):
                    a = nn.Dense(layer.units, use_bias=layer.use_bias, name=layer.name)(a)
                elif isinstance(layer, L.BatchNorm):
                    a = nn.BatchNorm(use_running_average=not train, momentum=layer.momentum, epsilon=layer.epsilon,
                                     use_fast_variance=False, name=layer.name)(a)
                elif isinstance(layer, L.MaxPool2D):
                    a = nn.max_pool(a, layer.pool, strides=layer.stride)
                elif isinstance(layer, L.AvgPool2D):
                    a = nn.avg_pool(a, layer.pool, strides=layer.stride)
                elif isinstance(layer, L.GlobalAveragePooling):
                    a = a.mean(axis=(1, 2))
                elif isinstance(layer, L.ReLU):
                    a = nn.relu(a)
                elif isinstance(layer, L.ReLU6):
                    a = nn.relu6(a)
                elif isinstance(layer, L.Add):
                    a = a + out[layer.other]
                elif isinstance(layer, L.Flatten):
                    a = a.reshape(a.shape[0], -1)
                act = getattr(layer, "activation", None)
                if act == "relu":
                    a = nn.relu(a)
                elif act == "relu6":
                    a = nn.relu6(a)
                out[layer.name] = a
            return a

    params, stats = {}, {}
    for n in net.nodes:
        layer, p = n.layer, w.get(n.layer.name)
        if not p:
            continue
        if isinstance(layer, L.BatchNorm):
            params[layer.name] = {"scale": jnp.asarray(p["gamma"]), "bias": jnp.asarray(p["beta"])}
            stats[layer.name] = {"mean": jnp.asarray(p["moving_mean"]), "var": jnp.asarray(p["moving_variance"])}
            continue
        k = p["kernel"]
        if isinstance(layer, L.DepthwiseConv2D):
            k = k.reshape(*layer.kernel, 1, -1)
        params[layer.name] = {"kernel": jnp.asarray(k)} | ({"bias": jnp.asarray(p["bias"])} if "bias" in p else {})
    variables = {"params": params} | ({"batch_stats": stats} if stats else {})
    return {"module": Model(), "params": variables}


def flax_predict(model: dict, x: np.ndarray) -> np.ndarray:
    return np.asarray(model["module"].apply(model["params"], x, train=False))
