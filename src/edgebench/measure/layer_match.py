"""Which artifact tensor goes with which source layer (issue 31's match table).

The source side is a models.network.Network: its layers grouped the way converters fuse them
(a conv or dense layer with the BatchNorm and ReLU that follow it and read nothing else, an Add
with its ReLU; Flatten and inference-time Dropout change no value and join the layer before), so
each group is compared at its last layer's output, the tensor a fused op writes. The artifact
side is what a runtime lists (runtimes.base.LayerTensor): every op output that holds values
(layout ops, Quantize and Dequantize left out), with all the names around it (the op's, the
tensor's, its weights').

Matching, for each group, among the artifact's tensors of the same per-sample shape
(channels-last, or channels-first of the same dimensions):
1. by name: tensors whose names mention a layer of the group (a whole name segment equal to the
   layer's name, with a converter's "_1" suffix or a "Conv2d_" prefix allowed); the group's last
   layer named beats an earlier one, a tensor naming fewer other groups beats one naming more, and
   of a chain of ops that all name the layer (ConvInteger -> Mul -> Add) the last one wins;
2. by position: otherwise the first tensor of that shape, in graph order, that no group took,
   of an op of the layer's kind (an Add for an Add) where there is one.
A pair whose artifact tensor is a scaled copy of the layer's output (a converter that moved a
mean's 1/N into the next layer, say) is no comparison of errors: `check_scale` unmatches it and
says so.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from edgebench.measure.layer_error import Match
from edgebench.models import layers as L
from edgebench.models.network import Network

# Layers a converter folds into the op before them.
_FOLDED = (L.BatchNorm, L.ReLU, L.ReLU6)
# Layers that change no value (a reshape; dropout at inference).
_TRANSPARENT = (L.Flatten, L.Dropout)
# Heads of a group the folded layers join.
_HEADS = (L.Conv2D, L.DepthwiseConv2D, L.Dense, L.Add, L.BatchNorm)


# What an artifact's op is called, per kind of layer that heads a group (any runtime's spelling).
_FAMILY = {L.Conv2D: "conv", L.DepthwiseConv2D: "conv", L.Dense: "fully|gemm|matmul", L.Add: "add",
           L.MaxPool2D: "pool", L.AvgPool2D: "pool", L.GlobalAveragePooling: "mean|sum|pool"}


@dataclass(frozen=True)
class Group:
    """Source layers compared at one point: `output` is the last of `members` whose value counts."""

    output: str
    members: tuple[str, ...]
    shape: tuple[int, ...]  # per sample, channels-last
    activation: bool  # the group ends in a ReLU (its own or a folded one)
    family: str = ""  # a regular expression for the artifact ops that compute such a layer

    def same_kind(self, op: str) -> bool:
        return bool(self.family) and re.search(self.family, op, re.IGNORECASE) is not None


def groups(net: Network) -> list[Group]:
    consumers: dict[str, int] = {}
    for node in net.nodes:
        for name in node.inputs:
            consumers[name] = consumers.get(name, 0) + 1
    out: list[list] = []  # [output, members, shape, activation, head layer]
    for node in net.nodes:
        layer = node.layer
        prev = out[-1] if out else None
        joins = (prev is not None and node.inputs == (prev[1][-1],) and consumers.get(prev[1][-1], 0) == 1)
        if joins and isinstance(layer, _TRANSPARENT):
            prev[1].append(layer.name)  # compared where its value is: the group's output stays
            continue
        if joins and isinstance(layer, _FOLDED) and isinstance(prev[4], _HEADS) and not prev[3]:
            prev[0], prev[2] = layer.name, tuple(node.out_shape)
            prev[1].append(layer.name)
            prev[3] = isinstance(layer, (L.ReLU, L.ReLU6))
            continue
        act = getattr(layer, "activation", None) in ("relu", "relu6")
        out.append([layer.name, [layer.name], tuple(node.out_shape), act, layer])
    return [Group(o, tuple(m), s, a, _FAMILY.get(type(head), "")) for o, m, s, a, head in out]


def _segments(text: str) -> set[str]:
    return {s for s in re.split(r"[^A-Za-z0-9_]+", text) if s}


def mentions(text: str, layer: str) -> bool:
    """Whether a tensor's names mention a layer: a name segment equal to it, with a "_N" suffix
    (Keras' resnet8_1/stem_1/...) or ending in "_<layer>" (litert-torch's Conv2d_stem)."""
    pattern = re.compile(rf"(?:.*_)?{re.escape(layer)}(?:_\d+)?")
    return any(pattern.fullmatch(s) for s in _segments(text))


def _fits(shape: tuple[int, ...], tensor_shape: tuple[int, ...]) -> bool:
    if tuple(tensor_shape) == tuple(shape):
        return True
    return len(shape) == 3 and tuple(tensor_shape) == (shape[2], shape[0], shape[1])


def match(gs: list[Group], tensors: list) -> list[Match]:
    """One Match per group (see the module's docstring); tensors: runtimes.base.LayerTensor, in graph order."""
    taken: set[str] = set()
    found: dict[str, tuple[str, str]] = {}
    named = {t.key: {g.output for g in gs if any(mentions(t.text, m) for m in g.members)} for t in tensors}
    for g in gs:
        best = None
        for t in tensors:
            if t.key in taken or not _fits(g.shape, t.shape) or g.output not in named[t.key]:
                continue
            score = (mentions(t.text, g.output), -len(named[t.key]), t.order)
            if best is None or score > best[0]:
                best = (score, t)
        if best is not None:
            taken.add(best[1].key)
            found[g.output] = (best[1].key, "name")
    for g in gs:
        if g.output in found:
            continue
        free = [t for t in tensors if t.key not in taken and _fits(g.shape, t.shape)]
        t = next((t for t in free if g.same_kind(t.op)), free[0] if free else None)
        if t is not None:
            taken.add(t.key)
            found[g.output] = (t.key, "position")
    out = []
    for g in gs:
        fused = g.members if len(g.members) > 1 else ()
        if g.output in found:
            key, how = found[g.output]
            out.append(Match(g.output, key, how, fused=fused))
        else:
            out.append(Match(g.output, None, "unmatched", why=f"no tensor of shape {list(g.shape)} left in the "
                             "artifact (the converter merged or reshaped it)", fused=fused))
    return out


def check_scale(ref: np.ndarray, got: np.ndarray) -> str:
    """Why a pair is no comparison ("" when it is one): the artifact's tensor is the layer's output
    times a constant far from 1 (least-squares gain outside [1/1.5, 1.5], the shapes alike)."""
    a, b = np.asarray(ref, np.float64).ravel(), np.asarray(got, np.float64).ravel()
    bb = float(np.dot(b, b))
    if bb == 0.0 or not np.any(a):
        return ""
    gain = float(np.dot(a, b)) / bb  # ref ~ gain * got
    if gain > 0 and abs(math.log(gain)) > math.log(1.5):
        cos = float(np.dot(a, b)) / math.sqrt(float(np.dot(a, a)) * bb)
        if cos > 0.9:
            return (f"the artifact's tensor is this layer's output times {1 / gain:.4g} (cosine {cos:.3f}): "
                    "the converter moved a constant factor into a later op")
    return ""
