"""A deploy's source model, layer by layer (issue 31): what its artifacts' tensors are compared with.

- a Keras model: each layer's output from a sub-model of the loaded model (Keras' own values), the
  layers folded the way converters fold them (measure/layer_match.groups_of), matched to an
  artifact's tensors by the layer names the converters keep;
- a float .tflite or .onnx: every op's output from its own runtime (LiteRT with every tensor kept;
  ONNX Runtime with the outputs added to a copy of the graph): the graph the artifacts were
  converted from, so an artifact's tensor of the same name is the one to compare;
- a .pt2 program or a SavedModel: not listed yet (the report says so).

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
    if kind not in ("keras", "tflite", "onnx"):
        return f"a {kind} source does not list its layers' outputs yet (Keras, float .tflite and .onnx do)"
    return ""


def save(src, x: np.ndarray, path: Path) -> float:
    """The source's layer outputs on x (channels-last images), with the layer list, into path (.npz);
    returns the seconds it took."""
    import time

    t0 = time.perf_counter()
    if src.kind == "keras":
        nodes, outputs = _keras(src.model, x)
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
