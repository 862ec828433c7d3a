"""A deploy's source model, layer by layer (issue 31): what its artifacts' tensors are compared with.

- a Keras model: each layer's output from a sub-model of the loaded model (Keras' own values), the
  layers folded the way converters fold them (measure/layer_match.groups_of), matched to an
  artifact's tensors by the layer names the converters keep;
- a float .tflite or .onnx: every op's output from its own runtime (LiteRT with every tensor kept;
  ONNX Runtime with the outputs added to a copy of the graph): the graph the artifacts were
  converted from, so an artifact's tensor of the same name is the one to compare;
- a .pt2 program: each op of its graph (torch.fx's Interpreter over the program's own module,
  capturing every node's value), named after the nn.Module that made it (nn_module_stack: "s1a",
  or "Conv2d_0" inside an nn.Sequential), folded like Keras' layers, matched by those names where
  the converters keep them and by position otherwise;
- a SavedModel: not listed yet (the report says so).

Nothing here runs code from the file beyond what sources/ already does to open it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from edgebench.measure.layer_match import SourceNode, groups_of

_KERAS_KIND = {"Conv2D": "conv", "DepthwiseConv2D": "conv", "SeparableConv2D": "conv", "Conv1D": "conv",
               "Dense": "dense", "Add": "add", "BatchNormalization": "bn", "ReLU": "relu", "Flatten": "transparent",
               "Reshape": "transparent", "Dropout": "transparent", "MaxPooling2D": "pool", "AveragePooling2D": "pool",
               "GlobalAveragePooling2D": "gap", "ZeroPadding2D": "skip"}


def supported(kind: str, facts: dict) -> str:
    """"" when a source of this kind can list its layers, else why not."""
    if facts.get("precision", "float32") != "float32":
        return f"the source model is {facts.get('precision')}, not float: its artifacts are compared with LiteRT's run"
    if kind not in ("keras", "pt2", "tflite", "onnx"):
        return f"a {kind} source does not list its layers' outputs yet (Keras, .pt2, float .tflite and .onnx do)"
    return ""


def save(src, x: np.ndarray, path: Path) -> float:
    """The source's layer outputs on x (channels-last images), with the layer list, into path (.npz);
    returns the seconds it took."""
    import time

    t0 = time.perf_counter()
    if src.kind == "keras":
        nodes, outputs = _keras(src.model, x)
    elif src.kind == "pt2":
        nodes, outputs = _pt2(src, x)
    else:
        nodes, outputs = _runtime(src, x)
    names = [g.output for g in groups_of(nodes)]
    np.savez(path, input=x, meta=np.array(json.dumps({"nodes": [n.to_dict() for n in nodes], "outputs": names})),
             **{f"layer:{i}": outputs[n] for i, n in enumerate(names)})
    return time.perf_counter() - t0


def load(path: Path) -> tuple[list[SourceNode] | None, dict[str, np.ndarray], np.ndarray]:
    """(nodes or None for a run's Network, {layer: outputs}, inputs) from a saved file."""
    with np.load(path) as f:
        x = f["input"]
        if "meta" not in f.files:  # a run's training: layers by name, the Network known
            return None, {k.split(":", 1)[1]: f[k] for k in f.files if k.startswith("layer:")}, x
        meta = json.loads(str(f["meta"]))
        outputs = {name: f[f"layer:{i}"] for i, name in enumerate(meta["outputs"])}
    return [SourceNode.from_dict(d) for d in meta["nodes"]], outputs, x


def _op_kind(op: str) -> str:
    for kind, pattern in (("conv", "conv"), ("dense", "fully|gemm|matmul"), ("add", "^add"),
                          ("gap", "mean|sum"), ("pool", "pool")):
        if re.search(pattern, op, re.IGNORECASE):
            return kind
    return "other"


def _runtime(src, x: np.ndarray) -> tuple[list[SourceNode], dict[str, np.ndarray]]:
    from edgebench.runtimes.litert import LiteRTSession
    from edgebench.runtimes.onnxruntime import OrtSession

    session = (LiteRTSession if src.kind == "tflite" else OrtSession)(Path(src.model), threads=1)
    tensors = session.layer_tensors()
    got, _ = session.layer_outputs(x, [t.key for t in tensors])
    nodes, outputs = [], {}
    for t in tensors:
        y = got[t.key]
        if src.kind == "onnx" and y.ndim == 4:
            y = y.transpose(0, 2, 3, 1)  # ONNX holds NCHW; compared channels-last, as every source
        # The name an artifact converted from this graph keeps: ONNX's activation output (a QDQ
        # quantizer names the fused conv's output so), a .tflite's tensor name.
        name = t.key if src.kind == "onnx" else t.name
        nodes.append(SourceNode(name, _op_kind(t.op), (), tuple(int(d) for d in y.shape[1:]), "Relu" in t.op,
                                exact=True))
        outputs[name] = np.asarray(y, np.float32)
    return nodes, outputs


def _keras(model, x: np.ndarray) -> tuple[list[SourceNode], dict[str, np.ndarray]]:
    import keras

    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    nodes = []
    for layer in layers:
        kind = _KERAS_KIND.get(type(layer).__name__, "other")
        act = getattr(getattr(layer, "activation", None), "__name__", "")
        if type(layer).__name__ == "Activation":
            kind = "relu" if act == "relu" else "other"
        nodes.append(SourceNode(layer.name, kind, _keras_inputs(layer), tuple(int(d) for d in layer.output.shape[1:]),
                                kind in ("conv", "dense") and act == "relu"))
    names = [g.output for g in groups_of(nodes)]
    sub = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    shape = tuple(model.inputs[0].shape[1:])
    outs = sub([x.reshape(len(x), *shape)], training=False)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    return nodes, {n: np.asarray(o, np.float32) for n, o in zip(names, outs)}


def _keras_inputs(layer) -> tuple[str, ...]:
    """The layers a Keras layer reads (its inbound node's producers), () where Keras does not say."""
    try:
        inputs = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
        return tuple(t._keras_history[0].name for t in inputs)
    except Exception:
        return ()


# aten ops (the name before the overload) -> layer kinds of measure/layer_match
_ATEN_KIND = {"conv2d": "conv", "convolution": "conv", "conv1d": "conv", "_convolution": "conv",
              "linear": "dense", "addmm": "dense", "mm": "dense", "matmul": "dense",
              "batch_norm": "bn", "_native_batch_norm_legit_no_training": "bn", "native_batch_norm": "bn",
              "relu": "relu", "relu_": "relu", "hardtanh": "relu", "hardtanh_": "relu",
              "add": "add", "add_": "add", "max_pool2d": "pool", "avg_pool2d": "pool",
              "max_pool2d_with_indices": "pool", "adaptive_avg_pool2d": "gap", "mean": "gap",
              "flatten": "transparent", "view": "transparent", "reshape": "transparent",
              "_unsafe_view": "transparent", "dropout": "transparent", "clone": "transparent",
              "contiguous": "transparent", "squeeze": "transparent", "unsqueeze": "transparent",
              "pad": "skip", "constant_pad_nd": "skip"}


def _aten_name(target) -> str:
    name = getattr(target, "__name__", str(target))  # aten.conv2d.default -> "conv2d.default"
    return name.split(".")[0]


def _pt2(src, x: np.ndarray) -> tuple[list[SourceNode], dict[str, np.ndarray]]:
    """Every tensor-valued op of a torch.export program on x (channels-last images), run by
    torch.fx's Interpreter over the program's own module: the values PyTorch itself computes."""
    import torch
    import torch.fx

    from edgebench.runtimes.base import to_artifact_input

    module = src.model
    shape, layout = src.facts["input"]["shape"], src.facts["input"]["layout"]
    nodes, keys, nchw_of = _pt2_nodes(module, layout == "NCHW")
    names = {g.output for g in groups_of(nodes)}
    capture = {fx: name for fx, name in keys.items() if name in names}

    class _Capture(torch.fx.Interpreter):
        def run_node(self, n):
            value = super().run_node(n)
            if n.name in capture:
                y = value.detach().numpy()
                batch[capture[n.name]] = y.transpose(0, 2, 3, 1) if nchw_of[n.name] and y.ndim == 4 else y.copy()
            return value

    step = shape[0] if shape[0] > 0 else 256
    got: dict[str, list] = {name: [] for name in capture.values()}
    xs = to_artifact_input(np.asarray(x, np.float32), shape, layout if layout != "NHW" else None)
    with torch.no_grad():
        for i in range(0, len(xs), step):
            part = xs[i:i + step]
            n = len(part)
            if n < step and shape[0] > 0:  # pad the last call to the fixed batch
                part = np.concatenate([part, np.zeros((step - n, *part.shape[1:]), part.dtype)])
            batch: dict[str, np.ndarray] = {}
            _Capture(module).run(torch.from_numpy(np.ascontiguousarray(part)))
            for name, y in batch.items():
                got[name].append(y[:n])
    return nodes, {name: np.ascontiguousarray(np.concatenate(parts), np.float32) for name, parts in got.items()}


def _pt2_nodes(module, nchw: bool) -> tuple[list[SourceNode], dict[str, str], dict[str, bool]]:
    """The program's layers (SourceNode, channels-last shapes), {fx node: layer name} and {fx node:
    whether its value is NCHW}. Each 4-D value's layout: the input's as declared (nchw); PyTorch's
    convolutions, poolings and BatchNorms work in NCHW; a permute (0, 3, 1, 2) / (0, 2, 3, 1)
    switches; the rest keep their input's."""
    import torch
    import torch.fx

    graph_nodes = list(module.graph.nodes)
    tuple_of = {}  # a node whose value is a tuple (a BatchNorm with its saved statistics) -> its tensor inputs
    nodes, keys, used, kinds = [], {}, set(), {}
    nchw_of = {n.name: nchw for n in graph_nodes if n.op == "placeholder"}

    def tensor_inputs(n) -> tuple[str, ...]:
        out = []
        for a in n.all_input_nodes:
            if a.op != "get_attr":
                out.extend(tuple_of.get(a.name, (keys.get(a.name, a.name),)))
        return tuple(out)

    for n in (n for n in graph_nodes if n.op == "call_function"):
        val, op = n.meta.get("val"), _aten_name(n.target)
        first = n.all_input_nodes[0].name if n.all_input_nodes else ""
        if op == "permute" and len(n.args) > 1 and list(n.args[1]) in ([0, 3, 1, 2], [0, 2, 3, 1]):
            nchw_of[n.name] = list(n.args[1]) == [0, 3, 1, 2]
        else:
            nchw_of[n.name] = _ATEN_KIND.get(op) in ("conv", "pool", "bn") or nchw_of.get(first, nchw)
        if isinstance(val, (tuple, list)):
            tuple_of[n.name], kinds[n.name] = tensor_inputs(n), op  # its getitem takes this op's kind
            continue
        if not isinstance(val, torch.Tensor) or not val.is_floating_point():
            continue
        if op == "getitem" and n.args and getattr(n.args[0], "name", None) in tuple_of:
            op, inputs = kinds[n.args[0].name], tuple_of[n.args[0].name]
        else:
            inputs = tensor_inputs(n)
        kind = _ATEN_KIND.get(op, "other")
        if op == "permute" and val.dim() == 4:
            kind = "skip"  # a layout change: the same values channels-last, read through
        if kind == "add" and sum(1 for a in n.args if isinstance(a, torch.fx.Node)) < 2:
            kind = "other"  # x + constant: no Add of two tensors
        name = keys[n.name] = _module_label(n, op, used)
        used.add(name)
        shape = tuple(int(d) if str(d).isdigit() else -1 for d in val.shape[1:])
        if nchw_of[n.name] and len(shape) == 3:
            shape = (shape[1], shape[2], shape[0])
        nodes.append(SourceNode(name, kind, inputs, shape, False))
    return nodes, keys, nchw_of


def _module_label(n, op: str, used: set[str]) -> str:
    """The name of the nn.Module that made an op, as converters keep it: the last part of its path
    ("s1a" for layers.s1a; "Conv2d_0" for an nn.Sequential's numbered child), the whole path where
    that part is taken already. An op that has no module of its own (a functional F.relu or x + y
    in forward, a second op inside a module) is "<module>.<fx name>" ("forward.relu_2"): a name no
    converter keeps, so matched by graph position, never by a tensor name that happens to read
    "relu" or "add"."""
    stack = n.meta.get("nn_module_stack") or {}
    path, kind = next(reversed(stack.values())) if stack else ("", "")
    if not path:
        return f"forward.{n.name}"
    last = path.rsplit(".", 1)[-1]
    typename = str(kind).rsplit(".", 1)[-1]
    for label in (last if any(c.isalpha() for c in last) else f"{typename}_{last}",
                  f"{typename}_{path.replace('.', '_')}"):
        if label not in used:
            return label
    return f"{path}.{n.name}"
