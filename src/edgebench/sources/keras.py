"""Keras 3 .keras files and TensorFlow SavedModel folders, opened without running their code.

A .keras file is a zip of config.json (the model as nested {module, class_name, config}) and the
weights. Its config is read first, as JSON: a Lambda layer (Python bytecode), a `__lambda__` or
`function` object outside Keras, or any object whose module is not Keras' own is refused, naming
it, before Keras sees the file; Keras then loads it with safe_mode=True (which also refuses
Lambda bytecode) and compile=False (no optimizer or loss objects).

A SavedModel's graphs are read from saved_model.pb as protocol buffers first: a graph that reads
or writes files or calls back into Python (ReadFile, WriteFile, PyFunc, ...) is refused, naming
the op; it is then loaded and its serving_default signature is what runs and converts.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from edgebench.sources import Source, SourceError, batched, channels_last, input_facts, one, shape_facts

# Ops no inference graph needs, each able to touch the file system or run Python.
DENIED_TF_OPS = frozenset({
    "ReadFile", "WriteFile", "MatchingFiles", "DeleteFile", "PyFunc", "PyFuncStateless", "EagerPyFunc",
    "WholeFileReader", "WholeFileReaderV2", "TextLineReader", "TextLineReaderV2",
    "FixedLengthRecordReader", "FixedLengthRecordReaderV2", "TFRecordReader", "TFRecordReaderV2",
    "LMDBReader", "IdentityReader", "ImmutableConst", "DebugIdentity", "DebugIdentityV2", "DebugIdentityV3",
    "WriteSummary", "WriteRawProtoSummary", "CreateSummaryFileWriter", "PrintV2", "Print",
})


def _scan_config(node, path: Path, layer: str | None = None) -> None:
    """Walk the .keras config: SourceError at the first object that is not Keras' own."""
    if isinstance(node, list):
        for item in node:
            _scan_config(item, path, layer)
        return
    if not isinstance(node, dict):
        return
    cls = node.get("class_name")
    cfg = node.get("config")
    name = cfg.get("name") if isinstance(cfg, dict) and isinstance(cfg.get("name"), str) else layer
    if isinstance(cls, str):
        module = node.get("module")
        if cls in ("Lambda", "TFOpLambda") or cls == "__lambda__":
            raise SourceError(f"{path}: layer '{name}' is a {cls} layer, which carries Python code; "
                              "edgebench does not load code from a model file (rewrite it with built-in layers)")
        if module is not None and not (isinstance(module, str) and (module == "keras" or module.startswith("keras.")
                                                                   or module == "builtins")):
            raise SourceError(f"{path}: layer '{name}' uses '{cls}' from module '{module}', which is not part of "
                              "Keras; edgebench loads only Keras' own layers (no custom objects)")
        registered = node.get("registered_name")
        if isinstance(registered, str) and registered not in (cls, "function") and "." not in registered \
                and registered.split(">")[0] not in ("keras", ""):
            raise SourceError(f"{path}: layer '{name}' is a custom object '{registered}'; edgebench loads only "
                              "Keras' own layers")
    for key, value in node.items():
        if key != "module":
            _scan_config(value, path, name if isinstance(cls, str) else layer)


def check_keras_file(path: Path) -> dict:
    try:
        with zipfile.ZipFile(path) as z:
            config = json.loads(z.read("config.json"))
    except (KeyError, zipfile.BadZipFile, OSError, ValueError) as e:
        raise SourceError(f"{path}: not a readable .keras archive ({type(e).__name__}: {e})") from None
    _scan_config(config, path)
    return config


def _keras_facts(model, path: Path, kind: str) -> dict:
    inputs = one(list(model.inputs), "input", path)
    outputs = one(list(model.outputs), "output", path)
    inp = input_facts(getattr(inputs, "name", "input"), [-1 if d is None else d for d in inputs.shape],
                      np.dtype(inputs.dtype).name, path)
    fan_ins = []
    for layer in _leaf_layers(model):
        kind_of = type(layer).__name__
        kernel = getattr(layer, "depthwise_kernel", None) if kind_of == "DepthwiseConv2D" else getattr(layer, "kernel", None)
        if kernel is None:
            continue
        shape = tuple(int(d) for d in kernel.shape)
        fan_ins.append(int(np.prod(shape[:2])) if kind_of == "DepthwiseConv2D" else int(np.prod(shape[:-1])))
    return {"kind": kind, "input": inp,
            "output": {"shape": [-1 if d is None else int(d) for d in outputs.shape],
                       "dtype": np.dtype(outputs.dtype).name},
            **shape_facts(fan_ins, model.count_params()), "precision": "float32"}


