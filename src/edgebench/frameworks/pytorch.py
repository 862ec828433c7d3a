"""PyTorch: the manual training loop a typical user writes, with every choice pinned.

Any models.Network becomes a torch module whose parameters are the network's layers by name:

- The MLP (a vector input and Dense layers only) is an `nn.Sequential` of `nn.Linear` and
  `nn.ReLU`, exactly the module every earlier run trained and exported (state_dict keys 0.weight,
  0.bias, 2.weight, ...).
- Any other network is a `NetModule`: one standard module per weighted layer (nn.Conv2d,
  nn.Linear, a BatchNorm) in a ModuleDict keyed by the layer's name, and a forward that walks
  Network.nodes, keeping each layer's output by name (residual Adds read them).

Layouts. Images arrive channels-last (N, H, W, C), as in every adapter; the forward permutes them
to NCHW once, at its edge, and computes in NCHW from there. Both modules carry `input_layout`
("NHWC" for an image input, "NC" for a vector input) and `input_shape` (per sample, as the network
gives it): exporters and verification read these. Kernels are converted at build and get_weights:
Keras' conv HWIO <-> OIHW, depthwise (kh, kw, C, M) <-> (C*M, 1, kh, kw) (groups=C), dense (in,
out) <-> (out, in). Flatten permutes NCHW back to NHWC before flattening, so one dense kernel
serves every framework.

Padding is the network's explicit pads: given to the convolution's own `padding` where they are
symmetric (the same zeros, no padded copy of the input per step), else F.pad then a padding=0
convolution, since PyTorch's symmetric padding is not TensorFlow's and Flax's 'same' where the
total is odd (../shared/notes/models.md).

BatchNorm follows the layer: momentum is the weight of the OLD running value (PyTorch's own
momentum would be 1 - that), the layer's epsilon, and a BIASED running variance, as Keras and Flax
keep it. PyTorch's nn.BatchNorm would store the unbiased one (x N/(N-1)), so in training mode the
running buffers are updated here, by that rule, from the batch statistics the standard
F.batch_norm computes while it normalises the batch (once, into scratch buffers); in eval mode it
is the plain F.batch_norm with the running statistics, which torch.export / torch.onnx /
litert-torch see as an inference BatchNorm and fold. In training, BatchNorm's input is made
NCHW-contiguous first: PyTorch's CPU kernel for channels-last tensors (what a one-channel image's
first convolution hands over) accumulates its sums less accurately in float32 (2.5e-5 relative on
DS-CNN's first BatchNorm, 2.4% on the first kernel's gradient; 1e-7 contiguous). The price: the
layers after it run NCHW, not channels-last, which on a CPU made 20 eager steps of DS-CNN about
1.5x and ResNet-8 1.3x slower than nn.BatchNorm2d left channels-last (measured on 2 cores).
In eval mode the forward uses only standard ops (permute, F.pad, conv2d, max/avg_pool2d, batch_norm,
relu, hardtanh (relu6), add, mean, reshape, linear).
"""

from __future__ import annotations

import math
import time

import numpy as np

from edgebench.config import OptimizerSpec
from edgebench.frameworks.base import EpochRecord, batches
from edgebench.models import layers as L
from edgebench.models.network import Network
from edgebench.models.weights import Weights

try:  # the registry imports this module only for a run that trains PyTorch
    import torch
    import torch.nn.functional as F
    from torch import nn

    _Module, _Sequential = nn.Module, nn.Sequential
except ImportError:  # pragma: no cover - PyTorchAdapter() then fails with the import error
    torch = None
    _Module = _Sequential = object

PREDICT_CHUNK = 2000  # images per forward in predict (convolutional networks' activations are large)


def _is_dense_stack(net: Network) -> bool:
    """The MLP's shape: a vector input and a chain of Dense layers (ReLU or no activation)."""
    if len(net.input_shape) != 1:
        return False
    prev = "input"
    for node in net.nodes:
        layer = node.layer
        if not isinstance(layer, L.Dense) or layer.activation not in (None, "relu") or node.inputs != (prev,):
            return False
        prev = layer.name
    return True


class DenseStack(_Sequential):
    """The MLP: nn.Linear / nn.ReLU in order (nn.Sequential's forward and state_dict keys)."""

    input_layout = "NC"

    def __init__(self, net: Network, *modules):
        super().__init__(*modules)
        self.net = net
        self.input_shape = tuple(net.input_shape)
        # Layer name -> index of its nn.Linear in the stack.
        self.layer_index: dict[str, int] = {}
        i = 0
        for node in net.nodes:
            self.layer_index[node.layer.name] = i
            i += 2 if node.layer.activation == "relu" else 1


