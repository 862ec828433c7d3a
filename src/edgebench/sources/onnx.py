"""ONNX models: checked before ONNX Runtime reads them.

The file must parse as an ONNX ModelProto and pass onnx.checker; every node's operator must be a
standard ONNX operator (or one of ONNX Runtime's own com.microsoft operators), so a custom
operator (which would need a shared library of code) is refused, naming it; tensors stored in
external files are refused (their paths come from the file and could point anywhere).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgebench.sources import Source, SourceError, graph_facts, input_facts, one

ALLOWED_DOMAINS = ("", "ai.onnx", "com.microsoft")
_ONNX_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
               "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(int64)": "int64", "tensor(int32)": "int32"}


def check_onnx(path: Path):
    import onnx
    from onnx import defs

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:
        raise SourceError(f"{path}: not a readable ONNX model ({type(e).__name__}: "
                          f"{(str(e).splitlines() or [''])[0][:160]})") from None
    g = model.graph
    if not g.node:
        raise SourceError(f"{path}: the ONNX graph has no nodes (truncated or not an ONNX model)")
    for t in list(g.initializer) + [a.t for n in g.node for a in n.attribute if a.HasField("t")]:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            raise SourceError(f"{path}: tensor '{t.name}' is stored in an external file; edgebench takes only "
                              "self-contained .onnx files (save with external data inside the file)")
    local = {(f.domain, f.name) for f in model.functions}
    for node in g.node:
        if (node.domain, node.op_type) in local or node.domain not in ALLOWED_DOMAINS:
            raise SourceError(f"{path}: node '{node.name or node.op_type}' uses the custom operator "
                              f"'{node.op_type}' (domain '{node.domain}'), which ONNX Runtime cannot run "
                              "without code from outside the file")
        if node.domain in ("", "ai.onnx") and not defs.has(node.op_type, node.domain):
            raise SourceError(f"{path}: node '{node.name or node.op_type}' uses the operator '{node.op_type}', "
                              f"which is not an ONNX operator")
    try:
        onnx.checker.check_model(model)
    except Exception as e:
        raise SourceError(f"{path}: fails onnx.checker ({(str(e).strip().splitlines() or [''])[0][:200]})") from None
    return model


def onnx_precision(model) -> str:
    ops = {n.op_type for n in model.graph.node}
    if "DynamicQuantizeLinear" in ops or "MatMulInteger" in ops or "ConvInteger" in ops:
        return "int8-dynamic"
    if ops & {"QuantizeLinear", "QLinearConv", "QLinearMatMul"}:
        return "int8-static"
    import onnx

    if any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer):
        return "float16"
    return "float32"


def open_onnx(path: Path) -> Source:
    model = check_onnx(path)
    from edgebench.runtimes.onnxruntime import OrtSession, onnx_graph_cost

    try:
        session = OrtSession(path, threads=1)
    except Exception as e:
        raise SourceError(f"{path}: ONNX Runtime cannot load it ({type(e).__name__}: "
                          f"{(str(e).strip().splitlines() or [''])[0][:200]})") from None
    ins = session.session.get_inputs()
    i = one(list(ins), "input", path)
    o = one(list(session.session.get_outputs()), "output", path)
    inp = input_facts(i.name, i.shape, _ONNX_TYPES.get(i.type, i.type), path)
    try:
        cost = onnx_graph_cost(path)
    except Exception:
        cost = {"parameters": sum(int(np.prod(t.dims)) for t in model.graph.initializer), "dense_layers": 0,
                "conv_layers": 0, "max_fan_in": 1}
    import onnxruntime

    facts = {"kind": "onnx", "input": inp,
             "output": {"shape": [d if isinstance(d, int) else -1 for d in o.shape],
                        "dtype": _ONNX_TYPES.get(o.type, o.type)},
             **graph_facts(cost), "precision": onnx_precision(model),
             "opset": {o.domain or "ai.onnx": o.version for o in model.opset_import},
             "versions": {"onnxruntime": onnxruntime.__version__}}
    return Source("onnx", Path(path), facts, session.predict)
