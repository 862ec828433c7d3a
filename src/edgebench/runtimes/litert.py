"""LiteRT (ai-edge-litert), the maintained TFLite runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgebench.runtimes.base import (
    LayerTensor,
    describe_input,
    dequantize,
    input_layout,
    quantize,
    to_artifact_input,
)

# Ops that move or re-type values without computing new ones: no layer ends in one.
LAYOUT_OPS = frozenset({"QUANTIZE", "DEQUANTIZE", "RESHAPE", "TRANSPOSE", "PAD", "PADV2", "SQUEEZE",
                        "EXPAND_DIMS", "DELEGATE"})
# TFLite ops whose weights and MACs graph_cost() counts.
WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


class LiteRTSession:
    name = "litert"

    def __init__(self, path: Path, threads: int = 1, reference_kernels: bool = False) -> None:
        self.path, self.threads, self.reference_kernels = Path(path), threads, reference_kernels
        self._debug = None
        """reference_kernels: LiteRT's plain reference kernels (the ones TFLite Micro's are ported
        from) instead of its optimized ones and the XNNPACK delegate."""
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        extra = {"experimental_op_resolver_type": OpResolverType.BUILTIN_REF} if reference_kernels else {}
        self.interpreter = Interpreter(model_path=str(path), num_threads=threads, **extra)
        self.interpreter.allocate_tensors()
        self._details()
        sig = self._in.get("shape_signature", self._in["shape"])
        self._signature = [int(d) for d in (sig if len(sig) else self._in["shape"])]
        self.layout = input_layout(self._signature)
        # TF-converted models keep a dynamic batch (-1); litert-torch and jax2tf output is fixed at 1.
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

        out_sig = self._out.get("shape_signature", self._out["shape"])
        return {"input": desc(self._in) | describe_input(self._signature, self.layout),
                "output": desc(self._out) | {"shape": [int(d) for d in out_sig]}}

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
        x = to_artifact_input(x, self._signature, self.layout)
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
        return tflite_graph_cost(self.interpreter)

    def close(self) -> None:
        self.interpreter = self._debug = None

    # ---- the layers capability: every op's output ----

    def _debug_session(self) -> "LiteRTSession":
        """A second interpreter that keeps every tensor (experimental_preserve_all_tensors) and runs
        every op on LiteRT's own kernels: the XNNPACK delegate would replace the graph by one op whose
        inner tensors are never written. Its final output is checked against the delegated one
        (layer_note)."""
        if self._debug is None:
            from ai_edge_litert.interpreter import Interpreter, OpResolverType

            resolver = OpResolverType.BUILTIN_REF if self.reference_kernels else \
                OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
            s = object.__new__(LiteRTSession)
            s.__dict__.update(self.__dict__)
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "intended for debugging purposes only": it is
                s.interpreter = Interpreter(model_path=str(self.path), num_threads=self.threads,
                                            experimental_preserve_all_tensors=True,
                                            experimental_op_resolver_type=resolver)
            s.interpreter.allocate_tensors()
            s._details()
            s._debug = None
            self._debug = s
        return self._debug

    def layer_tensors(self) -> list[LayerTensor]:
        it = self._debug_session().interpreter
        tensors = {t["index"]: t for t in it.get_tensor_details()}
        ops = it._get_ops_details()
        computed = {i for op in ops for i in op["outputs"]} | {d["index"] for d in it.get_input_details()}
        out = []
        for op in ops:
            if op["op_name"] in LAYOUT_OPS or not op["outputs"]:
                continue
            t = tensors[op["outputs"][0]]
            if np.dtype(t["dtype"]) in (np.int32, np.int64, np.bool_) or len(t["shape"]) == 0:
                continue  # a shape computation (SHAPE, STRIDED_SLICE, PACK for a reshape), not a layer's values
            scale, _ = t["quantization"]
            weights = " ".join(tensors[i]["name"] for i in op["inputs"] if i in tensors and i not in computed)
            out.append(LayerTensor(key=str(t["index"]), name=t["name"], op=op["op_name"],
                                   text=f"{t['name']} {weights}", shape=tuple(int(d) for d in t["shape"][1:]),
                                   step=float(scale) if np.dtype(t["dtype"]).kind in "iu" and scale else None,
                                   order=int(op["index"])))
        return out

    def layer_outputs(self, x: np.ndarray, keys: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The tensors `keys` (dequantized, float32) on inputs x, and the final output, one batch at
        a time as the artifact takes them."""
        s = self._debug_session()
        got: dict[str, list] = {k: [] for k in keys}
        quant = {str(t["index"]): t["quantization"] for t in s.interpreter.get_tensor_details()}
        finals = []
        step = len(x) if s.accepts_batch else s.fixed_batch
        for i in range(0, len(x), step):
            s.batch_call(x[i:i + step])()
            it = s.interpreter
            for k in keys:
                got[k].append(dequantize(it.get_tensor(int(k)), *quant[k]))
            finals.append(dequantize(it.get_tensor(s._out["index"]), *s._out["quantization"]))
        return {k: np.concatenate(v) for k, v in got.items()}, np.concatenate(finals)

    def layer_note(self) -> str:
        kernels = "reference kernels" if self.reference_kernels else "built-in kernels, XNNPACK delegate off"
        return f"LiteRT with every tensor kept ({kernels})"


