"""Parameters and MACs of an ONNX graph, read from the file with ONNX shape inference.

The graph is indexed once (shapes, element types, which tensors are constants and through which
ops, who produces and who reads each tensor); each weighted op kind then has its own count: a
convolution's MACs from its output and kernel, a matrix product's from its rows and weight.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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


def _value_types() -> set[int]:
    from onnx import TensorProto as T

    return {T.FLOAT, T.FLOAT16, T.BFLOAT16, T.DOUBLE, T.INT8, T.UINT8}


try:
    _VALUE_TYPES = _value_types()
except ImportError:  # pragma: no cover - onnx ships with the onnx extra
    _VALUE_TYPES = set()


def _known(dims) -> bool:
    return all(isinstance(d, int) and d > 0 for d in dims)


@dataclass
class _Graph:
    """An ONNX graph's tensors: their shapes and element types, which are constants (initializers,
    Constant nodes and what only reshapes or dequantizes them: the chain nodes), and who produces
    and reads each one."""

    nodes: list
    initializers: set[str]
    shapes: dict[str, list] = field(default_factory=dict)
    dtypes: dict[str, int] = field(default_factory=dict)
    constant: set[str] = field(default_factory=set)
    chain_nodes: set[int] = field(default_factory=set)
    producer: dict = field(default_factory=dict)
    consumers: dict[str, list] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> _Graph:
        import onnx
        from onnx import shape_inference

        model = onnx.load(str(path))
        try:
            model = shape_inference.infer_shapes(model)
        except Exception:  # shapes of the weights still come from the initializers
            pass
        g = model.graph
        graph = cls(list(g.node), {i.name for i in g.initializer})
        for init in g.initializer:
            graph.shapes[init.name] = list(init.dims)
            graph.dtypes[init.name] = init.data_type
        for vi in list(g.value_info) + list(g.input) + list(g.output):
            tt = vi.type.tensor_type
            graph.shapes.setdefault(vi.name, [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim])
            graph.dtypes.setdefault(vi.name, tt.elem_type)
        graph._find_constants()
        graph.producer = {name: node for node in graph.nodes for name in node.output}
        for node in graph.nodes:
            for name in node.input:
                graph.consumers.setdefault(name, []).append(node)
        return graph

    def _find_constants(self) -> None:
        self.constant = set(self.shapes) & self.initializers
        for i, node in enumerate(self.nodes):
            if node.op_type == "Constant":
                self.constant.update(node.output)
                for a in node.attribute:
                    if a.name == "value":
                        self.shapes.setdefault(node.output[0], list(a.t.dims))
                        self.dtypes.setdefault(node.output[0], a.t.data_type)
                self.chain_nodes.add(i)
            elif node.op_type in _CONST_CHAIN and node.input and node.input[0] in self.constant:
                self.constant.update(node.output)
                self.chain_nodes.add(i)
                if node.op_type in ("DequantizeLinear", "QuantizeLinear", "Cast", "Identity"):
                    self.shapes.setdefault(node.output[0], self.shapes.get(node.input[0]))

    def size(self, name: str) -> int | None:
        s = self.shapes.get(name)
        return int(np.prod(s)) if s is not None and _known(s) else None

    def roots(self, name: str) -> set[str]:
        """The stored tensors a constant derives from (through dequantization, reshapes...)."""
        node = self.producer.get(name)
        if node is None or node.op_type == "Constant":
            return {name}
        return {name} | set().union(*(self.roots(i) for i in node.input if i in self.constant))

    def following_bias(self, node) -> str | None:
        """The constant operand of the first Add after `node` along a single-consumer chain of
        rescaling ops (Cast, Mul, (De)QuantizeLinear)."""
        cur = node
        for _ in range(6):
            nxt = self.consumers.get(cur.output[0], [])
            if len(nxt) != 1:
                return None
            cur = nxt[0]
            if cur.op_type == "Add":
                other = [i for i in cur.input if i in self.constant]
                return other[0] if len(other) == 1 else None
            if cur.op_type not in _TO_BIAS:
                return None
        return None


@dataclass(frozen=True)
class _OpCost:
    """What one weighted op adds: its MACs per sample, its weight's fan-in, its parameters and the
    stored tensors they come from."""

    conv: bool
    macs: int
    fan_in: int
    parameters: int
    stored: frozenset[str]


def _conv_macs(graph: _Graph, node, w: list) -> tuple[int, int]:
    """MACs per sample = output elements per sample x cin/groups*kh*kw; fan-in = cin/groups*kh*kw."""
    out = graph.shapes.get(node.output[0])
    per_sample = int(np.prod(out[1:])) if out and _known(out[1:]) else None
    if per_sample is None:
        raise ValueError(f"{node.op_type} '{node.name}': output shape unknown after shape inference")
    return per_sample * int(np.prod(w[1:])), int(np.prod(w[1:]))


def _product_macs(graph: _Graph, node, w: list) -> tuple[int, int]:
    """MACs per sample = rows per sample (1 unless the input has inner dimensions) x the weight's
    size; fan-in = K (the weight's first dimension, its last under Gemm's transB)."""
    rows = 1
    a = graph.shapes.get(node.input[0])
    if a and len(a) > 2 and _known(a[1:-1]):
        rows = int(np.prod(a[1:-1]))
    trans_b = any(attr.name == "transB" and attr.i for attr in node.attribute)
    return rows * int(np.prod(w)), int(w[-1] if trans_b else w[0]) if len(w) == 2 else int(np.prod(w))


def _weighted_cost(graph: _Graph, node) -> _OpCost | None:
    """A weighted op's cost; None for a product of two activations or a weight of unknown shape."""
    wi, bi = WEIGHTED_OPS[node.op_type]
    if len(node.input) <= wi or node.input[wi] not in graph.constant:
        return None  # a product of two activations: no weight
    weight = node.input[wi]
    w = graph.shapes.get(weight)
    if not w or graph.size(weight) is None:
        return None
    conv = node.op_type in CONV_OPS
    macs, fan_in = (_conv_macs if conv else _product_macs)(graph, node, w)
    params, stored = graph.size(weight), graph.roots(weight)
    bias = node.input[bi] if bi is not None and len(node.input) > bi and node.input[bi] else None
    if bias is None:  # the constant of the Add that follows (MatMul + Add; dynamic quantization)
        bias = graph.following_bias(node)
    if bias is not None and graph.size(bias):
        params += graph.size(bias)
        stored |= graph.roots(bias)
    return _OpCost(conv, macs, fan_in, params, frozenset(stored))


