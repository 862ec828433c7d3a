"""Runtimes that execute exported artifacts, imported lazily."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class RuntimeInfo:
    name: str
    session: str  # "module:Class"
    modules: tuple[str, ...]
    extra: str

    def missing_module(self) -> str | None:
        for mod in self.modules:
            if importlib.util.find_spec(mod.split(".")[0]) is None:
                return mod
        return None

    def load(self):
        module, cls = self.session.split(":")
        return getattr(importlib.import_module(module), cls)


REGISTRY: dict[str, RuntimeInfo] = {
    "litert": RuntimeInfo("litert", "edgebench.runtimes.litert:LiteRTSession", ("ai_edge_litert",), "tf"),
    "onnxruntime": RuntimeInfo("onnxruntime", "edgebench.runtimes.onnxruntime:OrtSession",
                               ("onnxruntime",), "torch"),
    "executorch": RuntimeInfo("executorch", "edgebench.runtimes.executorch:ExecuTorchSession",
                              ("executorch", "torch"), "executorch"),
    "tflm": RuntimeInfo("tflm", "edgebench.runtimes.tflm:TFLMSession", ("tflite_micro", "ai_edge_litert"), "tflm"),
}