def tflite_graph_cost(interpreter) -> dict:
    """Parameters and MACs read off the flatbuffer's CONV_2D, DEPTHWISE_CONV_2D and
    FULLY_CONNECTED ops: MACs per sample = output elements per sample x the kernel's size per
    output element (kh*kw*cin for a conv, kh*kw for a depthwise conv, cin for a dense layer);
    parameters = their weight and bias tensors (after the converter folded BatchNorm into them,
    so comparable with Network.deployed_parameter_count). Constant float or int8 tensors that
    other ops read (an unfolded BatchNorm's MUL/ADD, say) are listed under extra_constants and
    not counted; int32 shape and pad operands are left out. ops: every op's count."""
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = [op for op in interpreter._get_ops_details() if op["op_name"] != "DELEGATE"]
    produced = {i for op in ops for i in op["outputs"]}
    graph_inputs = {d["index"] for d in interpreter.get_input_details()}
    by_output = {i: op for op in ops for i in op["outputs"]}

    def size(i: int) -> int:
        return int(np.prod(tensors[i]["shape"]))

    params = macs = dense = conv = max_fan_in = 0
    counted: set[int] = set()
    counts: dict[str, int] = {}
    layers = []  # every op, in graph order: what a per-layer table shows
    for op in ops:
        name = op["op_name"]
        counts[name] = counts.get(name, 0) + 1
        out_shape = [int(d) for d in tensors[op["outputs"][0]]["shape"][1:]] if op["outputs"] else []
        layer = {"name": f"{op['index']}", "type": name, "output_shape": out_shape, "parameters": 0, "macs": 0}
        layers.append(layer)
        if name not in WEIGHTED_OPS:
            continue
        ins = [i for i in op["inputs"]]
        w = tensors[ins[1]]["shape"]
        out = tensors[op["outputs"][0]]["shape"]
        per_output = int(np.prod(w[1:3])) if name == "DEPTHWISE_CONV_2D" else int(np.prod(w[1:]))
        layer["macs"] = int(np.prod(out[1:])) * per_output
        macs += layer["macs"]
        max_fan_in = max(max_fan_in, per_output)
        slots = [ins[1]] + ([ins[2]] if len(ins) > 2 and ins[2] >= 0 else [])
        for i in slots:
            params += size(i)
            layer["parameters"] += size(i)
            counted.add(i)
            src = by_output.get(i)  # a float16 weight is DEQUANTIZEd from its stored copy
            if src is not None and src["op_name"] == "DEQUANTIZE":
                counted.add(src["inputs"][0])
        if name == "FULLY_CONNECTED":
            dense += 1
        else:
            conv += 1
    extra: dict[str, int] = {}
    for op in ops:
        for i in op["inputs"]:
            if (i < 0 or i in counted or i in produced or i in graph_inputs
                    or np.dtype(tensors[i]["dtype"]).kind not in "fiu" or np.dtype(tensors[i]["dtype"]) == np.int32
                    or np.dtype(tensors[i]["dtype"]) == np.int64):
                continue
            if op["op_name"] == "DEQUANTIZE" and op["outputs"][0] in counted:
                continue
            extra[op["op_name"]] = extra.get(op["op_name"], 0) + size(i)
    for layer in layers:
        layer["macs_share"] = layer["macs"] / macs if macs else 0.0
    out = {"parameters": params, "macs_per_sample": macs, "dense_layers": dense, "conv_layers": conv,
           "max_fan_in": max_fan_in, "ops": dict(sorted(counts.items())), "layers": layers}
    if extra:
        out["extra_constants"] = extra
    return out
