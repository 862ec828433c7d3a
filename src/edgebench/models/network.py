"""A network: its layers, the input it takes, and everything that follows from them (each
layer's input and output shape, parameters, MACs, training FLOPs). Built once, checked once:
a layer that does not fit names itself and both shapes."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import cached_property

from edgebench.errors import ConfigError, UserError
from edgebench.models.layers import TYPES, Add, BatchNorm, Layer, Shape, _fmt


@dataclass(frozen=True)
class Node:
    """One layer in place: where its inputs come from and the shapes in and out."""

    layer: Layer
    inputs: tuple[str, ...]  # names of the layers it reads ("input" for the image)
    in_shape: Shape
    out_shape: Shape

    @property
    def params(self) -> dict[str, Shape]:
        return self.layer.params(self.in_shape)

    @property
    def parameter_count(self) -> int:
        return sum(math.prod(s) for s in self.params.values())

    @property
    def macs(self) -> int:
        return self.layer.macs(self.in_shape)


@dataclass(frozen=True)
class Network:
    name: str
    layers: tuple[Layer, ...]
    input_shape: Shape  # per sample, channels-last
    num_classes: int

    def __post_init__(self):
        _ = self.nodes  # checks the whole graph now, so a bad model never reaches a framework

    @cached_property
    def nodes(self) -> tuple[Node, ...]:
        if not self.layers:
            raise ConfigError(f"model '{self.name}' has no layers")
        shapes: dict[str, Shape] = {"input": tuple(self.input_shape)}
        nodes, prev = [], "input"
        for layer in self.layers:
            if layer.name in shapes:
                raise ConfigError(f"model '{self.name}': two layers are named '{layer.name}'"
                                  if layer.name != "input" else "a layer may not be named 'input'")
            src = layer.input or prev
            if src not in shapes:
                raise ConfigError(f"layer '{layer.name}': input '{src}' is not a layer before it")
            inputs = (src,)
            if isinstance(layer, Add):
                if layer.other not in shapes:
                    raise ConfigError(f"layer '{layer.name}' (Add): '{layer.other}' is not a layer before it")
                if shapes[layer.other] != shapes[src]:
                    raise ConfigError(f"layer '{layer.name}' (Add): '{src}' gives {_fmt(shapes[src])} but "
                                      f"'{layer.other}' gives {_fmt(shapes[layer.other])}; they must match")
                inputs = (src, layer.other)
            out = layer.output_shape(shapes[src])
            nodes.append(Node(layer, inputs, shapes[src], out))
            shapes[layer.name] = out
            prev = layer.name
        if nodes[-1].out_shape != (self.num_classes,):
            last = nodes[-1].layer
            raise ConfigError(f"layer '{last.name}' ({last.type}) is the last layer and gives "
                              f"{_fmt(nodes[-1].out_shape)}, but the data set has {self.num_classes} classes: "
                              f"end with a Dense of {self.num_classes} units")
        return tuple(nodes)

    @property
    def input_size(self) -> int:
        return math.prod(self.input_shape)

    @property
    def parameter_count(self) -> int:
        return sum(n.parameter_count for n in self.nodes)

    @property
    def trainable_parameter_count(self) -> int:
        """BatchNorm's running mean and variance are parameters, not trained ones."""
        return self.parameter_count - sum(2 * n.out_shape[-1] for n in self.nodes if isinstance(n.layer, BatchNorm))

    @property
    def macs_per_sample(self) -> int:
        return sum(n.macs for n in self.nodes)

    @property
    def deployed_parameter_count(self) -> int:
        """What a converter's graph holds: BatchNorm after a conv or dense is folded into its kernel
        and bias (a bias is added if the layer had none)."""
        count = 0
        for i, n in enumerate(self.nodes):
            if isinstance(n.layer, BatchNorm):
                before = self._producer(n.inputs[0])
                if before is not None and before.layer.weighted and not before.layer.use_bias:
                    count += n.out_shape[-1]  # the folded bias
                elif before is None or not before.layer.weighted:
                    count += n.parameter_count // 2  # an unfused scale and shift
                continue
            count += n.parameter_count
        return count

    def _producer(self, name: str) -> Node | None:
        return next((n for n in self.nodes if n.layer.name == name), None)

    def train_flops_per_sample(self) -> dict:
        """Multiply-accumulate FLOPs (2 per MAC) of one training sample: forward for every layer,
        weight gradients for every weighted layer, input gradients for those with a weighted layer
        upstream (nothing needs the image's gradient). Element-wise work (bias, BatchNorm, activations,
        pooling) and the optimizer are left out."""
        # A layer needs its input's gradient only if a weighted layer lies upstream of it.
        upstream = {"input": False}
        for n in self.nodes:
            upstream[n.layer.name] = n.layer.weighted or any(upstream[i] for i in n.inputs)
        forward = 2 * self.macs_per_sample
        weight_grad = 2 * sum(n.macs for n in self.nodes if n.layer.weighted)
        input_grad = 2 * sum(n.macs for n in self.nodes
                             if n.layer.weighted and any(upstream[i] for i in n.inputs))
        return {"forward": forward, "weight_grad": weight_grad, "input_grad": input_grad,
                "total": forward + weight_grad + input_grad}

    def layer_table(self) -> list[dict]:
        """Per layer: type, output shape, parameters, MACs, share of the total MACs."""
        total = self.macs_per_sample or 1
        return [{"name": n.layer.name, "type": n.layer.type, "inputs": list(n.inputs), "output_shape": list(n.out_shape),
                 "parameters": n.parameter_count, "macs": n.macs, "macs_share": n.macs / total} for n in self.nodes]

    def describe(self) -> dict:
        """The model as results.json records it."""
        return {"name": self.name, "input_shape": list(self.input_shape), "num_classes": self.num_classes,
                "layers": [n.layer.describe() | {"output_shape": list(n.out_shape)} for n in self.nodes],
                "parameter_count": self.parameter_count, "trainable_parameter_count": self.trainable_parameter_count,
                "deployed_parameter_count": self.deployed_parameter_count, "macs_per_sample": self.macs_per_sample}


