"""Per-layer error of an artifact against its source model (issue 31's comparison, NumPy only).

One function compares one layer: the source model's activations (float) against the matching
tensor an artifact's runtime produced on the same inputs (dequantized where it is int8), as

- SQNR in dB: 10 log10(sum(ref^2) / sum((ref - got)^2)), the signal-to-quantization-noise ratio
  (inf when identical; both sums over every element of every sample), and the same per channel
  (the last axis), of which the median: a whole-tensor SQNR is dominated by the largest channel,
  so a layer whose one outlier channel flattened all the others still scores well on it;
- cosine similarity of the flattened tensors (per sample, then the mean; 1.0 when identical);
- the largest absolute error in units of the tensor's quantization step (int8 tensors: how many
  steps the worst element is off; one step is the best a correct int8 kernel can promise) or, for
  float tensors, relative to the largest magnitude of the reference tensor.

`compare_layers` applies it along a match table (which source layer goes with which artifact
tensor, and how the pair was matched) and flags the first layer where the error jumps: its median
channel SQNR at least JUMP_DB below the previous matched layer's (for the first layer: below the
median of all layers). A per-tensor int8 layer whose activations carry one outlier channel is the classic case:
every other channel collapses into a few steps and the layer's SQNR falls by tens of dB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

JUMP_DB = 10.0  # a drop of SQNR this large from the layer before is "where the error appears"


@dataclass(frozen=True)
class Match:
    """One source layer and the artifact tensor compared with it."""

    layer: str  # the source model's layer (its output)
    tensor: str | None  # the artifact's tensor; None: not matched
    how: str  # "name", "position" (graph order and shape) or "unmatched"
    why: str = ""  # for "unmatched": why no tensor was found
    fused: tuple[str, ...] = ()  # source layers folded into this one by the converter (conv + BN + ReLU)


def _sqnr(signal: float, noise: float) -> float:
    if noise == 0.0:
        return math.inf
    return -math.inf if signal == 0.0 else 10.0 * math.log10(signal / noise)


def tensor_error(ref: np.ndarray, got: np.ndarray, step: float | None = None) -> dict:
    """The figures for one layer; ref and got: (samples, ...) of the same shape (got dequantized)."""
    ref = np.asarray(ref, np.float64)
    got = np.asarray(got, np.float64)
    if ref.shape != got.shape:
        raise ValueError(f"shapes differ: source {list(ref.shape)}, artifact {list(got.shape)}")
    err = got - ref
    sqnr = _sqnr(float(np.sum(ref * ref)), float(np.sum(err * err)))
    channels = ref.shape[-1] if ref.ndim >= 2 else 1
    per_channel = [_sqnr(float(np.sum(ref[..., c] ** 2)), float(np.sum(err[..., c] ** 2))) for c in range(channels)
                   if np.any(ref[..., c]) or np.any(err[..., c])] if ref.ndim >= 2 else [sqnr]
    a, b = ref.reshape(len(ref), -1), got.reshape(len(got), -1)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    same = np.all(a == b, axis=1)
    cos = np.where(norms > 0, np.sum(a * b, axis=1) / np.where(norms > 0, norms, 1.0), np.where(same, 1.0, 0.0))
    worst = float(np.max(np.abs(err))) if err.size else 0.0
    out = {"sqnr_db": sqnr, "channel_sqnr_db": float(np.median(per_channel)) if per_channel else math.inf,
           "worst_channel_sqnr_db": min(per_channel) if per_channel else math.inf,
           "cosine": float(np.mean(cos)), "max_abs_error": worst, "samples": int(len(ref))}
    if step:
        out["max_error_steps"] = float(worst / step)
        out["step"] = float(step)
    else:
        scale = float(np.max(np.abs(ref))) if ref.size else 0.0
        out["max_relative_error"] = worst / scale if scale > 0 else (0.0 if worst == 0 else math.inf)
    return out


def first_jump(sqnrs: list[float], jump_db: float = JUMP_DB) -> int | None:
    """Index of the first layer whose SQNR is at least jump_db below the previous layer's (the
    first layer: below the median of all of them); None when the error never jumps."""
    finite = [s for s in sqnrs if s is not None and not math.isnan(s)]
    if not finite:
        return None
    median = float(np.median([min(s, 1e9) for s in finite]))
    previous = None
    for i, s in enumerate(sqnrs):
        if s is None or math.isnan(s):
            continue
        base = median if previous is None else previous
        if base - s >= jump_db:
            return i
        previous = s
    return None


def compare_layers(source: dict[str, np.ndarray], artifact: dict[str, np.ndarray], matches: list[Match],
                   steps: dict[str, float] | None = None) -> list[dict]:
    """One row per match, in the source model's layer order: the pair, how it was matched, what was
    fused, and tensor_error's figures (none for an unmatched layer); the first layer where the error
    jumps carries first_jump=True."""
    steps = steps or {}
    rows = []
    for m in matches:
        row = {"layer": m.layer, "tensor": m.tensor, "matched_by": m.how, "fused": list(m.fused)}
        if m.tensor is None or m.layer not in source or m.tensor not in artifact:
            row.update(matched_by="unmatched", why=m.why or "no tensor of the artifact matches this layer")
        else:
            row.update(tensor_error(source[m.layer], artifact[m.tensor], steps.get(m.tensor)))
        rows.append(row)
    scored = [i for i, r in enumerate(rows) if "sqnr_db" in r]
    jump = first_jump([rows[i]["channel_sqnr_db"] for i in scored])
    for i, r in enumerate(rows):
        r["first_jump"] = jump is not None and i == scored[jump]
    return rows
