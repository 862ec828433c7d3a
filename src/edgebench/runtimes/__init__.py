"""Runtimes that execute exported artifacts, imported lazily."""

from __future__ import annotations

from edgebench.registry import Plugin

REGISTRY: dict[str, Plugin] = {
    "litert": Plugin("litert", "edgebench.runtimes.litert:LiteRTSession", ("ai_edge_litert",), "tf"),
    "onnxruntime": Plugin("onnxruntime", "edgebench.runtimes.onnxruntime:OrtSession", ("onnxruntime",), "torch"),
    "executorch": Plugin("executorch", "edgebench.runtimes.executorch:ExecuTorchSession",
                         ("executorch", "torch"), "executorch"),
    "tflm": Plugin("tflm", "edgebench.runtimes.tflm:TFLMSession", ("tflite_micro", "ai_edge_litert"), "tflm"),
}
