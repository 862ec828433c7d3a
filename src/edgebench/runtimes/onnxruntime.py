"""ONNX Runtime, CPU execution provider."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgebench.runtimes.base import describe_input, input_layout, to_artifact_input

# op: (index of the weight input, index of the bias input or None) for the ops graph_cost counts.
WEIGHTED_OPS = {
    "Conv": (1, 2), "ConvInteger": (1, None), "QLinearConv": (3, 8),
    "Gemm": (1, 2), "MatMul": (1, None), "MatMulInteger": (1, None), "QLinearMatMul": (3, None),
}
CONV_OPS = ("Conv", "ConvInteger", "QLinearConv")
# Ops through which a constant stays a constant (a weight stored int8 and dequantized, say).
_CONST_CHAIN = ("DequantizeLinear", "QuantizeLinear", "Cast", "Reshape", "Transpose", "Identity", "Squeeze",
                "Unsqueeze", "Flatten")
# Ops between a weighted op and its bias Add: dynamic quantization's rescaling, an unfolded
# BatchNorm's scale.
_TO_BIAS = ("Cast", "Mul", "DequantizeLinear", "QuantizeLinear")


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


def onnx_graph_cost(path: Path) -> dict:
    """Parameters and MACs of the Conv, Gemm and MatMul nodes (and their quantized forms
    ConvInteger, QLinearConv, MatMulInteger, QLinearMatMul), read from the file with ONNX shape
    inference. MACs per sample = output elements per sample x the weight's size per output
    element (cin/groups*kh*kw for a conv, K for a matrix product). Parameters = their weights and
    biases; a MatMul's bias is the constant of the Add after it (through dynamic quantization's
    rescaling or an unfolded BatchNorm's Mul). Other constant tensors that ops read (an unfolded
    BatchNorm's scale and shift, for instance) are listed under extra_constants, not counted;
    scalars and integer shape operands are left out. ops: every op's count."""
    import onnx
    from onnx import shape_inference

    model = onnx.load(str(path))
    try:
        model = shape_inference.infer_shapes(model)
    except Exception:  # shapes of the weights still come from the initializers
        pass
    g = model.graph
    shapes: dict[str, list] = {}
    dtypes: dict[str, int] = {}
    for init in g.initializer:
        shapes[init.name] = list(init.dims)
        dtypes[init.name] = init.data_type
    for vi in list(g.value_info) + list(g.input) + list(g.output):
        tt = vi.type.tensor_type
        shapes.setdefault(vi.name, [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim])
        dtypes.setdefault(vi.name, tt.elem_type)
    constant = set(shapes) & {i.name for i in g.initializer}
    chain_nodes = set()
    for i, node in enumerate(g.node):
        if node.op_type == "Constant":
            constant.update(node.output)
            for a in node.attribute:
                if a.name == "value":
                    shapes.setdefault(node.output[0], list(a.t.dims))
                    dtypes.setdefault(node.output[0], a.t.data_type)
            chain_nodes.add(i)
        elif node.op_type in _CONST_CHAIN and node.input and node.input[0] in constant:
            constant.update(node.output)
            chain_nodes.add(i)
            if node.op_type in ("DequantizeLinear", "QuantizeLinear", "Cast", "Identity"):
                shapes.setdefault(node.output[0], shapes.get(node.input[0]))
    producer = {name: node for node in g.node for name in node.output}
    consumers: dict[str, list] = {}
    for node in g.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def size(name: str) -> int | None:
        s = shapes.get(name)
        return int(np.prod(s)) if s is not None and all(isinstance(d, int) and d > 0 for d in s) else None

    def roots(name: str) -> set[str]:
        """The stored tensors a constant derives from (through dequantization, reshapes...)."""
        node = producer.get(name)
        if node is None or node.op_type == "Constant":
            return {name}
        return {name} | set().union(*(roots(i) for i in node.input if i in constant))

    params = macs = dense = conv = max_fan_in = 0
    counted: set[str] = set()
    counts: dict[str, int] = {}
    layers = []  # every node but constant chains, in graph order: what a per-layer table shows
    for i, node in enumerate(g.node):
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
        if i in chain_nodes:
            continue
        out_shape = shapes.get(node.output[0]) if node.output else None
        layer = {"name": node.name or f"{i}", "type": node.op_type, "parameters": 0, "macs": 0,
                 "output_shape": [d if isinstance(d, int) and d > 0 else "?" for d in (out_shape or [])[1:]]}
        layers.append(layer)
        if node.op_type not in WEIGHTED_OPS:
            continue
        macs_before, params_before = macs, params
        wi, bi = WEIGHTED_OPS[node.op_type]
        if len(node.input) <= wi or node.input[wi] not in constant:
            continue  # a product of two activations: no weight
        w = shapes.get(node.input[wi])
        out = shapes.get(node.output[0])
        if not w or size(node.input[wi]) is None:
            continue
        if node.op_type in CONV_OPS:
            per_sample = int(np.prod(out[1:])) if out and all(isinstance(d, int) and d > 0 for d in out[1:]) else None
            if per_sample is None:
                raise ValueError(f"{node.op_type} '{node.name}': output shape unknown after shape inference")
            macs += per_sample * int(np.prod(w[1:]))
            max_fan_in = max(max_fan_in, int(np.prod(w[1:])))
            conv += 1
        else:
            rows = 1
            a = shapes.get(node.input[0])
            if a and len(a) > 2 and all(isinstance(d, int) and d > 0 for d in a[1:-1]):
                rows = int(np.prod(a[1:-1]))
            macs += rows * int(np.prod(w))
            trans_b = any(a.name == "transB" and a.i for a in node.attribute)
            max_fan_in = max(max_fan_in, int(w[-1] if trans_b else w[0]) if len(w) == 2 else int(np.prod(w)))
            dense += 1
        params += size(node.input[wi])
        counted |= roots(node.input[wi])
        bias = node.input[bi] if bi is not None and len(node.input) > bi and node.input[bi] else None
        if bias is None:  # the constant of the Add that follows (MatMul + Add; dynamic quantization)
            bias = _following_bias(node, consumers, constant)
        if bias is not None and size(bias):
            params += size(bias)
            counted |= roots(bias)
        layer.update(macs=macs - macs_before, parameters=params - params_before)
    for layer in layers:
        layer["macs_share"] = layer["macs"] / macs if macs else 0.0
    extra: dict[str, int] = {}
    for i, node in enumerate(g.node):
        if i in chain_nodes:
            continue
        for name in node.input:
            if name not in constant or name in counted or dtypes.get(name) not in _VALUE_TYPES:
                continue
            n = size(name)
            if n and n > 1:
                extra[node.op_type] = extra.get(node.op_type, 0) + n
    out = {"parameters": params, "macs_per_sample": macs, "dense_layers": dense, "conv_layers": conv,
           "max_fan_in": max_fan_in, "ops": dict(sorted(counts.items())), "layers": layers}
    if extra:
        out["extra_constants"] = extra
    return out


def _value_types() -> set[int]:
    from onnx import TensorProto as T

    return {T.FLOAT, T.FLOAT16, T.BFLOAT16, T.DOUBLE, T.INT8, T.UINT8}


try:
    _VALUE_TYPES = _value_types()
except ImportError:  # pragma: no cover - onnx ships with the onnx extra
    _VALUE_TYPES = set()


def _following_bias(node, consumers, constant) -> str | None:
    """The constant operand of the first Add after `node` along a single-consumer chain of
    rescaling ops (Cast, Mul, (De)QuantizeLinear)."""
    cur = node
    for _ in range(6):
        nxt = consumers.get(cur.output[0], [])
        if len(nxt) != 1:
            return None
        cur = nxt[0]
        if cur.op_type == "Add":
            other = [i for i in cur.input if i in constant]
            return other[0] if len(other) == 1 else None
        if cur.op_type not in _TO_BIAS:
            return None
    return None
