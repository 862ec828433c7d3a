"""Exporters: small per-format functions that import their converter only when called.

Each takes (model, path, ctx) and writes one file. Derived variants (quantized copies of a float
export) find their source in ctx.produced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgebench.config import ModelSpec


@dataclass
class ExportContext:
    spec: ModelSpec
    calibration: np.ndarray  # float32 samples drawn from the training set, shared by all frameworks
    produced: dict[tuple[str, str], Path] = field(default_factory=dict)

    def source(self, fmt: str, precision: str = "float32") -> Path:
        path = self.produced.get((fmt, precision))
        if path is None:
            raise RuntimeError(f"needs the {fmt} {precision} export, which failed or was not made")
        return path
