"""Framework adapters, imported lazily so a missing framework is a skipped row, not a crash."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class FrameworkInfo:
    name: str
    adapter: str  # "module:Class", imported only in the child process that trains
    modules: tuple[str, ...]  # top-level modules that must be importable
    extra: str

    @property
    def install_hint(self) -> str:
        return f"pip install 'edgebench[{self.extra}]'"

    def missing_module(self) -> str | None:
        for mod in self.modules:
            if importlib.util.find_spec(mod) is None:
                return mod
        return None

    def load(self):
        module, cls = self.adapter.split(":")
        return getattr(importlib.import_module(module), cls)


REGISTRY: dict[str, FrameworkInfo] = {
    "tensorflow": FrameworkInfo("tensorflow", "edgebench.frameworks.tensorflow:TensorFlowAdapter",
                                ("tensorflow", "keras"), "tf"),
    "pytorch": FrameworkInfo("pytorch", "edgebench.frameworks.pytorch:PyTorchAdapter", ("torch",), "torch"),
    "jax": FrameworkInfo("jax", "edgebench.frameworks.jax:JaxAdapter", ("jax", "flax", "optax"), "jax"),
}
