"""ExecuTorch runtime (portable + XNNPACK kernels) through its Python bindings."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgebench.runtimes.base import describe_input, input_layout, to_artifact_input


class ExecuTorchSession:
    name = "executorch"
    accepts_batch = False  # exported with a static batch of 1
    fixed_batch = 1

    def __init__(self, path: Path, threads: int = 1) -> None:
        import torch
        from executorch.runtime import Runtime

        try:
            from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool

            _unsafe_reset_threadpool(threads)  # XNNPACK's thread pool
        except ImportError:  # pragma: no cover
            pass
        torch.set_num_threads(threads)
        self.torch = torch
        self.program = Runtime.get().load_program(str(path))
        self.method = self.program.load_method("forward")
        meta = self.method.metadata
        self._shape = [int(d) for d in meta.input_tensor_meta(0).sizes()]
        self.fixed_batch = self._shape[0]
        self.layout = input_layout(self._shape)
        out = [int(d) for d in meta.output_tensor_meta(0).sizes()]
        self.io = {"input": {"dtype": "float32"} | describe_input(self._shape, self.layout),
                   "output": {"dtype": "float32", "shape": out}}

    @staticmethod
    def version() -> str:
        from importlib.metadata import version

        return version("executorch")

    def batch_call(self, x: np.ndarray):
        if len(x) != self.fixed_batch:
            raise ValueError(f"this program takes batch {self.fixed_batch}, got {len(x)}")
        x = to_artifact_input(np.asarray(x, dtype=np.float32), self._shape, self.layout)
        inputs = [self.torch.from_numpy(x)]
        execute = self.method.execute
        return lambda: execute(inputs)

    def predict(self, x: np.ndarray) -> np.ndarray:
        step = self.fixed_batch
        outs = [self.batch_call(x[i:i + step])()[0].numpy() for i in range(0, len(x), step)]
        return np.concatenate(outs).astype(np.float32)

    def graph_cost(self) -> None:
        return None  # the .pte program has no public introspection API for its weights

    def close(self) -> None:
        self.method = self.program = None
