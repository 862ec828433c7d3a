"""Runtimes that execute exported artifacts, imported lazily."""

from __future__ import annotations

from edgebench.registry import LAYERS, MICROCONTROLLER, Runtime, register

register(Runtime("litert", "edgebench.runtimes.litert:LiteRTSession", ("ai_edge_litert",), "tf", title="LiteRT",
                 role="runs .tflite", distribution="ai-edge-litert", formats=("tflite",),
                 capabilities=frozenset({LAYERS})))
register(Runtime("onnxruntime", "edgebench.runtimes.onnxruntime:OrtSession", ("onnxruntime",), "torch",
                 title="ONNX Runtime", role="runs .onnx", formats=("onnx",), capabilities=frozenset({LAYERS})))
register(Runtime("executorch", "edgebench.runtimes.executorch:ExecuTorchSession", ("executorch", "torch"),
                 "executorch", title="ExecuTorch", role="runs .pte", formats=("executorch",),
                 no_layers="ExecuTorch's programs here are XNNPACK-delegated: its ETDump debug buffer holds only the "
                           "delegate's boundary tensors (for ResNet-8: the input, the last block's output, the mean, "
                           "the logits), which without an ETRecord cannot be told from the other layers of the same "
                           "shape"))
register(Runtime("tflm", "edgebench.runtimes.tflm:TFLMSession", ("tflite_micro", "ai_edge_litert"), "tflm",
                 title="TFLite Micro", role="runs .tflite on TFLite Micro", distribution="tflite-micro",
                 formats=("tflite",), capabilities=frozenset({MICROCONTROLLER}),
                 check="edgebench.runtimes.tflm:microcontroller_check", reference_runtime="litert"))
register(Runtime("firmware", "edgebench.firmware.check:microcontroller_check", ("ai_edge_litert",), "tf",
                 title="edgebench firmware (generated C)",
                 role="generates interpreter-free C from .tflite; runs it on the host and on emulated Cortex-M cores",
                 distribution="edgebench", formats=("tflite",), capabilities=frozenset({MICROCONTROLLER}),
                 check="edgebench.firmware.check:microcontroller_check", reference_runtime="tflm"))
register(Runtime("npz", "edgebench.runtimes.npz:NpzSession", ("numpy",), "", title="NumPy (reference)",
                 role="runs .npz (the NumPy reference's weights)", formats=("npz",)))