def _leaf_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _leaf_layers(layer)
        else:
            yield layer


def _versions() -> dict:
    import keras
    import tensorflow as tf

    return {"tensorflow": tf.__version__, "keras": keras.__version__}


def open_keras(path: Path) -> Source:
    check_keras_file(path)
    import keras

    try:
        model = keras.saving.load_model(str(path), compile=False, safe_mode=True)
    except Exception as e:
        text = str(e).strip().splitlines()
        raise SourceError(f"{path}: Keras could not load it ({type(e).__name__}: {text[0][:200] if text else ''})") \
            from None
    facts = _keras_facts(model, path, "keras") | {"versions": _versions()}

    def call(x):
        return model(x, training=False).numpy()

    fixed = facts["input"]["shape"][0] if facts["input"]["shape"][0] > 0 else None
    return Source("keras", model, facts, channels_last(batched(call, fixed), facts))


class SavedModelSource:
    """A SavedModel's serving signature, with what the TensorFlow exporters ask of a Keras model:
    calling it on a batch (tf2onnx) and a converter (the TFLite converter reads the folder)."""

    def __init__(self, path: Path, loaded, fn, input_name: str, output_name: str):
        self.loaded = loaded  # the signature's variables live as long as the object that loaded them
        self.saved_model_dir = str(path)
        self.fn, self.input_name, self.output_name = fn, input_name, output_name

    def __call__(self, x, training=False):
        return self.fn(**{self.input_name: x})[self.output_name]


def _scan_savedmodel(path: Path) -> None:
    from tensorflow.core.protobuf import saved_model_pb2

    pb = path / "saved_model.pb"
    if not pb.is_file():
        raise SourceError(f"{path}: no saved_model.pb (a text saved_model.pbtxt is not supported)")
    sm = saved_model_pb2.SavedModel()
    try:
        sm.ParseFromString(pb.read_bytes())
    except Exception as e:
        raise SourceError(f"{pb}: not a SavedModel protocol buffer ({type(e).__name__})") from None
    if not sm.meta_graphs:
        raise SourceError(f"{pb}: holds no graph")
    for mg in sm.meta_graphs:
        nodes = list(mg.graph_def.node)
        for fn in mg.graph_def.library.function:
            nodes += list(fn.node_def)
        for n in nodes:
            if n.op in DENIED_TF_OPS:
                raise SourceError(f"{path}: the graph uses the op {n.op} (node '{n.name}'), which reads or writes "
                                  "files or runs Python; edgebench does not run such a model")


def open_savedmodel(path: Path) -> Source:
    _scan_savedmodel(path)
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as e:
        text = str(e).strip().splitlines()
        raise SourceError(f"{path}: TensorFlow could not load the SavedModel ({type(e).__name__}: "
                          f"{text[0][:200] if text else ''})") from None
    sig = getattr(loaded, "signatures", {}).get("serving_default")
    if sig is None:
        raise SourceError(f"{path}: the SavedModel has no serving_default signature")
    _, kwargs = sig.structured_input_signature
    spec = one(list(kwargs.items()), "input", path)
    out_name, out_spec = one(list(sig.structured_outputs.items()), "output", path)
    name, tspec = spec
    inp = input_facts(name, [-1 if d is None else d for d in tspec.shape.as_list()], tspec.dtype.name, path)
    fan_ins, params = [], 0
    for v in loaded.variables if hasattr(loaded, "variables") else []:
        shape = [int(d) for d in v.shape]
        params += int(np.prod(shape)) if shape else 1
        if len(shape) == 4 and "depthwise" in v.name:
            fan_ins.append(shape[0] * shape[1])
        elif len(shape) in (2, 4) and "kernel" in v.name:
            fan_ins.append(int(np.prod(shape[:-1])))
    facts = {"kind": "savedmodel", "input": inp,
             "output": {"shape": [-1 if d is None else d for d in out_spec.shape.as_list()],
                        "dtype": out_spec.dtype.name},
             **shape_facts(fan_ins, params), "precision": "float32", "versions": _versions()}
    model = SavedModelSource(path, loaded, sig, name, out_name)

    def call(x):
        return model(tf.constant(x)).numpy()

    fixed = inp["shape"][0] if inp["shape"][0] > 0 else None
    return Source("savedmodel", model, facts, channels_last(batched(call, fixed), facts))
