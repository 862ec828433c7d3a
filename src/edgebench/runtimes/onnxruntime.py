"""ONNX Runtime, CPU execution provider."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgebench.runtimes.base import describe_input, input_layout, to_artifact_input
from edgebench.runtimes.onnx_cost import onnx_graph_cost


class OrtSession:
    name = "onnxruntime"
    accepts_batch = True
    fixed_batch = None

    def __init__(self, path: Path, threads: int = 1) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self._in = inp.name
        self._shape = [d if isinstance(d, int) else -1 for d in inp.shape]
        self.layout = input_layout(self._shape)
        dim0 = inp.shape[0] if inp.shape else None
        if isinstance(dim0, int):
            self.accepts_batch, self.fixed_batch = False, dim0
        out = self.session.get_outputs()[0]
        self.io = {"input": {"dtype": "float32"} | describe_input(self._shape, self.layout),
                   "output": {"dtype": "float32", "shape": [d if isinstance(d, int) else -1 for d in out.shape]}}

    @staticmethod
    def version() -> str:
        import onnxruntime

        return onnxruntime.__version__

    def batch_call(self, x: np.ndarray):
        x = to_artifact_input(np.asarray(x, dtype=np.float32), self._shape, self.layout)
        feed = {self._in: x}
        run = self.session.run
        return lambda: run(None, feed)

    def predict(self, x: np.ndarray) -> np.ndarray:
        if not self.accepts_batch:
            step = self.fixed_batch
            return np.concatenate([self.predict_batch(x[i:i + step]) for i in range(0, len(x), step)])
        return self.predict_batch(x)

    def predict_batch(self, x: np.ndarray) -> np.ndarray:
        return self.batch_call(x)()[0].astype(np.float32)

    def graph_cost(self) -> dict:
        return onnx_graph_cost(self.path)

    def close(self) -> None:
        self.session = None
