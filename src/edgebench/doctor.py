"""What edgebench can use on this machine: every framework, converter and runtime, with its
version or the extra that installs it. Nothing heavy is imported."""

from __future__ import annotations

import importlib.util
from importlib import metadata

from edgebench.frameworks import REGISTRY as FRAMEWORKS
from edgebench.runtimes import REGISTRY as RUNTIMES

# Converters are not plug-ins of their own: each exporter imports one in the branch that needs it.
CONVERTERS = (
    ("TFLite converter", ("tensorflow",), "tensorflow-cpu", "tf", "Keras and JAX -> .tflite"),
    ("tf2onnx", ("tf2onnx",), "tf2onnx", "onnx", "Keras -> .onnx"),
    ("torch.onnx (dynamo)", ("torch", "onnxscript"), "onnxscript", "torch", "PyTorch -> .onnx"),
    ("onnxruntime.quantization", ("onnxruntime",), "onnxruntime", "torch", ".onnx -> int8 .onnx"),
    ("litert-torch", ("litert_torch",), "litert-torch", "litert", "PyTorch -> .tflite"),
    ("ExecuTorch exporter", ("executorch",), "executorch", "executorch", "PyTorch -> .pte (XNNPACK)"),
    ("jax2tf", ("jax", "tensorflow"), "jax", "jax", "JAX -> tf.function, for the TFLite converter"),
)

DISTRIBUTIONS = {"tensorflow": "tensorflow-cpu", "torch": "torch", "jax": "jax", "ai_edge_litert": "ai-edge-litert",
                 "onnxruntime": "onnxruntime", "executorch": "executorch", "tflite_micro": "tflite-micro"}


def _version(dist: str) -> str | None:
    for name in (dist, dist.replace("-cpu", "")):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def _check(modules: tuple[str, ...], dist: str) -> tuple[bool, str | None, str | None]:
    missing = next((m for m in modules if importlib.util.find_spec(m) is None), None)
    return missing is None, (_version(dist) if missing is None else None), missing


def availability() -> list[dict]:
    rows = []
    for name, p in FRAMEWORKS.items():
        ok, ver, missing = _check(p.modules, DISTRIBUTIONS.get(p.modules[0], p.modules[0]))
        rows.append({"kind": "framework", "name": name, "installed": ok, "version": ver, "missing": missing,
                     "install": p.install_hint, "role": "trains the network"})
    for name, dists, dist, extra, role in CONVERTERS:
        ok, ver, missing = _check(dists, dist)
        rows.append({"kind": "converter", "name": name, "installed": ok, "version": ver, "missing": missing,
                     "install": f"pip install 'edgebench[{extra}]'", "role": role})
    for name, p in RUNTIMES.items():
        ok, ver, missing = _check(p.modules, DISTRIBUTIONS.get(p.modules[0], p.modules[0]))
        rows.append({"kind": "runtime", "name": name, "installed": ok, "version": ver, "missing": missing,
                     "install": p.install_hint, "role": "runs " + {"litert": ".tflite", "onnxruntime": ".onnx",
                                                                   "executorch": ".pte",
                                                                   "tflm": ".tflite on TFLite Micro"}[name]})
    return rows
