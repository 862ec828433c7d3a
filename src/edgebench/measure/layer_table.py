"""One artifact's per-layer table: match its tensors to the source model's layers, run both on
the same sample, compare (measure/layer_error). What results.json keeps under a runtime result's
`layers`."""

from __future__ import annotations

import math
import time

import numpy as np

from edgebench.measure.layer_error import JUMP_DB, Match, compare_layers, tensor_error
from edgebench.measure.layer_match import Group, check_scale, groups, match
from edgebench.models.network import Network
from edgebench.runtimes.base import channels_last

JUMP_RULE = (f"the first matched layer whose median-channel SQNR is at least {JUMP_DB:g} dB below the previous "
             "matched layer's (the first layer: below the median of all)")


def source_layers(net: Network) -> list[str]:
    """The layers whose outputs a source must provide: each group's comparison point."""
    return [g.output for g in groups(net)]


def layer_table(session, net: "Network | list[Group]", source: dict[str, np.ndarray], x: np.ndarray,
                reference_name: str = "source") -> dict:
    """session: a runtime session with the layers capability, opened on the artifact; net: the
    source model's Network (or its groups, measure/layer_match.groups_of); source: each group's
    output on x (channels-last, float32)."""
    t0 = time.perf_counter()
    gs = list(net) if isinstance(net, list) else groups(net)
    tensors = {t.key: t for t in session.layer_tensors()}
    matches = match(gs, list(tensors.values()))
    keys = [m.tensor for m in matches if m.tensor]
    got, final = session.layer_outputs(x, keys)
    shapes = {g.output: g.shape for g in gs}
    checked = []
    for m in matches:
        if m.tensor is None or m.layer not in source:
            checked.append(m)
            continue
        got[m.tensor] = channels_last(got[m.tensor], shapes[m.layer])
        why = check_scale(source[m.layer], got[m.tensor])
        checked.append(Match(m.layer, None, "unmatched", why=why, fused=m.fused) if why else m)
    rows = compare_layers(source, got, checked, {k: t.step for k, t in tensors.items() if t.step})
    for row, m in zip(rows, matches):
        t = tensors.get(m.tensor) if m.tensor else None
        if t is not None:
            row.update(op=t.op, tensor_name=t.name)
    jump = next((r["layer"] for r in rows if r.get("first_jump")), None)
    scored = [r for r in rows if "sqnr_db" in r]
    return {
        "reference": reference_name, "runtime_note": session.layer_note(), "samples": int(len(x)),
        "layers": len(rows), "matched": len(scored),
        "min_sqnr_db": _finite_min(r["sqnr_db"] for r in scored),
        "first_jump": jump, "jump_rule": JUMP_RULE, "rows": rows,
        "final_output": final, "time_s": round(time.perf_counter() - t0, 3),
    }


PAIR_RULE = "the first tensor, in graph order, whose values differ between the two runtimes"


def runtime_pair_table(reference, other, x: np.ndarray, reference_name: str, tensors: list | None = None) -> dict:
    """Two runtimes on the same file (LiteRT and TFLite Micro on one .tflite): every op's output
    tensor, matched by its index in the file, compared on inputs x; the first tensor where they
    differ is flagged. reference and other: sessions with layer_outputs; tensors: the ones to
    compare (default: every op output reference.layer_tensors() lists)."""
    t0 = time.perf_counter()
    tensors = reference.layer_tensors() if tensors is None else tensors
    keys = [t.key for t in tensors]
    ref, ref_final = reference.layer_outputs(x, keys)
    got, final = other.layer_outputs(x, keys)
    rows, first = [], None
    for t in tensors:
        row = {"layer": f"{t.order} {t.name.split(';')[0]}", "tensor": t.key, "tensor_name": t.name, "op": t.op,
               "matched_by": "same tensor", "fused": []}
        row.update(tensor_error(ref[t.key], got[t.key], t.step))
        row["first_jump"] = first is None and row["max_abs_error"] > 0
        if row["first_jump"]:
            first = row["layer"]
        rows.append(row)
    return {
        "reference": reference_name, "runtime_note": f"{other.layer_note()}; against {reference.layer_note()}",
        "samples": int(len(x)), "layers": len(rows), "matched": len(rows),
        "min_sqnr_db": _num(_finite_min(r["sqnr_db"] for r in rows)), "first_jump": first, "jump_rule": PAIR_RULE,
        "identical_layers": sum(r["max_abs_error"] == 0 for r in rows),
        "outputs_max_diff": float(np.max(np.abs(final.reshape(len(x), -1) - ref_final.reshape(len(x), -1)))),
        "rows": [{k: _num(v) for k, v in r.items()} for r in rows], "time_s": round(time.perf_counter() - t0, 3),
    }


def _finite_min(values) -> float | None:
    vals = list(values)
    return min(vals) if vals else None


def clean(table: dict) -> dict:
    """The table as results.json keeps it: infinities as None-free strings, no arrays."""
    out = {k: v for k, v in table.items() if k != "final_output"}
    out["rows"] = [{k: _num(v) for k, v in r.items()} for r in table["rows"]]
    out["min_sqnr_db"] = _num(table.get("min_sqnr_db"))
    return out


def _num(v):
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v
