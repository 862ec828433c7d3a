"""Exporters: small per-format functions that import their converter only when called.

Each takes (model, path, ctx) and writes one file. Derived variants (quantized copies of a float
export) find their source in ctx.produced. The registry below is the one list of what each
framework can export: (source, format, precision) -> function, file name, runtime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgebench.models.network import Network


@dataclass
class ExportContext:
    network: Network
    calibration: np.ndarray  # (N, *network.input_shape) float32 training images, shared by all frameworks
    produced: dict[tuple[str, str], Path] = field(default_factory=dict)
    # A model file a user brought (deploy): the batch its input is fixed at (None: dynamic), and
    # its declared input shape, batch first, in its own layout.
    fixed_batch: int | None = None
    model_input: tuple[int, ...] | None = None

    def sample_shape(self, batch: int = 1) -> tuple[int, ...]:
        """The channels-last input of `batch` images (the model's fixed batch where it has one)."""
        return (self.fixed_batch or batch, *self.network.input_shape)

    def source(self, fmt: str, precision: str = "float32") -> Path:
        path = self.produced.get((fmt, precision))
        if path is None:
            raise RuntimeError(f"needs the {fmt} {precision} export, which failed or was not made")
        return path



# Each converter: the modules it needs and the pip extra that installs them.
CONVERTERS = {
    "TFLite converter": (("tensorflow",), "tf"),
    "tf2onnx": (("tensorflow", "tf2onnx"), "onnx"),
    "onnxruntime.quantization": (("onnx", "onnxruntime"), "onnx"),
    "torch.onnx (dynamo)": (("torch", "onnxscript"), "torch"),
    "litert-torch": (("torch", "litert_torch"), "litert"),
    "ExecuTorch exporter": (("torch", "executorch"), "executorch"),
    "jax2tf": (("jax", "tensorflow"), "jax"),
    "numpy.savez": (("numpy",), ""),
    "the file itself": (("numpy",), ""),  # deploy: an .onnx or .tflite source is its own artifact
    "ai-edge-quantizer": (("ai_edge_quantizer",), "litert"),  # deploy: int8 variants of a float .tflite
}
# Each format: the runtime that runs it and its file suffix.
FORMATS = {"tflite": ("litert", ".tflite"), "onnx": ("onnxruntime", ".onnx"), "executorch": ("executorch", ".pte"),
           "npz": ("npz", ".npz")}
# Static int8 with one weight scale per layer instead of one per output channel: opt-in (--formats
# onnx:int8-static-per-tensor), for comparing the two granularities; every default int8 is per channel.
PER_TENSOR = "int8-static-per-tensor"
# What each framework can export: (source, format, precision, "module:function", converter). A
# quantized copy of another export names it in needs (onnxruntime.quantization reads the .onnx).
TABLE = (
    ("tensorflow", "tflite", "float32", "tflite:from_keras", "TFLite converter"),
    ("tensorflow", "tflite", "float16", "tflite:from_keras_float16", "TFLite converter"),
    ("tensorflow", "tflite", "int8-dynamic", "tflite:from_keras_dynamic_int8", "TFLite converter"),
    ("tensorflow", "tflite", "int8", "tflite:from_keras_int8", "TFLite converter"),
    ("tensorflow", "onnx", "float32", "onnx:from_keras", "tf2onnx"),
    ("tensorflow", "onnx", "int8-static", "onnx:quantize_static", "onnxruntime.quantization", ("onnx", "float32")),
    ("tensorflow", "onnx", PER_TENSOR, "onnx:quantize_static_per_tensor", "onnxruntime.quantization", ("onnx", "float32")),
    ("tensorflow", "onnx", "int8-dynamic", "onnx:quantize_dynamic", "onnxruntime.quantization", ("onnx", "float32")),
    ("pytorch", "onnx", "float32", "onnx:from_torch", "torch.onnx (dynamo)"),
    ("pytorch", "onnx", "int8-static", "onnx:quantize_static", "onnxruntime.quantization", ("onnx", "float32")),
    ("pytorch", "onnx", PER_TENSOR, "onnx:quantize_static_per_tensor", "onnxruntime.quantization", ("onnx", "float32")),
    ("pytorch", "onnx", "int8-dynamic", "onnx:quantize_dynamic", "onnxruntime.quantization", ("onnx", "float32")),
    ("pytorch", "tflite", "float32", "tflite:from_torch", "litert-torch"),
    ("pytorch", "tflite", "int8", "tflite:from_torch_int8", "litert-torch"),
    ("pytorch", "executorch", "float32", "executorch:from_torch", "ExecuTorch exporter"),
    ("jax", "tflite", "float32", "tflite:from_jax", "jax2tf"),
    ("jax", "tflite", "int8", "tflite:from_jax_int8", "jax2tf"),
    ("numpy", "npz", "float32", "npz:from_numpy", "numpy.savez"),
    ("numpy", "npz", "float16", "npz:from_numpy_float16", "numpy.savez"),
)


def exporter(source: str, fmt: str, precision: str, function: str, converter: str, needs=None):
    """A registry entry from one row: runtime and file name follow from the format and precision."""
    from edgebench.registry import Exporter

    modules, extra = CONVERTERS[converter]
    runtime, suffix = FORMATS[fmt]
    filename = "model" + ("" if precision == "float32" else "_" + precision.replace("-", "_")) + suffix
    return Exporter(f"{source}:{fmt}:{precision}", f"edgebench.exporters.{function}", modules, extra,
                    role=f"{source} -> {suffix}", source=source, format=fmt, precision=precision, runtime=runtime,
                    filename=filename, converter=converter, needs=needs,
                    calibrated=precision in ("int8", "int8-static", PER_TENSOR), opt_in=precision == PER_TENSOR)


def _register() -> None:
    from edgebench.registry import register

    for row in TABLE:
        register(exporter(*row))


_register()
