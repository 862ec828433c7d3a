"""What every framework adapter provides. NumPy arrays are the only currency in and out. What a
framework can export is not the adapter's business: exporters/__init__.py registers it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np

from edgebench.config import OptimizerSpec
from edgebench.models.network import Network
from edgebench.models.weights import Weights


@dataclass
class EpochRecord:
    epoch: int
    loss: float
    accuracy: float
    time_s: float

    def to_dict(self) -> dict:
        return {"epoch": self.epoch, "loss": self.loss, "accuracy": self.accuracy, "time_s": self.time_s}


class FrameworkAdapter(Protocol):
    """Images arrive channels-last, shaped (N, *net.input_shape) float32 ((N, 784) for the MLP);
    weights in and out are models.weights.Weights in Keras' layouts ({layer: {"kernel", "bias",
    "gamma", "beta", "moving_mean", "moving_variance"}}). Each adapter converts layouts at its own
    edge, explicitly (HWIO <-> OIHW, NHWC <-> NCHW, depthwise (kh, kw, C, M) <-> (C*M, 1, kh, kw)),
    pads with the network's explicit pads (Node.layer.pads(in_shape)), flattens channels-last, and
    runs BatchNorm with the layer's momentum (weight of the old running value) and epsilon and a
    biased running variance."""

    name: str

    def __init__(self, threads: int) -> None: ...

    def build(self, net: Network, weights: Weights) -> Any: ...

    def load_data(self, x: np.ndarray, y: np.ndarray) -> Any:
        """The training set in the framework's own memory, once, before any timed epoch (a user
        loads the data once too). Each epoch then draws its batches from it by index."""

    def train(self, model: Any, data: Any, order: np.ndarray, batch_size: int,
              optimizer: OptimizerSpec, on_epoch: Callable[[EpochRecord], None],
              on_step: Callable[[int, Any], None] | None = None, compiled: bool = False) -> list[EpochRecord]:
        """on_step(global_step, model) after every step, only when given (twin mode, eager only).
        compiled: the framework's best-practice fast path instead of the typical user's loop."""

    def predict(self, model: Any, x: np.ndarray) -> np.ndarray: ...

    def get_weights(self, model: Any) -> Weights: ...

    def versions(self) -> dict[str, str]: ...


def batches(n: int, batch_size: int):
    """(start, stop) of each batch; the last one may be short, in every framework alike."""
    for start in range(0, n, batch_size):
        yield start, min(start + batch_size, n)