def _extra_constants(graph: _Graph, counted: set[str]) -> dict[str, int]:
    """Constant value tensors (not scalars, not integer shape operands) that ops read beyond the
    counted weights and biases, summed per op type."""
    extra: dict[str, int] = {}
    for i, node in enumerate(graph.nodes):
        if i in graph.chain_nodes:
            continue
        for name in node.input:
            if name not in graph.constant or name in counted or graph.dtypes.get(name) not in _VALUE_TYPES:
                continue
            n = graph.size(name)
            if n and n > 1:
                extra[node.op_type] = extra.get(node.op_type, 0) + n
    return extra


def _layer_row(graph: _Graph, i: int, node) -> dict:
    out_shape = graph.shapes.get(node.output[0]) if node.output else None
    return {"name": node.name or f"{i}", "type": node.op_type, "parameters": 0, "macs": 0,
            "output_shape": [d if isinstance(d, int) and d > 0 else "?" for d in (out_shape or [])[1:]]}


def onnx_graph_cost(path: Path) -> dict:
    """Parameters and MACs of the Conv, Gemm and MatMul nodes (and their quantized forms
    ConvInteger, QLinearConv, MatMulInteger, QLinearMatMul), read from the file with ONNX shape
    inference. MACs per sample = output elements per sample x the weight's size per output
    element (cin/groups*kh*kw for a conv, K for a matrix product). Parameters = their weights and
    biases; a MatMul's bias is the constant of the Add after it (through dynamic quantization's
    rescaling or an unfolded BatchNorm's Mul). Other constant tensors that ops read (an unfolded
    BatchNorm's scale and shift, for instance) are listed under extra_constants, not counted;
    scalars and integer shape operands are left out. ops: every op's count."""
    graph = _Graph.load(path)
    params = macs = dense = conv = max_fan_in = 0
    counted: set[str] = set()
    counts: dict[str, int] = {}
    layers = []  # every node but constant chains, in graph order: what a per-layer table shows
    for i, node in enumerate(graph.nodes):
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
        if i in graph.chain_nodes:
            continue
        layer = _layer_row(graph, i, node)
        layers.append(layer)
        cost = _weighted_cost(graph, node) if node.op_type in WEIGHTED_OPS else None
        if cost is None:
            continue
        macs += cost.macs
        params += cost.parameters
        max_fan_in = max(max_fan_in, cost.fan_in)
        conv, dense = (conv + 1, dense) if cost.conv else (conv, dense + 1)
        counted |= cost.stored
        layer.update(macs=cost.macs, parameters=cost.parameters)
    for layer in layers:
        layer["macs_share"] = layer["macs"] / macs if macs else 0.0
    extra = _extra_constants(graph, counted)
    out = {"parameters": params, "macs_per_sample": macs, "dense_layers": dense, "conv_layers": conv,
           "max_fan_in": max_fan_in, "ops": dict(sorted(counts.items())), "layers": layers}
    if extra:
        out["extra_constants"] = extra
    return out
