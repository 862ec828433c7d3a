"""ONNX Runtime, CPU execution provider."""

from __future__ import annotations

from pathlib import Path

import numpy as np


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
        dim0 = inp.shape[0] if inp.shape else None
        if isinstance(dim0, int):
            self.accepts_batch, self.fixed_batch = False, dim0

    io = {"input": {"dtype": "float32"}, "output": {"dtype": "float32"}}

    @staticmethod
    def version() -> str:
        import onnxruntime

        return onnxruntime.__version__

    def batch_call(self, x: np.ndarray):
        feed = {self._in: np.ascontiguousarray(x, dtype=np.float32)}
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
        """Parameters (non-scalar initializers) and MACs of the MatMul-like nodes, from the file."""
        import onnx
        from onnx import shape_inference

        model = shape_inference.infer_shapes(onnx.load(str(self.path)))
        g = model.graph
        shapes = {}
        for init in g.initializer:
            shapes[init.name] = list(init.dims)
        for vi in list(g.value_info) + list(g.input) + list(g.output):
            dims = vi.type.tensor_type.shape.dim
            shapes.setdefault(vi.name, [d.dim_value if d.HasField("dim_value") else None for d in dims])
        params = sum(int(np.prod(i.dims)) for i in g.initializer if int(np.prod(i.dims)) > 1)
        macs = layers = 0
        for node in g.node:
            if node.op_type in ("MatMul", "Gemm", "MatMulInteger"):
                b = shapes.get(node.input[1])
            elif node.op_type == "QLinearMatMul":
                b = shapes.get(node.input[3])
            else:
                continue
            if b and len(b) == 2 and all(b):
                macs += int(b[0]) * int(b[1])
                layers += 1
        return {"parameters": params, "macs_per_sample": macs, "dense_layers": layers}

    def close(self) -> None:
        self.session = None
