"""Framework adapters, imported lazily so a missing framework is a skipped row, not a crash."""

from __future__ import annotations

from edgebench.registry import Plugin

REGISTRY: dict[str, Plugin] = {
    "tensorflow": Plugin("tensorflow", "edgebench.frameworks.tensorflow:TensorFlowAdapter",
                         ("tensorflow", "keras"), "tf"),
    "pytorch": Plugin("pytorch", "edgebench.frameworks.pytorch:PyTorchAdapter", ("torch",), "torch"),
    "jax": Plugin("jax", "edgebench.frameworks.jax:JaxAdapter", ("jax", "flax", "optax"), "jax"),
}
