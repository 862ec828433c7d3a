"""Exporters: small per-format functions that import their converter only when called.

Each takes (model, path, ctx) and writes one file. Derived variants (quantized copies of a float
export) find their source in ctx.produced. The registry below is the one list of what each
framework can export: (source, format, precision) -> function, file name, runtime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgebench.config import ModelSpec


@dataclass
class ExportContext:
    spec: ModelSpec
    calibration: np.ndarray  # float32 samples drawn from the training set, shared by all frameworks
    produced: dict[tuple[str, str], Path] = field(default_factory=dict)

    def source(self, fmt: str, precision: str = "float32") -> Path:
        path = self.produced.get((fmt, precision))
        if path is None:
            raise RuntimeError(f"needs the {fmt} {precision} export, which failed or was not made")
        return path


def _exporters() -> None:
    from edgebench.registry import Exporter, register

    tf, onnx_keras, torch_onnx, ort_q = ("tensorflow",), ("tensorflow", "tf2onnx"), ("torch", "onnxscript"), ("onnx", "onnxruntime")
    litert_torch, et, jax2tf = ("torch", "litert_torch"), ("torch", "executorch"), ("jax", "tensorflow")
    rows = [
        # source, format, precision, runtime, file, function, modules, extra, converter, needs
        ("tensorflow", "tflite", "float32", "litert", "model.tflite", "tflite:from_keras", tf, "tf", "TFLite converter", None),
        ("tensorflow", "tflite", "float16", "litert", "model_float16.tflite", "tflite:from_keras_float16", tf, "tf",
         "TFLite converter", None),
        ("tensorflow", "tflite", "int8-dynamic", "litert", "model_int8_dynamic.tflite", "tflite:from_keras_dynamic_int8",
         tf, "tf", "TFLite converter", None),
        ("tensorflow", "tflite", "int8", "litert", "model_int8.tflite", "tflite:from_keras_int8", tf, "tf",
         "TFLite converter", None),
        ("tensorflow", "onnx", "float32", "onnxruntime", "model.onnx", "onnx:from_keras", onnx_keras, "onnx", "tf2onnx", None),
        ("tensorflow", "onnx", "int8-static", "onnxruntime", "model_int8_static.onnx", "onnx:quantize_static", ort_q,
         "onnx", "onnxruntime.quantization", ("onnx", "float32")),
        ("tensorflow", "onnx", "int8-dynamic", "onnxruntime", "model_int8_dynamic.onnx", "onnx:quantize_dynamic", ort_q,
         "onnx", "onnxruntime.quantization", ("onnx", "float32")),
        ("pytorch", "onnx", "float32", "onnxruntime", "model.onnx", "onnx:from_torch", torch_onnx, "torch",
         "torch.onnx (dynamo)", None),
        ("pytorch", "onnx", "int8-static", "onnxruntime", "model_int8_static.onnx", "onnx:quantize_static", ort_q,
         "torch", "onnxruntime.quantization", ("onnx", "float32")),
        ("pytorch", "onnx", "int8-dynamic", "onnxruntime", "model_int8_dynamic.onnx", "onnx:quantize_dynamic", ort_q,
         "torch", "onnxruntime.quantization", ("onnx", "float32")),
        ("pytorch", "tflite", "float32", "litert", "model.tflite", "tflite:from_torch", litert_torch, "litert",
         "litert-torch", None),
        ("pytorch", "tflite", "int8", "litert", "model_int8.tflite", "tflite:from_torch_int8", litert_torch, "litert",
         "litert-torch", None),
        ("pytorch", "executorch", "float32", "executorch", "model.pte", "executorch:from_torch", et, "executorch",
         "ExecuTorch exporter", None),
        ("jax", "tflite", "float32", "litert", "model.tflite", "tflite:from_jax", jax2tf, "jax",
         "jax2tf", None),
        ("jax", "tflite", "int8", "litert", "model_int8.tflite", "tflite:from_jax_int8", jax2tf, "jax",
         "jax2tf", None),
    ]
    for source, fmt, prec, runtime, filename, fn, modules, extra, converter, needs in rows:
        register(Exporter(f"{source}:{fmt}:{prec}", f"edgebench.exporters.{fn}", modules, extra, role=f"{source} -> .{fmt}",
                          source=source, format=fmt, precision=prec, runtime=runtime, filename=filename,
                          converter=converter, needs=needs, calibrated=prec in ("int8", "int8-static")))


_exporters()
