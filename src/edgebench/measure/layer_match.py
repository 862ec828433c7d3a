"""Which artifact tensor goes with which source layer (issue 31's match table).

The source side is a list of SourceNodes (a run's models.network.Network; for deploy, a user's
Keras layers or the ops of a float .tflite / .onnx): layers grouped the way converters fuse them
(a conv or dense layer with the BatchNorm and ReLU that follow it and read nothing else, an Add
with its ReLU; Flatten and inference-time Dropout change no value and join the layer before), so
each group is compared at its last layer's output, the tensor a fused op writes. The artifact
side is what a runtime lists (runtimes.base.LayerTensor): every op output that holds values
(layout ops, Quantize and Dequantize left out), with all the names around it (the op's, the
tensor's, its weights').

Matching, for each group, among the artifact's tensors of the same per-sample shape
(channels-last, or channels-first of the same dimensions):
1. by name: for a source that is a graph the artifact was converted from (a float .tflite or .onnx),
   the artifact's tensor of the same name; otherwise tensors whose names mention a layer of the group (a whole name segment equal to the
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

# Kinds of source layers (SourceNode.kind): a converter folds "bn" and "relu" into the op before them
# (a "conv", "dense", "add" or "bn"); "transparent" layers change no value (a flatten, dropout at
# inference) and join the layer before; the rest are their own comparison point.
_FOLDED = ("bn", "relu")
_HEADS = ("conv", "dense", "add", "bn")
# What an artifact's op is called, per kind of layer that heads a group (any runtime's spelling).
_FAMILY = {"conv": "conv", "dense": "fully|gemm|matmul", "add": "add", "pool": "pool", "gap": "mean|sum|pool"}
_KIND = {L.Conv2D: "conv", L.DepthwiseConv2D: "conv", L.Dense: "dense", L.Add: "add", L.BatchNorm: "bn",
         L.ReLU: "relu", L.ReLU6: "relu", L.Flatten: "transparent", L.Dropout: "transparent", L.MaxPool2D: "pool",
         L.AvgPool2D: "pool", L.GlobalAveragePooling: "gap"}


@dataclass(frozen=True)
class SourceNode:
    """One layer of a source model, whatever made it: an edgebench Network's node, a Keras layer,
    an op of a user's float .tflite or .onnx (deploy)."""

    name: str
    kind: str  # see _FOLDED / _HEADS / _FAMILY: conv, dense, add, bn, relu, transparent, skip, pool, gap, other
    inputs: tuple[str, ...]
    shape: tuple[int, ...]  # per sample, channels-last
    activation: bool = False  # the layer applies a ReLU itself
    exact: bool = False  # its name is a tensor name the artifact keeps as it is (a graph the artifact came from)

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "inputs": list(self.inputs), "shape": list(self.shape),
                "activation": self.activation, "exact": self.exact}

    @classmethod
    def from_dict(cls, d: dict) -> "SourceNode":
        return cls(d["name"], d["kind"], tuple(d["inputs"]), tuple(d["shape"]), d["activation"], d["exact"])


@dataclass(frozen=True)
class Group:
    """Source layers compared at one point: `output` is the last of `members` whose value counts."""

    output: str
    members: tuple[str, ...]
    shape: tuple[int, ...]  # per sample, channels-last
    activation: bool  # the group ends in a ReLU (its own or a folded one)
    family: str = ""  # a regular expression for the artifact ops that compute such a layer
    exact: bool = False  # matched by the artifact tensor's name being the output's, not by mention

    def same_kind(self, op: str) -> bool:
        return bool(self.family) and re.search(self.family, op, re.IGNORECASE) is not None


def network_nodes(net: Network) -> list[SourceNode]:
    return [SourceNode(n.layer.name, _KIND.get(type(n.layer), "other"), tuple(n.inputs), tuple(n.out_shape),
                       getattr(n.layer, "activation", None) in ("relu", "relu6")) for n in net.nodes]


def groups(net: Network) -> list[Group]:
    return groups_of(network_nodes(net))


def groups_of(nodes: list[SourceNode]) -> list[Group]:
    """The comparison points: a layer folds into the group of the layer it alone reads when that
    layer has no other reader (a BatchNorm or ReLU into its conv, dense, Add or BatchNorm; a
    transparent layer into any), whatever the order the model lists them in; "skip" layers (a
    padding a converter merges into the conv after it) are no point of their own and read through."""
    alias = {}
    for node in nodes:
        if node.kind == "skip" and len(node.inputs) == 1:
            alias[node.name] = alias.get(node.inputs[0], node.inputs[0])
    consumers: dict[str, int] = {}
    for node in nodes:
        for name in node.inputs:
            name = alias.get(name, name)
            consumers[name] = consumers.get(name, 0) + 1
    out: list[list] = []  # [output, members, shape, activation, head node]
    ends: dict[str, list] = {}  # a group's last member -> the group
    for node in nodes:
        if node.kind == "skip" and node.name in alias:
            continue
        inputs = tuple(alias.get(i, i) for i in node.inputs)
        prev = ends.get(inputs[0]) if len(inputs) == 1 and consumers.get(inputs[0], 0) == 1 else None
        if prev is not None and node.kind == "transparent":
            prev[1].append(node.name)  # compared where its value is: the group's output stays
            ends[node.name] = prev
            continue
        if prev is not None and node.kind in _FOLDED and prev[4].kind in _HEADS and not prev[3]:
            prev[0], prev[2] = node.name, tuple(node.shape)
            prev[1].append(node.name)
            prev[3] = node.kind == "relu"
            ends[node.name] = prev
            continue
        group = [node.name, [node.name], tuple(node.shape), node.activation, node]
        out.append(group)
        ends[node.name] = group
    return [Group(o, tuple(m), s, a, _FAMILY.get(head.kind, ""), head.exact) for o, m, s, a, head in out]


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
            if g.exact:  # a graph the artifact was made from: its tensor names are the artifact's
                if t.key not in taken and g.output in (t.name, t.key) and _fits(g.shape, t.shape):
                    best = ((True, 0, t.order), t)
                continue
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