class BatchNorm(_Module):
    """BatchNorm with the layer's rule: running = momentum * running + (1 - momentum) * batch,
    the batch variance biased (divided by N). Parameters and buffers have nn.BatchNorm's names
    (weight, bias, running_mean, running_var)."""

    def __init__(self, channels: int, momentum: float, eps: float) -> None:
        super().__init__()
        self.momentum, self.eps = float(momentum), float(eps)
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x):
        if self.training:
            # NCHW-contiguous: PyTorch's channels-last CPU batch norm sums less accurately in float32
            # (see the module's docstring).
            x = x.contiguous()
            c = x.shape[1]
            # The batch statistics, computed once by F.batch_norm itself: momentum=1 leaves them in
            # these scratch buffers (mean, and the variance divided by N - 1, PyTorch's rule).
            mean = torch.zeros(c, dtype=x.dtype, device=x.device)
            var = torch.ones(c, dtype=x.dtype, device=x.device)
            out = F.batch_norm(x, mean, var, self.weight, self.bias, True, 1.0, self.eps)
            n = x.numel() // c
            with torch.no_grad():  # the layer's rule, with the biased variance (x (N-1)/N)
                self.running_mean.mul_(self.momentum).add_(mean, alpha=1.0 - self.momentum)
                self.running_var.mul_(self.momentum).add_(var, alpha=(1.0 - self.momentum) * (n - 1) / n)
            return out
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, momentum(old)={self.momentum}, eps={self.eps}, biased running variance"


def _activate(x, activation):
    if activation == "relu":
        return F.relu(x)
    if activation == "relu6":
        return F.relu6(x)  # hardtanh(0, 6)
    return x


class NetModule(_Module):
    """Any Network, computed in NCHW; forward(x) takes channels-last (N, *net.input_shape)."""

    def __init__(self, net: Network) -> None:
        super().__init__()
        self.net = net
        self.input_shape = tuple(net.input_shape)
        self.image_input = len(net.input_shape) == 3
        self.input_layout = "NHWC" if self.image_input else "NC"
        self.layers = nn.ModuleDict()
        self.capture: dict | None = None  # activations(): every layer's output, while set
        self.keys: dict[str, str] = {}  # layer name -> its key in self.layers
        for node in net.nodes:
            module = self._module(node)
            if module is not None:
                key = self._key(node.layer.name)
                self.layers[key] = module
                self.keys[node.layer.name] = key
        # The walk, as plain Python data: (layer, its module key, inputs, names no longer needed).
        last_use = {}
        for i, node in enumerate(net.nodes):
            for name in node.inputs:
                last_use[name] = i
        self.plan = tuple(
            (node.layer, self.keys.get(node.layer.name), node.inputs, _outside_pads(node),
             tuple(n for n in dict.fromkeys(node.inputs) if last_use[n] == i))
            for i, node in enumerate(net.nodes))

    def _key(self, name: str) -> str:
        # ModuleDict keys may not hold '.' nor shadow its own attributes (keys, items, ...).
        key, i = name.replace(".", "_") or "layer", 1
        base = key
        while key in self.layers or hasattr(self.layers, key):
            key, i = f"{base}_{i}", i + 1
        return key

    @staticmethod
    def _module(node):
        layer = node.layer
        if isinstance(layer, L.Conv2D):
            return nn.Conv2d(node.in_shape[2], layer.filters, layer.kernel, stride=layer.stride,
                             padding=_inside_pads(node), bias=layer.use_bias)
        if isinstance(layer, L.DepthwiseConv2D):
            c = node.in_shape[2]
            return nn.Conv2d(c, c * layer.multiplier, layer.kernel, stride=layer.stride, padding=_inside_pads(node),
                             groups=c, bias=layer.use_bias)
        if isinstance(layer, L.Dense):
            return nn.Linear(node.in_shape[0], layer.units, bias=layer.use_bias)
        if isinstance(layer, L.BatchNorm):
            return BatchNorm(node.in_shape[-1], layer.momentum, layer.epsilon)
        if isinstance(layer, (L.MaxPool2D, L.AvgPool2D, L.GlobalAveragePooling, L.ReLU, L.ReLU6, L.Add,
                              L.Flatten, L.Dropout)):
            return None
        raise NotImplementedError(f"layer '{layer.name}': type {layer.type} has no PyTorch counterpart here")

    def forward(self, x):
        if self.image_input:
            x = x.permute(0, 3, 1, 2)  # NHWC -> NCHW, once, at the edge
        outs = {"input": x}
        for layer, key, inputs, pads, done in self.plan:
            x = outs[inputs[0]]
            if isinstance(layer, (L.Conv2D, L.DepthwiseConv2D)):
                if pads is not None:
                    (t, b), (left, r) = pads
                    x = F.pad(x, (left, r, t, b))  # F.pad: last axis (W) first
                x = _activate(self.layers[key](x), layer.activation)
            elif isinstance(layer, L.Dense):
                x = _activate(self.layers[key](x), layer.activation)
            elif isinstance(layer, L.BatchNorm):
                x = self.layers[key](x)
            elif isinstance(layer, L.MaxPool2D):
                x = F.max_pool2d(x, layer.pool, layer.stride)
            elif isinstance(layer, L.AvgPool2D):
                x = F.avg_pool2d(x, layer.pool, layer.stride)  # valid: no pads to count
            elif isinstance(layer, L.GlobalAveragePooling):
                x = x.mean(dim=(2, 3))
            elif isinstance(layer, L.ReLU):
                x = F.relu(x)
            elif isinstance(layer, L.ReLU6):
                x = F.relu6(x)
            elif isinstance(layer, L.Add):
                x = x + outs[inputs[1]]
            elif isinstance(layer, L.Flatten):
                if x.dim() == 4:
                    x = x.permute(0, 2, 3, 1)  # NCHW -> NHWC: flatten channels-last, as Keras and Flax
                x = x.flatten(1)
            elif isinstance(layer, L.Dropout):
                if layer.rate > 0:
                    x = F.dropout(x, layer.rate, self.training)
            for name in done:  # free what no later layer reads
                del outs[name]
            outs[layer.name] = x
            if self.capture is not None:
                self.capture[layer.name] = x
        return x


