"""TensorFlow Lite flatbuffers: read with LiteRT's interpreter, which only interprets the graph.
A model with a custom op (code the interpreter would need from elsewhere) is refused, naming it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgebench.sources import Source, SourceError, graph_facts, input_facts, one


def tflite_precision(interpreter) -> str:
    inp = interpreter.get_input_details()[0]
    if np.dtype(inp["dtype"]).kind in "iu":
        return "int8"
    kinds = {np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()}
    if "int8" in kinds or "uint8" in kinds:
        return "int8-dynamic"
    if "float16" in kinds:
        return "float16"
    return "float32"


def open_tflite(path: Path) -> Source:
    from edgebench.runtimes.litert import LiteRTSession, tflite_graph_cost

    try:
        session = LiteRTSession(path, threads=1)
    except Exception as e:
        text = (str(e).strip().splitlines() or [""])[0][:200]
        if "custom op" in text.lower():
            raise SourceError(f"{path}: the model uses a custom op ({text}); edgebench runs only built-in "
                              "TensorFlow Lite ops") from None
        raise SourceError(f"{path}: not a loadable TensorFlow Lite model ({type(e).__name__}: {text})") from None
    it = session.interpreter
    for op in it._get_ops_details():
        if op["op_name"] in ("CUSTOM",) or op["op_name"].startswith("Custom"):
            raise SourceError(f"{path}: op {op['index']} is a custom op; edgebench runs only built-in "
                              "TensorFlow Lite ops")
    i = one(it.get_input_details(), "input", path)
    o = one(it.get_output_details(), "output", path)
    sig = i.get("shape_signature", i["shape"])
    inp = input_facts(i["name"], [int(d) for d in (sig if len(sig) else i["shape"])], np.dtype(i["dtype"]).name,
                      path)
    scale, zero_point = i.get("quantization", (0.0, 0))
    if inp["dtype"] in ("int8", "uint8") and scale:
        inp["quantization"] = {"scale": float(scale), "zero_point": int(zero_point)}
    cost = tflite_graph_cost(it)
    out_sig = o.get("shape_signature", o["shape"])
    facts = {"kind": "tflite", "input": inp,
             "output": {"shape": [int(d) for d in out_sig], "dtype": np.dtype(o["dtype"]).name},
             **graph_facts(cost), "precision": tflite_precision(it),
             "versions": {"ai-edge-litert": session.version()}, "signatures": sorted(it.get_signature_list())}
    return Source("tflite", Path(path), facts, session.predict)
