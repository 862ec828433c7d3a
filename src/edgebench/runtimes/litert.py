"""LiteRT (ai-edge-litert), the maintained TFLite runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgebench.runtimes.base import dequantize, quantize


class LiteRTSession:
    name = "litert"

    def __init__(self, path: Path, threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self.interpreter.allocate_tensors()
        self._details()
        sig = self._in.get("shape_signature", self._in["shape"])
        # TF-converted models keep a dynamic batch (-1); litert-torch output is fixed at 1.
        self.accepts_batch = len(sig) > 0 and int(sig[0]) == -1
        self.fixed_batch = None if self.accepts_batch else int(self._in["shape"][0])

    def _details(self) -> None:
        self._in = self.interpreter.get_input_details()[0]
        self._out = self.interpreter.get_output_details()[0]

    @property
    def io(self) -> dict:
        def desc(d):
            scale, zp = d["quantization"]
            return {"dtype": np.dtype(d["dtype"]).name, "scale": float(scale), "zero_point": int(zp)}

        return {"input": desc(self._in), "output": desc(self._out)}

    @staticmethod
    def version() -> str:
        from importlib.metadata import version

        return version("ai-edge-litert")

    def _resize(self, batch: int) -> None:
        if int(self._in["shape"][0]) != batch:
            self.interpreter.resize_tensor_input(self._in["index"], [batch, *self._in["shape"][1:]])
            self.interpreter.allocate_tensors()
            self._details()

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        return quantize(x, self._in["dtype"], *self._in["quantization"])

    def batch_call(self, x: np.ndarray):
        """A zero-argument call running one inference on x exactly as the runtime sees it."""
        if self.accepts_batch:
            self._resize(len(x))
        elif len(x) != self.fixed_batch:
            raise ValueError(f"this model takes batch {self.fixed_batch}, got {len(x)}")
        xq = self._prepare(x)
        it, i_in, i_out = self.interpreter, self._in["index"], self._out["index"]

        def call():
            it.set_tensor(i_in, xq)
            it.invoke()
            return it.get_tensor(i_out)

        return call

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.accepts_batch:
            y = self.batch_call(x)()
        else:
            step = self.fixed_batch
            y = np.concatenate([self.batch_call(x[i:i + step])() for i in range(0, len(x), step)])
        return dequantize(y, *self._out["quantization"])

    def graph_cost(self) -> dict:
        """Parameters and MACs read off the FULLY_CONNECTED ops of the flatbuffer."""
        tensors = {t["index"]: t for t in self.interpreter.get_tensor_details()}
        params = macs = layers = 0
        for op in self.interpreter._get_ops_details():
            if op["op_name"] != "FULLY_CONNECTED":
                continue
            layers += 1
            w = tensors[op["inputs"][1]]["shape"]
            macs += int(np.prod(w))
            params += int(np.prod(w))
            if len(op["inputs"]) > 2 and op["inputs"][2] >= 0:
                params += int(np.prod(tensors[op["inputs"][2]]["shape"]))
        return {"parameters": params, "macs_per_sample": macs, "dense_layers": layers}

    def close(self) -> None:
        self.interpreter = None