def _symmetric(node) -> bool:
    (t, b), (left, r) = node.layer.pads(node.in_shape)
    return t == b and left == r


def _inside_pads(node) -> tuple[int, int]:
    """The network's explicit pads, given to the convolution itself where they are symmetric (the
    same zeros, without a padded copy of the input every step); else none (see _outside_pads)."""
    (t, _), (left, _) = node.layer.pads(node.in_shape)
    return (t, left) if _symmetric(node) else (0, 0)


def _outside_pads(node):
    """Pads F.pad must add before the convolution: the network's explicit pads where they are not
    symmetric ('same' with an even kernel or a stride: the odd extra row and column at the
    bottom/right, TensorFlow's rule), else None."""
    if not isinstance(node.layer, (L.Conv2D, L.DepthwiseConv2D)) or _symmetric(node):
        return None
    return node.layer.pads(node.in_shape)


def _f32(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


class PyTorchAdapter:
    name = "pytorch"

    def __init__(self, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:  # already set in this process (only possible when reused in tests)
            pass
        self.torch = torch
        self._seed = torch.initial_seed()  # what a fresh process starts with (dropout draws from it)

    def versions(self) -> dict[str, str]:
        return {"torch": self.torch.__version__}

    def fresh_state(self, compiled: bool = False) -> None:
        """Before each training of a long-lived worker: the global RNG as a fresh process has it, so
        every repeat draws the same dropout masks; in compiled mode, Dynamo's caches emptied, so each
        repeat compiles its own model (as in a fresh process) and never meets the recompile limit,
        past which torch.compile silently falls back to eager."""
        self.torch.manual_seed(self._seed)
        if compiled:
            self.torch._dynamo.reset()

    # ---- model and weights (Keras layouts in and out) ----

    def build(self, net: Network, weights: Weights):
        if _is_dense_stack(net):
            return self._build_stack(net, weights)
        model = NetModule(net)
        with torch.no_grad():
            for node in net.nodes:
                key = model.keys.get(node.layer.name)
                if key is None:
                    continue
                arrays = weights.get(node.layer.name)
                if arrays is None:
                    raise KeyError(f"no weights for layer '{node.layer.name}'")
                _load(model.layers[key], node, arrays)
        return model

    def _build_stack(self, net: Network, weights: Weights):
        modules: list = []
        for node in net.nodes:
            modules.append(nn.Linear(node.in_shape[0], node.layer.units, bias=node.layer.use_bias))
            if node.layer.activation == "relu":
                modules.append(nn.ReLU())
        model = DenseStack(net, *modules)
        with torch.no_grad():
            for node in net.nodes:
                arrays = weights.get(node.layer.name)
                if arrays is None:
                    raise KeyError(f"no weights for layer '{node.layer.name}'")
                _load(model[model.layer_index[node.layer.name]], node, arrays)
        return model

    def get_weights(self, model) -> Weights:
        net = model.net
        out: Weights = {}
        for node in net.nodes:
            if isinstance(model, DenseStack):
                module = model[model.layer_index[node.layer.name]]
            else:
                key = model.keys.get(node.layer.name)
                if key is None:
                    continue
                module = model.layers[key]
            out[node.layer.name] = _save(module, node)
        return out

    # ---- training ----

    def _optimizer(self, params, opt: OptimizerSpec):
        o = self.torch.optim
        if opt.name == "sgd":
            return o.SGD(params, lr=opt.learning_rate, momentum=0.0, dampening=0.0, weight_decay=0.0)
        return o.Adam(params, lr=opt.learning_rate, betas=(opt.beta1, opt.beta2), eps=opt.epsilon,
                      weight_decay=0.0, amsgrad=False)

    def load_data(self, x, y):
        return self.torch.from_numpy(x), self.torch.from_numpy(y)  # shares the NumPy memory

    @staticmethod
    def _shaped(model, x):
        """Images as the network takes them, (N, *input_shape); a flat (N, H*W*C) array is viewed so."""
        shape = tuple(model.input_shape)
        return x if tuple(x.shape[1:]) == shape else x.reshape(x.shape[0], *shape)

    def train(self, model, data, order, batch_size, optimizer, on_epoch, on_step=None, compiled=False):
        torch = self.torch
        xs, ys = data
        xs = self._shaped(model, xs)
        # Compiled mode: torch.compile (Inductor) on the model, forward and backward. The optimizer
        # stays eager: the aligned epsilon changes every step and would recompile a compiled step.
        forward = torch.compile(model) if compiled else model
        opt = self._optimizer(model.parameters(), optimizer)
        loss_fn = torch.nn.CrossEntropyLoss()  # mean over the batch, as Keras
        n = len(ys)
        history = []
        # Keras' epsilon placement (see OptimizerSpec): PyTorch's update with eps_t =
        # eps / sqrt(1 - beta2**t) equals Keras' update with eps, step for step.
        align_eps = optimizer.name == "adam" and optimizer.epsilon_placement == "aligned"
        step = 0
        model.train()
        for epoch, perm in enumerate(order, start=1):
            t0 = time.perf_counter()
            perm_t = torch.from_numpy(perm)
            loss_sum = torch.zeros((), dtype=torch.float64)
            correct = torch.zeros((), dtype=torch.int64)
            for start, stop in batches(n, batch_size):
                idx = perm_t[start:stop]  # each batch gathered by index, as a DataLoader does
                xb, yb = xs[idx], ys[idx]
                step += 1
                if align_eps:
                    eps_t = optimizer.epsilon / math.sqrt(1.0 - optimizer.beta2 ** step)
                    for group in opt.param_groups:
                        group["eps"] = eps_t
                opt.zero_grad(set_to_none=True)
                logits = forward(xb)
                loss = loss_fn(logits, yb)
                loss.backward()
                opt.step()
                # Running figures from the pre-update logits, as Keras' fit() reports them.
                with torch.no_grad():
                    loss_sum += loss.detach().double() * (stop - start)
                    correct += (logits.argmax(dim=1) == yb).sum()
                if on_step is not None:
                    on_step(step, model)
            dt = time.perf_counter() - t0
            rec = EpochRecord(epoch, float(loss_sum) / n, int(correct) / n, dt)
            history.append(rec)
            on_epoch(rec)
        return history

    def save(self, model, folder) -> str:
        """The trained model as a torch.export program with a dynamic batch (`model.pt2`), the
        pickle-free format `edgebench deploy` takes; it takes what the model takes (channels-last
        images, or rows for the MLP)."""
        torch = self.torch
        model.eval()
        shape = (2, *model.net.input_shape) if hasattr(model, "net") else (2, model.layers[0].in_features)
        program = torch.export.export(model, (torch.zeros(shape),), dynamic_shapes=({0: torch.export.Dim("batch")},))
        torch.export.save(program, str(folder / "model.pt2"))
        return "model.pt2"

    def activations(self, model, x: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
        """Each named layer's output on x in eval mode, as PyTorch computes it (NCHW), given back
        channels-last."""
        torch = self.torch
        model.eval()
        out: dict = {}
        with torch.inference_mode():
            if isinstance(model, DenseStack):
                h = torch.from_numpy(np.ascontiguousarray(x.reshape(len(x), -1)))
                ends = {i + (2 if model.net.nodes[j].layer.activation == "relu" else 1) - 1: n
                        for j, (n, i) in enumerate(model.layer_index.items())}
                for i, module in enumerate(model):
                    h = module(h)
                    if i in ends:
                        out[ends[i]] = h
            else:
                model.capture = out
                try:
                    model(torch.from_numpy(np.ascontiguousarray(self._shaped(model, x))))
                finally:
                    model.capture = None
        return {n: (out[n].permute(0, 2, 3, 1) if out[n].dim() == 4 else out[n]).numpy().astype(np.float32)
                for n in names}

    def predict(self, model, x: np.ndarray) -> np.ndarray:
        """Logits of channels-last images (N, *input_shape), in eval mode (running statistics)."""
        model.eval()
        with self.torch.inference_mode():
            if isinstance(model, DenseStack):  # the MLP: one forward, as every earlier run
                return model(self.torch.from_numpy(x)).numpy().astype(np.float32)
            x = self._shaped(model, x)
            out = [model(self.torch.from_numpy(np.ascontiguousarray(x[i:i + PREDICT_CHUNK]))).numpy()
                   for i in range(0, len(x), PREDICT_CHUNK)]
        if not out:
            return np.zeros((0, model.net.num_classes), np.float32)
        return np.concatenate(out).astype(np.float32)


# ---- layout conversions: Keras' arrays <-> one module's tensors ----

def _load(module, node, arrays) -> None:
    layer = node.layer

    def put(param, value):
        value = torch.from_numpy(_f32(value))
        if tuple(param.shape) != tuple(value.shape):
            raise ValueError(f"layer '{layer.name}': weights of shape {tuple(value.shape)} where "
                             f"{tuple(param.shape)} is needed")
        param.copy_(value)

    if isinstance(layer, L.Conv2D):
        put(module.weight, np.asarray(arrays["kernel"]).transpose(3, 2, 0, 1))  # HWIO -> OIHW
    elif isinstance(layer, L.DepthwiseConv2D):
        kh, kw, c, m = np.asarray(arrays["kernel"]).shape
        # (kh, kw, C, M) -> (C*M, 1, kh, kw): output channel c*M + m, as Keras and Flax.
        put(module.weight, np.asarray(arrays["kernel"]).reshape(kh, kw, c * m).transpose(2, 0, 1)[:, None])
    elif isinstance(layer, L.Dense):
        put(module.weight, np.asarray(arrays["kernel"]).T)  # nn.Linear stores (out, in)
    elif isinstance(layer, L.BatchNorm):
        put(module.weight, arrays["gamma"])
        put(module.bias, arrays["beta"])
        put(module.running_mean, arrays["moving_mean"])
        put(module.running_var, arrays["moving_variance"])
        return
    if getattr(layer, "use_bias", False):
        put(module.bias, arrays["bias"])


def _save(module, node) -> dict[str, np.ndarray]:
    """Keras' layouts, C-contiguous copies in the model's own dtype (float32 as trained)."""
    layer = node.layer

    def get(t):
        return t.detach().cpu().numpy()

    if isinstance(layer, L.BatchNorm):
        return {"gamma": get(module.weight).copy(), "beta": get(module.bias).copy(),
                "moving_mean": get(module.running_mean).copy(), "moving_variance": get(module.running_var).copy()}
    w = get(module.weight)
    if isinstance(layer, L.Conv2D):
        kernel = np.ascontiguousarray(w.transpose(2, 3, 1, 0))  # OIHW -> HWIO
    elif isinstance(layer, L.DepthwiseConv2D):
        cm, _, kh, kw = w.shape
        kernel = np.ascontiguousarray(w[:, 0].transpose(1, 2, 0)).reshape(kh, kw, cm // layer.multiplier,
                                                                          layer.multiplier)
    else:
        kernel = w.T.copy()  # (out, in) -> (in, out)
    out = {"kernel": kernel}
    if getattr(layer, "use_bias", False):
        out["bias"] = get(module.bias).copy()
    return out
