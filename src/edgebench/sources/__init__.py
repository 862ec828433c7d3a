"""A model file a user brings to `edgebench deploy`: what kind it is, and how each kind is
opened safely, described and run.

A user's file is untrusted input. Nothing here unpickles it or runs code it carries:
- sniff() (parent side, no framework imported) decides the kind from the path and the file's first
  bytes and refuses a pickle (.pt, .pth, .pkl) with the way to make a .pt2 instead, a wrong
  extension, a truncated or empty file and a folder that is not a SavedModel;
- each kind's opener (sources/keras.py, torch.py, onnx.py, tflite.py, run in a child process)
  checks the file before its framework reads it (a Keras config naming a Lambda layer or a module
  outside Keras, a SavedModel graph with file or Python ops, an ONNX graph with a custom operator
  or external data, a .tflite with a custom op), loads it with the framework's safe path (Keras
  safe_mode; torch.export with every unpickling step refused), and reads its one input and one
  output.

An opened source is a Source: `model` (what the exporters of its framework take), `facts` (a
JSON-able description: input and output shapes and layout, parameters, weighted layers and their
largest fan-in, the precision it is stored in) and `predict(x)` (float32 logits for channels-last
images, on the framework's own runtime).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgebench.errors import UserError


class SourceError(UserError):
    """A model file that cannot be deployed, said in one line that names the file."""


# kind: (the exporter source it feeds, "module:open function", what the kind is)
KINDS = {
    "keras": ("tensorflow", "edgebench.sources.keras:open_keras", "Keras 3 .keras file"),
    "savedmodel": ("tensorflow", "edgebench.sources.keras:open_savedmodel", "TensorFlow SavedModel folder"),
    "pt2": ("pytorch", "edgebench.sources.torch:open_pt2", "PyTorch torch.export program (.pt2)"),
    "onnx": ("onnx", "edgebench.sources.onnx:open_onnx", "ONNX model"),
    "tflite": ("tflite", "edgebench.sources.tflite:open_tflite", "TensorFlow Lite flatbuffer"),
}
SUFFIXES = {".keras": "keras", ".pt2": "pt2", ".onnx": "onnx", ".tflite": "tflite"}
PICKLES = (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt", ".joblib")
PT2_HOWTO = ("export it as a .pt2 instead: ep = torch.export.export(model.eval(), (example_input,)); "
             "torch.export.save(ep, 'model.pt2')")


@dataclass
class Source:
    kind: str
    model: Any  # what this framework's exporters take (a Keras model, an nn.Module, a file path)
    facts: dict
    predict: Callable[[np.ndarray], np.ndarray]  # channels-last float32 images -> float32 logits

    @property
    def framework(self) -> str:
        return KINDS[self.kind][0]


def sniff(path: Path) -> str:
    """The kind of a model file or folder, from its name and first bytes; SourceError (one line,
    exit 2) when it is none of them. Imports no framework."""
    path = Path(path)
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    suffix = path.suffix.lower()
    if path.is_dir():
        if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file():
            return "savedmodel"
        raise SourceError(f"{path}: a folder, but not a TensorFlow SavedModel (no saved_model.pb in it)")
    if suffix in PICKLES:
        raise SourceError(f"{path}: a {suffix} file is a Python pickle, which can run any code when loaded; "
                          f"edgebench never unpickles a model: {PT2_HOWTO}")
    if suffix == ".h5" or suffix == ".hdf5":
        raise SourceError(f"{path}: legacy Keras HDF5 files are not supported; save the model as .keras "
                          "(model.save('model.keras'))")
    kind = SUFFIXES.get(suffix)
    if kind is None:
        raise SourceError(f"{path}: unknown model file extension '{suffix or '(none)'}'; expected .keras, "
                          ".pt2, .onnx, .tflite or a SavedModel folder")
    size = path.stat().st_size
    if size == 0:
        raise SourceError(f"{path}: the file is empty")
    with open(path, "rb") as f:
        head = f.read(8)
    if kind in ("keras", "pt2"):
        if head[:4] != b"PK\x03\x04":
            raise SourceError(f"{path}: not a {KINDS[kind][2]} (a {suffix} file is a zip archive; this one "
                              "does not start like one)")
        try:
            with zipfile.ZipFile(path) as z:
                bad = z.testzip()
                names = z.namelist()
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise SourceError(f"{path}: truncated or corrupt zip archive ({e})") from None
        if bad is not None:
            raise SourceError(f"{path}: corrupt zip archive (member '{bad}' fails its CRC check)")
        if kind == "keras" and "config.json" not in names:
            raise SourceError(f"{path}: not a Keras 3 .keras archive (no config.json in it)")
        if kind == "pt2" and any(n.endswith("data.pkl") for n in names) and not any(
                "serialized_exported_program" in n or n.endswith("models/model.json") for n in names):
            raise SourceError(f"{path}: a torch.save pickle archive, not a torch.export program; {PT2_HOWTO}")
    elif kind == "tflite" and (size < 8 or head[4:8] != b"TFL3"):
        raise SourceError(f"{path}: not a TensorFlow Lite flatbuffer (no 'TFL3' identifier at byte 4)")
    return kind


def open_source(path: Path, kind: str | None = None) -> Source:
    """Open a model file in this process (a child: it imports the framework)."""
    import importlib

    kind = kind or sniff(path)
    module, attr = KINDS[kind][1].split(":")
    return getattr(importlib.import_module(module), attr)(Path(path))


def fit_input(facts: dict, image_shape: tuple[int, ...], what: str) -> None:
    """SourceError unless the data set's images (channels-last image_shape) fit the model's input."""
    from edgebench.runtimes.base import to_artifact_input

    shape, layout = facts["input"]["shape"], facts["input"]["layout"]
    probe = np.zeros((1, *image_shape), np.float32)
    try:
        to_artifact_input(probe, shape, layout)
    except ValueError:
        hwc = tuple(image_shape) + ((1,) if len(image_shape) == 2 else ())  # grey images: one channel
        raise SourceError(f"{facts['file']}: the model's input {shape} ({layout}) does not fit {what}'s images "
                          f"{'x'.join(map(str, hwc))} (H x W x C)") from None


def image_shape_of(facts: dict) -> tuple[int, ...] | None:
    """The channels-last (H, W, C) image a model's declared input takes, or (F,) for a flat input;
    None where a dimension is dynamic."""
    shape, layout = facts["input"]["shape"], facts["input"]["layout"]
    dims = shape[1:]
    if any(d <= 0 for d in dims):
        return None
    if layout == "NCHW":
        return (dims[1], dims[2], dims[0])
    return tuple(dims)


def input_facts(name: str, shape, dtype: str, file: Path) -> dict:
    """One image input, or SourceError: a batch of images (rank 4, NHWC or NCHW), of grey images
    (rank 3) or of flat rows (rank 2), float or 8-bit integer."""
    from edgebench.runtimes.base import _dims, input_layout

    dims = _dims(shape)
    if dtype not in ("float32", "float16", "float64", "int8", "uint8"):
        raise SourceError(f"{file}: the input '{name}' is {dtype}, not an image (float or 8-bit)")
    if len(dims) not in (2, 3, 4):
        raise SourceError(f"{file}: the input '{name}' has shape {dims}: not a batch of images "
                          "(expected [batch, H, W, C], [batch, C, H, W] or [batch, features])")
    return {"name": name, "shape": dims, "layout": input_layout(dims) if len(dims) != 3 else "NHW",
            "dtype": dtype}


def one(items: list, what: str, file: Path) -> Any:
    if len(items) != 1:
        raise SourceError(f"{file}: the model has {len(items)} {what}s; edgebench deploys models with exactly "
                          f"one (an image batch in, logits out)")
    return items[0]


def shape_facts(fan_ins: list[int], parameters: int) -> dict:
    """Weighted layers and the largest number of terms one output sums: what tolerances follow from."""
    return {"parameters": int(parameters), "weighted_layers": len(fan_ins),
            "max_fan_in": int(max(fan_ins)) if fan_ins else 1}


def graph_facts(cost: dict) -> dict:
    """shape_facts from a graph's cost (runtimes' graph_cost): its weighted layers and largest
    fan-in, its MACs, and its per-layer table where the graph gives one."""
    return {"parameters": int(cost["parameters"]),
            "weighted_layers": max(cost["dense_layers"] + cost["conv_layers"], 1),
            "max_fan_in": int(cost.get("max_fan_in") or 1), "macs_per_sample": int(cost["macs_per_sample"]),
            **({"layer_table": cost["layers"]} if cost.get("layers") else {})}


def channels_last(predict, facts: dict):
    """predict on channels-last images, given to the model in its own declared input layout."""
    from edgebench.runtimes.base import to_artifact_input

    shape, layout = facts["input"]["shape"], facts["input"]["layout"]

    def run(x):
        return predict(to_artifact_input(np.asarray(x, np.float32), shape, layout if layout != "NHW" else None))

    return run


def batched(predict_batch: Callable[[np.ndarray], np.ndarray], fixed_batch: int | None, chunk: int = 500):
    """predict(x) over any number of images from a call that takes `fixed_batch` (None: any)."""
    def predict(x: np.ndarray) -> np.ndarray:
        step = fixed_batch or chunk
        outs = []
        for i in range(0, len(x), step):
            part = x[i:i + step]
            if fixed_batch and len(part) < fixed_batch:  # pad the last call to the fixed batch
                pad = np.zeros((fixed_batch - len(part), *part.shape[1:]), part.dtype)
                outs.append(np.asarray(predict_batch(np.concatenate([part, pad])))[:len(part)])
            else:
                outs.append(np.asarray(predict_batch(part)))
        return np.concatenate(outs).astype(np.float32, copy=False)

    return predict


def exporters_for(kind: str, facts: dict) -> list:
    """Every export a source of this kind reaches, in order. A Keras model or a .pt2 program
    feeds its framework's registered exporters (the ones `run` uses); an .onnx or .tflite file is
    itself the first artifact (in the precision it is stored in); a float32 .onnx also gets ONNX
    Runtime's int8 variants, a float32 .tflite ai-edge-quantizer's (static only where the file has
    a signature, through which it calibrates)."""
    from edgebench import registry
    from edgebench.exporters import exporter

    framework = KINDS[kind][0]
    if framework in ("tensorflow", "pytorch"):
        return registry.exporters_for(framework)
    precision = facts.get("precision", "float32")
    # The file itself: nothing is calibrated here, whatever precision it is stored in.
    out = [replace(exporter(framework, framework, precision, "source:copy_source", "the file itself"),
                   calibrated=False)]
    if framework == "tflite" and precision == "float32":
        out.append(exporter("tflite", "tflite", "int8-dynamic", "tflite:aeq_dynamic_int8", "ai-edge-quantizer",
                            ("tflite", "float32")))
        if facts.get("signatures"):  # ai-edge-quantizer calibrates through a signature
            out.append(exporter("tflite", "tflite", "int8-static", "tflite:aeq_static_int8", "ai-edge-quantizer",
                                ("tflite", "float32")))
    if framework == "onnx" and precision == "float32":
        from edgebench.exporters import PER_TENSOR

        out += [exporter("onnx", "onnx", "int8-static", "onnx:quantize_static", "onnxruntime.quantization",
                         ("onnx", "float32")),
                exporter("onnx", "onnx", PER_TENSOR, "onnx:quantize_static_per_tensor", "onnxruntime.quantization",
                         ("onnx", "float32")),
                exporter("onnx", "onnx", "int8-dynamic", "onnx:quantize_dynamic", "onnxruntime.quantization",
                         ("onnx", "float32"))]
    return out
