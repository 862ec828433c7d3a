"""Per-layer error tables (issue 31): what report.md, `edgebench layers` and the API show of each
runtime result's `layers` record (measure/layer_table)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgebench.report.text import Text, fmt, strong, text
from edgebench.results.schema import Artifact, RunResults, RuntimeResult

HEADER = ["layer", "matched", "artifact op", "fused", "SQNR dB", "median channel dB", "worst channel dB",
          "cosine", "max error", ""]
COLUMNS = ["layer", "matched_by", "op", "fused", "sqnr_db", "channel_sqnr_db", "worst_channel_sqnr_db", "cosine",
           "max_error_steps", "max_relative_error", "first_jump", "tensor", "samples", "why"]


@dataclass(frozen=True)
class LayerTable:
    artifact: Artifact
    result: RuntimeResult
    label: str  # "tensorflow/tflite-int8 on LiteRT"
    summary: Text
    rows: list[list]
    records: list[dict]


def artifact_name(a: Artifact) -> str:
    return f"{a.framework}/{a.format}-{a.precision}"


def _db(v) -> str:
    if v in ("inf", None) or (isinstance(v, float) and math.isinf(v) and v > 0):
        return "identical" if v is not None else "-"
    if v == "-inf":
        return "-inf"
    return f"{float(v):.1f}"


def _max_error(row: dict) -> str:
    if "max_error_steps" in row:
        return f"{row['max_error_steps']:.2f} steps"
    if "max_relative_error" in row:
        return f"{row['max_relative_error']:.2e} rel."
    return "-"


def _row(row: dict) -> list:
    name = row["layer"].split(";")[0]  # a converter's fused name: its first part (results.json keeps it whole)
    if row.get("matched_by") == "unmatched":
        return [name, "not matched", row.get("op") or "-", " + ".join(row.get("fused") or []) or "-",
                "-", "-", "-", "-", "-", row.get("why", "")]
    return [name, row["matched_by"], row.get("op") or "-", " + ".join(row.get("fused") or []) or "-",
            _db(row.get("sqnr_db")), _db(row.get("channel_sqnr_db")), _db(row.get("worst_channel_sqnr_db")),
            f"{row['cosine']:.5f}", _max_error(row), strong("error appears here") if row.get("first_jump") else ""]


def summary(rec: dict) -> Text:
    """One sentence: what was compared, on what, and where the error appears."""
    if rec.get("reference", "source") != "source":
        return _pair_summary(rec)
    jump = rec.get("first_jump")
    where = (fmt("the error appears at {} ({})", jump.split(";")[0], rec.get("jump_rule", "")) if jump
             else text("no layer's error jumps (" + rec.get("jump_rule", "") + ")"))
    lowest = rec.get("min_sqnr_db")
    low = fmt("lowest SQNR {} dB", _db(lowest)) if lowest is not None else text("no layer compared")
    final = rec.get("final_output_max_diff")
    check = (fmt("; the instrumented run's output differs from the ordinary run's by at most {:.3g}", final)
             if final is not None else text(""))
    return fmt("{} of {} layers matched against the {} on the first {} test inputs ({}); {}; {}{}.",
               rec.get("matched", 0), rec.get("layers", 0), "source model" if rec.get("reference") == "source"
               else rec.get("reference"), rec.get("samples", 0), rec.get("runtime_note", ""), low, where, check)


def _pair_summary(rec: dict) -> Text:
    from edgebench import registry

    rt = registry.runtimes().get(rec["reference"])
    ref = rt.display if rt else rec["reference"]
    jump = rec.get("first_jump")
    where = (fmt("they first differ at op {}", jump) if jump else text("every tensor is identical"))
    what = fmt("the {} tensors the generated C writes", rec["layers"]) if rec.get("note") else \
        fmt("every op's output ({})", rec.get("layers", 0))
    return fmt("{} against {}'s, tensor by tensor on the same file, on the first {} inputs "
               "({}): {} of {} identical; {}; final outputs at most {:.3g} apart.", what, ref,
               rec.get("samples", 0), rec.get("runtime_note", ""), rec.get("identical_layers", 0),
               rec.get("layers", 0), where, rec.get("outputs_max_diff", 0.0))


def tables(r: RunResults, artifact: str | None = None) -> list[LayerTable]:
    """Every runtime result that holds a per-layer record (one artifact's, when `artifact` names it
    as framework/format-precision)."""
    from edgebench import registry

    out = []
    for a in r.artifacts:
        if artifact is not None and artifact_name(a) != artifact:
            continue
        for res in a.results:
            rec = res.layers
            if not rec:
                continue
            rt = registry.runtimes().get(res.runtime)
            label = f"{artifact_name(a)} on {rt.display if rt else res.runtime}"
            if "error" in rec:
                out.append(LayerTable(a, res, label, fmt("the per-layer comparison failed: {}", rec["error"]), [], []))
                continue
            if "skipped" in rec:
                out.append(LayerTable(a, res, label, fmt("no per-layer table: {}.", rec["skipped"]), [], []))
                continue
            out.append(LayerTable(a, res, label, summary(rec), [_row(x) for x in rec.get("rows", [])],
                                  list(rec.get("rows", []))))
    return out


def names(r: RunResults) -> list[str]:
    return sorted({artifact_name(t.artifact) for t in tables(r)})


def dataframe(r: RunResults, artifact: str | None = None):
    """One row per (artifact, runtime, layer) as a pandas DataFrame."""
    import pandas as pd

    rows = []
    for t in tables(r, artifact):
        for rec in t.records:
            row = {"artifact": artifact_name(t.artifact), "runtime": t.result.runtime}
            for c in COLUMNS:
                v = rec.get(c)
                if c == "fused":
                    v = "+".join(v or [])
                elif v in ("inf", "-inf"):
                    v = float(v)
                row[c] = v
            rows.append(row)
    return pd.DataFrame(rows, columns=["artifact", "runtime", *COLUMNS])