@dataclass(frozen=True)
class ModelShape:
    """What deployment needs of a model it did not build (`edgebench deploy`): the channels-last
    image it takes, and its weighted layers and largest fan-in, from which tolerances follow.
    Read off the model file by sources/; described as {"kind": "shape", ...}."""

    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    weighted_layers: int
    max_fan_in: int
    parameter_count: int | None = None

    def describe(self) -> dict:
        return {"kind": "shape", "name": self.name, "input_shape": list(self.input_shape),
                "num_classes": self.num_classes, "weighted_layers": self.weighted_layers,
                "max_fan_in": self.max_fan_in, "parameter_count": self.parameter_count}


def model_of(d: dict, source: str = "network description") -> "Network | ModelShape":
    """A task's model: a Network from its description, or a ModelShape for a user's model file."""
    if isinstance(d, dict) and d.get("kind") == "shape":
        return ModelShape(str(d["name"]), tuple(int(x) for x in d["input_shape"]), int(d["num_classes"]),
                          int(d["weighted_layers"]), int(d["max_fan_in"]), d.get("parameter_count"))
    return from_description(d, source)


def from_description(d: dict, source: str = "network description") -> Network:
    """The Network that Network.describe() described: each layer rebuilt by its own class
    (models.layers.TYPES), so every value is checked as a model file's would be; recorded output
    shapes must match the rebuilt ones. Anything malformed: a one-line ValueError naming `source`."""
    def bad(why: str):
        return ValueError(f"{source}: malformed network description ({why})")

    if not isinstance(d, dict):
        raise bad(f"expected an object, got {type(d).__name__}")
    for key, kind in (("name", str), ("input_shape", list), ("num_classes", int), ("layers", list)):
        if not isinstance(d.get(key), kind) or isinstance(d.get(key), bool):
            raise bad(f"'{key}' missing or not a {kind.__name__}")
    shape = d["input_shape"]
    if not shape or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        raise bad(f"input_shape {shape!r} is not a list of positive integers")
    if not d["layers"]:
        raise bad("no layers")
    layers = []
    for i, row in enumerate(d["layers"], start=1):
        if not isinstance(row, dict) or not isinstance(row.get("type"), str) or row["type"] not in TYPES:
            raise bad(f"layer {i}: unknown or missing type {row.get('type') if isinstance(row, dict) else row!r}")
        cls = TYPES[row["type"]]
        known = {f.name for f in dataclasses.fields(cls)}
        args = {k: v for k, v in row.items() if k not in ("type", "output_shape")}
        unknown = sorted(set(args) - known)
        if unknown or not isinstance(args.get("name"), str):
            raise bad(f"layer {i} ({row['type']}): unknown field(s) {', '.join(unknown)}" if unknown
                      else f"layer {i} ({row['type']}): no name")
        for k in ("kernel", "stride", "pool"):  # JSON lists back to pairs
            if isinstance(args.get(k), list):
                args[k] = tuple(args[k])
        try:
            layers.append(cls(**args))
        except (UserError, TypeError, ValueError) as e:
            raise bad(f"layer {i}: {_one_line(e)}") from None
    try:
        net = Network(d["name"], tuple(layers), tuple(shape), d["num_classes"])
    except (UserError, TypeError, ValueError) as e:
        raise bad(_one_line(e)) from None
    for row, node in zip(d["layers"], net.nodes):
        if "output_shape" in row and row["output_shape"] != list(node.out_shape):
            raise bad(f"layer '{node.layer.name}' records output {row['output_shape']} but gives "
                      f"{list(node.out_shape)}")
    return net


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:300]
