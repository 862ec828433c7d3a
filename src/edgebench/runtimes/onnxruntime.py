"""ONNX Runtime, CPU execution provider."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class OrtSession:
    name = "onnxruntime"

    def __init__(self, path: Path, threads: int = 1) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        self._in = self.session.get_inputs()[0].name

    @staticmethod
    def version() -> str:
        import onnxruntime

        return onnxruntime.__version__

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self._in: x.astype(np.float32, copy=False)})[0].astype(np.float32)

    def close(self) -> None:
        self.session = None
