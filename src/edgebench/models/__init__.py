"""Models as an axis: framework-neutral layers (layers.py), a network with shapes and costs
(network.py), the built-in zoo (zoo.py), the user's own as TOML (toml_model.py), and initial
weights made once in NumPy (weights.py)."""

from __future__ import annotations

import inspect
from pathlib import Path

from edgebench.errors import ConfigError
from edgebench.models.layers import Shape
from edgebench.models.network import Network
from edgebench.models.zoo import BUILTIN

__all__ = ["BUILTIN", "Network", "build", "is_file"]


def is_file(model: str) -> bool:
    return model.endswith(".toml") or "/" in model


def build(model: str, input_shape: Shape, num_classes: int, hidden: tuple[int, ...] = (64,)) -> Network:
    """A built-in model by name, or the user's TOML file, for this data set's images and classes.
    A layer that does not fit raises a one-line ConfigError naming it and both shapes. A
    grey-scale image shape (H, W) gets its channel axis: (H, W, 1), channels-last."""
    input_shape = tuple(input_shape) + ((1,) if len(input_shape) == 2 else ())
    if is_file(model):
        from edgebench.models import toml_model

        name, layers = toml_model.load(Path(model))
        try:
            return Network(name, layers, tuple(input_shape), num_classes)
        except ConfigError as e:
            raise ConfigError(f"--model {model}: {e}") from None
    if model not in BUILTIN:
        raise ConfigError(f"unknown --model '{model}'; built-in: {', '.join(BUILTIN)}, or a .toml file")
    make = BUILTIN[model]
    if "hidden" in inspect.signature(make).parameters:  # a zoo entry sized by --hidden (the MLP)
        return make(input_shape, num_classes, hidden)
    return make(input_shape, num_classes)
