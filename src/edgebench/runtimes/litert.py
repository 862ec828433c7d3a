"""LiteRT (ai-edge-litert), the maintained TFLite runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class LiteRTSession:
    name = "litert"

    def __init__(self, path: Path, threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self.interpreter.allocate_tensors()
        self._in = self.interpreter.get_input_details()[0]
        self._out = self.interpreter.get_output_details()[0]
        self._batch = int(self._in["shape"][0])

    @staticmethod
    def version() -> str:
        from importlib.metadata import version

        return version("ai-edge-litert")

    def _resize(self, batch: int) -> None:
        if batch != self._batch:
            self.interpreter.resize_tensor_input(self._in["index"], [batch, *self._in["shape"][1:]])
            self.interpreter.allocate_tensors()
            self._in = self.interpreter.get_input_details()[0]
            self._out = self.interpreter.get_output_details()[0]
            self._batch = batch

    def predict(self, x: np.ndarray) -> np.ndarray:
        self._resize(len(x))
        self.interpreter.set_tensor(self._in["index"], x.astype(self._in["dtype"], copy=False))
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._out["index"]).astype(np.float32)

    def close(self) -> None:
        self.interpreter = None
