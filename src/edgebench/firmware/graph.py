"""A .tflite flatbuffer read into a small neutral IR for the C generator.

Parsing uses the flatbuffer schema's generated Python classes (ModelT.InitFromPackedBuf): pure
parsing, no code from the file runs. What is static is folded here:
- ops whose results never reach the graph output are dropped (TF's flatten emits SHAPE ->
  STRIDED_SLICE -> PACK feeding RESHAPE's shape input; RESHAPE's output shape is already static in
  its output tensor, so that chain is dead once RESHAPE reads only its data input);
- RESHAPE, SQUEEZE and EXPAND_DIMS become aliases (the output names the input's bytes, no copy).
Anything the generator cannot compile raises Unsupported(op, reason), never another error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Ops the generator has a kernel for (after folding).
KERNEL_OPS = frozenset({
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D", "MEAN",
    "SUM", "ADD", "PAD", "SOFTMAX", "QUANTIZE", "DEQUANTIZE", "TRANSPOSE", "RELU", "RELU6",
})
ALIAS_OPS = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS"})
# TensorType enum values of the schema -> numpy dtype names.
_DTYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 7: "int16", 9: "int8",
           6: "bool", 10: "float64"}
ACTIVATION_DTYPES = ("int8", "float32")


class Unsupported(Exception):
    """The model needs something the generator does not have; the message is one line naming it."""

    def __init__(self, op: str, reason: str):
        super().__init__(f"{op}: {reason}")
        self.op = op
        self.reason = reason


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: np.ndarray | None = None        # float32, one value per tensor or per channel
    zero_point: np.ndarray | None = None   # int64, same length as scale
    qdim: int = 0                          # quantized_dimension (per-channel axis)
    data: np.ndarray | None = None         # constant contents, shaped; None for activations

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def quantized(self) -> bool:
        return self.scale is not None and len(self.scale) > 0


@dataclass
class Op:
    index: int                 # position in the original graph
    kind: str                  # builtin operator name, e.g. "CONV_2D"
    inputs: list[int]          # tensor indices; -1 for an absent optional input
    outputs: list[int]
    options: dict = field(default_factory=dict)


@dataclass
class Graph:
    tensors: list[Tensor]
    ops: list[Op]                              # kernel ops only, in graph order
    input: int
    output: int
    aliases: dict[int, int] = field(default_factory=dict)   # alias tensor -> tensor it names

    def base(self, t: int) -> int:
        """The tensor whose bytes t names (follows RESHAPE-like aliases)."""
        while t in self.aliases:
            t = self.aliases[t]
        return t


def _op_names() -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as schema
    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def _tensor(model, index: int, t) -> Tensor:
    dtype = _DTYPES.get(int(t.type), f"type{int(t.type)}")
    name = t.name.decode() if isinstance(t.name, bytes) else str(t.name or f"t{index}")
    shape = tuple(int(d) for d in (t.shape if t.shape is not None else ()))
    out = Tensor(index, name, shape, dtype)
    q = t.quantization
    if q is not None and q.scale is not None and len(q.scale):
        out.scale = np.asarray(q.scale, dtype=np.float32)
        zp = q.zeroPoint if q.zeroPoint is not None else np.zeros(len(q.scale))
        out.zero_point = np.asarray(zp, dtype=np.int64)
        out.qdim = int(q.quantizedDimension)
    buf = model.buffers[t.buffer] if 0 <= t.buffer < len(model.buffers) else None
    if buf is not None and getattr(buf, "offset", 0) and buf.offset > 1:
        raise Unsupported("MODEL", "buffers stored outside the flatbuffer (models over 2 GB)")
    if buf is not None and buf.data is not None and len(buf.data):
        if dtype == "float16":
            raise Unsupported("DEQUANTIZE", f"float16 weights ({name}): the generator compiles full-int8 and "
                                            "float32 models")
        if dtype not in ("int8", "int32", "float32", "int64", "uint8", "int16"):
            raise Unsupported("MODEL", f"constant tensor {name} of type {dtype}")
        raw = np.asarray(buf.data, dtype=np.uint8).tobytes()
        out.data = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype)
        out.data = out.data.reshape(shape) if shape else out.data.reshape(())
    sig = t.shapeSignature
    if sig is not None and any(int(d) < 0 for d in list(sig)[1:]):
        raise Unsupported("MODEL", f"dynamic shape {list(sig)} on tensor {name}")
    return out


def _options(op) -> dict:
    opts = op.builtinOptions
    return {} if opts is None else {k: v for k, v in vars(opts).items() if not k.startswith("_")}


def parse(model_bytes: bytes) -> Graph:
    """Read a .tflite flatbuffer into a Graph, folded and checked (raises Unsupported)."""
    from ai_edge_litert import schema_py_generated as schema
    model = schema.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    if model.subgraphs is None or len(model.subgraphs) != 1:
        count = 0 if model.subgraphs is None else len(model.subgraphs)
        raise Unsupported("MODEL", f"{count} subgraphs (one is supported)")
    sg = model.subgraphs[0]
    if len(sg.inputs) != 1 or len(sg.outputs) != 1:
        raise Unsupported("MODEL", f"{len(sg.inputs)} inputs and {len(sg.outputs)} outputs (one each is supported)")
    tensors = [_tensor(model, i, t) for i, t in enumerate(sg.tensors)]
    names = _op_names()
    ops = []
    for i, op in enumerate(sg.operators or []):
        code = model.operatorCodes[op.opcodeIndex]
        kind = names.get(max(int(code.builtinCode), int(code.deprecatedBuiltinCode)), "CUSTOM")
        if kind == "CUSTOM" and code.customCode:
            kind = f"CUSTOM({code.customCode.decode() if isinstance(code.customCode, bytes) else code.customCode})"
        ops.append(Op(i, kind, [int(x) for x in op.inputs], [int(x) for x in op.outputs], _options(op)))
    return fold(Graph(tensors, ops, int(sg.inputs[0]), int(sg.outputs[0])))


def _data_inputs(op: Op) -> list[int]:
    """Inputs the op reads at run time (an alias op reads only its data input)."""
    return op.inputs[:1] if op.kind in ALIAS_OPS else [t for t in op.inputs if t >= 0]


def fold(g: Graph) -> Graph:
    """Drop ops that do not reach the output, turn RESHAPE-like ops into aliases, check the rest."""
    needed = {g.output}
    kept = []
    for op in reversed(g.ops):
        if any(t in needed for t in op.outputs):
            kept.append(op)
            needed.update(_data_inputs(op))
    kept.reverse()
    ops, aliases = [], {}
    for op in kept:
        if op.kind in ALIAS_OPS:
            src, dst = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
            if src.size != dst.size or src.dtype != dst.dtype:
                raise Unsupported(op.kind, f"{src.shape} {src.dtype} -> {dst.shape} {dst.dtype}")
            aliases[op.outputs[0]] = op.inputs[0]
        elif op.kind in KERNEL_OPS:
            ops.append(op)
        else:
            raise Unsupported(op.kind, "no kernel for this op in the C generator")
    out = Graph(g.tensors, ops, g.input, g.output, aliases)
    check(out)
    return out


def check(g: Graph) -> None:
    """Activations must be int8 or float32 with static shapes; an alias-only graph is refused."""
    if not g.ops:
        raise Unsupported("MODEL", "no operator to compile")
    for op in g.ops:
        for t in [*_data_inputs(op), *op.outputs]:
            tensor = g.tensors[t]
            if tensor.is_const:
                continue
            if tensor.dtype not in ACTIVATION_DTYPES:
                raise Unsupported(op.kind, f"{tensor.dtype} activations (tensor {tensor.name}); "
                                           "int8 and float32 are supported")
            if tensor.dtype == "int8" and not tensor.quantized:
                raise Unsupported(op.kind, f"int8 tensor {tensor.name} without quantization parameters")
    for t in (g.input, g.output):
        if g.tensors[t].dtype not in ACTIVATION_DTYPES:
            raise Unsupported("MODEL", f"{g.tensors[t].dtype} model input/output")
