"""How an artifact's int8 weights are scaled, read from the file itself: one scale per output
channel (per-channel) or one per layer (per-tensor). Two int8 artifacts compare like for like only
when their granularity is the same, so every artifact records it (results.json
`weight_quantization`) and the matrix shows it.

Weights are the constant int8 operands of the weighted ops: for TFLite the filter of CONV_2D,
DEPTHWISE_CONV_2D and FULLY_CONNECTED (its quantization parameters hold one scale per channel, or
one); for ONNX the int8 initializers that a DequantizeLinear reads (QDQ), the weight of a
QLinearConv / QLinearMatMul, or the quantized weight of ConvInteger / MatMulInteger (dynamic
quantization, whose scale initializer onnxruntime names WEIGHT_scale).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

WEIGHTED_TFLITE = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "CONV_3D")


def summarize(scales: list[int]) -> dict | None:
    """The record from the number of scales of each weight tensor; None when there is none (float)."""
    if not scales:
        return None
    per_channel = sum(1 for n in scales if n > 1)
    granularity = ("per-channel" if per_channel == len(scales) else "per-tensor" if per_channel == 0 else "mixed")
    return {"granularity": granularity, "weight_tensors": len(scales), "per_channel_tensors": per_channel,
            "scales_per_tensor": scales, "read_from": "the artifact's graph"}


def tflite_scales(path: Path) -> list[int]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=str(path),
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    out = []
    for op in it._get_ops_details():
        if op["op_name"] not in WEIGHTED_TFLITE or len(op["inputs"]) < 2:
            continue
        w = tensors.get(op["inputs"][1])
        if w is None or np.dtype(w["dtype"]) not in (np.dtype(np.int8), np.dtype(np.uint8)):
            continue
        out.append(max(len(w["quantization_parameters"]["scales"]), 1))
    return out


def onnx_scales(path: Path) -> list[int]:
    import onnx
    from onnx import TensorProto

    g = onnx.load(str(path), load_external_data=False).graph
    inits = {i.name: i for i in g.initializer}
    for node in g.node:  # constants written as Constant nodes count as initializers
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    inits[node.output[0]] = a.t

    def is_weight(name: str) -> bool:
        t = inits.get(name)
        return t is not None and t.data_type in (TensorProto.INT8, TensorProto.UINT8) and len(t.dims) >= 2

    def size(name: str) -> int:
        t = inits.get(name)
        return int(np.prod(t.dims)) if t is not None and len(t.dims) else 1

    out = []
    for node in g.node:
        if node.op_type == "DequantizeLinear" and is_weight(node.input[0]):
            out.append(size(node.input[1]))
        elif node.op_type in ("QLinearConv", "QLinearMatMul") and len(node.input) > 4 and is_weight(node.input[3]):
            out.append(size(node.input[4]))
        elif node.op_type in ("ConvInteger", "MatMulInteger") and len(node.input) > 1 and is_weight(node.input[1]):
            w = node.input[1]
            scale = w[: -len("_quantized")] + "_scale" if w.endswith("_quantized") else None
            out.append(size(scale) if scale in inits else 1)
    return out


def weight_granularity(path: Path) -> dict | None:
    """The artifact's int8 weight granularity, or None for a file without int8 weights (or a format
    this cannot read)."""
    path = Path(path)
    if path.suffix == ".tflite":
        return summarize(tflite_scales(path))
    if path.suffix == ".onnx":
        return summarize(onnx_scales(path))
    return None
